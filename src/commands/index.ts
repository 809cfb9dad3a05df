/**
 * The table of implemented command handlers. A recognised command without a
 * handler gets a clear `Status: error` "not available yet" reply from the
 * dispatcher, never silence.
 */
import { helpHandler } from './help.js';
import { getKeyHandler } from './get-key.js';
import { revokeKeyHandler } from './revoke-key.js';
import { statusHandler } from './status.js';
import { submitCertHandler } from './submit-cert.js';
import { submitKeyHandler } from './submit-key.js';
import { submitSourceKeyHandler } from './submit-source-key.js';
import { addSourceHandler } from './add-source.js';
import { updateKeyHandler } from './update-key.js';
import { approveHandler, rejectHandler } from './vote.js';
import { subscribeHandler, unsubscribeHandler } from './subscribe.js';
import { confirmHandler } from './confirm.js';
import { attestHandler } from './attest.js';
import { verifyHandler } from './verify.js';
import { checkpointHandler } from './checkpoint.js';
import type { HandlerTable } from './types.js';
import { rootProposeHandler } from './root-propose.js';
import { unwatchHandler, watchHandler } from './watch.js';

export function defaultHandlers(): HandlerTable {
  return {
    HELP: helpHandler,
    'SUBMIT KEY': submitKeyHandler,
    'SUBMIT SOURCE KEY': submitSourceKeyHandler,
    'ADD SOURCE': addSourceHandler,
    'UPDATE KEY': updateKeyHandler,
    'REVOKE KEY': revokeKeyHandler,
    'SUBMIT CERT': submitCertHandler,
    STATUS: statusHandler,
    'GET KEY': getKeyHandler,
    APPROVE: approveHandler,
    REJECT: rejectHandler,
    SUBSCRIBE: subscribeHandler,
    UNSUBSCRIBE: unsubscribeHandler,
    CONFIRM: confirmHandler,
    ATTEST: attestHandler,
    VERIFY: verifyHandler,
    CHECKPOINT: checkpointHandler,
    'ROOT PROPOSE': rootProposeHandler,
    WATCH: watchHandler,
    UNWATCH: unwatchHandler,
  };
}
