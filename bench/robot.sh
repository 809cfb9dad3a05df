#!/bin/bash
# The GnuPG shell robot reference (issue 10): what a procmail robot does per
# message, one gpg --verify of the request and one gpg --clearsign of the
# reply, sequentially. Lines of $1: "pgpmime <sig> <data>" or "inline <text>"
# (the MIME splitting and transfer decoding were done beforehand, untimed, so
# the robot is timed on its gpg work alone). Replies go to files in $2.
# GNUPGHOME holds the signers' public keys and the robot's key $ROBOT_KEY.
set -u
list=$1
out=$2
n=0
bad=0
while read -r kind a b; do
  n=$((n + 1))
  if [ "$kind" = pgpmime ]; then
    gpg --batch --no-tty -q --verify "$a" "$b" 2>/dev/null || bad=$((bad + 1))
  else
    gpg --batch --no-tty -q --verify "$a" 2>/dev/null || bad=$((bad + 1))
  fi
  printf 'Status: found\n\nYour request was received and its signature checked.\n' \
    | gpg --batch --no-tty -q --pinentry-mode loopback --passphrase '' -u "$ROBOT_KEY" --clearsign > "$out/$n.asc" || bad=$((bad + 1))
done < "$list"
echo "$n $bad"
