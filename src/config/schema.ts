/**
 * The configuration schema. Every object is strict: a key the schema does not
 * know is an error that names the key (a typo such as `treshold` must never be
 * silently ignored, as openpgp.js does for its own config). Defaults live
 * here and in src/limits.ts / src/policy/; config/example.yaml documents
 * every key, and config/schema.json is generated from this file
 * (`ztrust-bot config-schema`).
 *
 * Secrets are never values in this file: only the NAME of an environment
 * variable (`...Env`) or the PATH of a file (`...File`) that holds them.
 */
import { z } from 'zod';
import { DEFAULT_LIMITS, MAX_LOG_ENTRY_BYTES } from '../limits.js';
import { DATA_NAMES } from '../datadir.js';
import { STORE_DRIVERS } from '../store/drivers.js';
import { DEFAULT_CRYPTO_POLICY, HASH_NAMES, type HashName } from '../policy/index.js';

const secretRef = {
  passwordEnv: z.string().min(1).optional().describe('name of an environment variable holding the password'),
  passwordFile: z.string().min(1).optional().describe('path of a file holding the password (first line)'),
};

const tls = z.strictObject({
  rejectUnauthorized: z.boolean().default(true).describe('verify the server certificate (never turn off in production)'),
  caFile: z.string().optional().describe('PEM file with extra CA certificates to trust'),
  starttls: z.boolean().default(true).describe('for imap:// and smtp://: upgrade with STARTTLS when offered, and require it unless the host is loopback'),
}).prefault({});

const fingerprint = z.string().regex(/^(0x)?[0-9A-Fa-f]{40}$/, 'must be a 40-hex-digit OpenPGP v4 fingerprint')
  .transform((s) => s.replace(/^0x/, '').toUpperCase());

const signingStyle = z.enum(['pgpmime', 'inline']);

export const configSchema = z.strictObject({
  bot: z.strictObject({
    address: z.email().describe("the bot's own address: replies come from it; mail from it is never answered"),
    name: z.string().min(1).default('ztrust-bot'),
    keyFile: z.string().default(DATA_NAMES.botKey).describe("armoured private key, relative to dataDir"),
    keyPassphraseEnv: z.string().optional(),
    keyPassphraseFile: z.string().optional().describe('relative to dataDir unless absolute'),
    loopHeader: z.string().default('X-Ztrust-Loop').describe('header the bot puts on all its mail and refuses to answer'),
  }),
  dataDir: z.string().default('./data').describe('relative to the config file unless absolute'),
  store: z.strictObject({
    // One value today; a second backend (PostgreSQL) is added to STORE_DRIVERS
    // once it passes test/unit/store-contract.ts.
    driver: z.enum(STORE_DRIVERS, { error: (i) => `unknown store driver ${JSON.stringify(i.input)}; one of: ${STORE_DRIVERS.join(', ')}` })
      .default('sqlite').describe('the state store backend: sqlite keeps <dataDir>/state.db'),
  }).prefault({}),
  mailbox: z.strictObject({
    url: z.string().regex(/^(imaps?:\/\/|maildir:)/, 'must start with imap://, imaps:// or maildir:'),
    ...secretRef,
    tls,
    pollSeconds: z.number().int().min(5).default(60).describe('safety poll interval beside IMAP IDLE'),
    checkMs: z.number().int().min(20).max(60_000).optional()
      .describe('ask the server for new mail (NOOP) every this many milliseconds instead of waiting in IMAP IDLE: for answers within 100 ms from a local server (Dovecot reports new mail to IDLE only 500 ms after it arrives)'),
    processedKeyword: z.string().default('$ZtrustProcessed').describe('IMAP keyword set on processed mail when the server allows it'),
  }),
  outbox: z.strictObject({
    url: z.string().regex(/^(smtps?:\/\/|dir:)/, 'must start with smtp://, smtps:// or dir:'),
    user: z.string().optional(),
    ...secretRef,
    tls,
    envelopeFrom: z.string().optional().describe('envelope sender (VERP-style bounce address); defaults to bot.address'),
    attempts: z.number().int().min(1).max(50).default(8),
    backoffSeconds: z.number().min(0.1).default(5).describe('first retry delay; doubles each attempt'),
  }),
  queue: z.strictObject({
    redisUrl: z.string().regex(/^rediss?:\/\//).nullable().default(null).describe('null: start an embedded redis-server in dataDir'),
    redisServer: z.string().default('redis-server').describe('binary used for the embedded Redis'),
    prefix: z.string().default('ztrust'),
    inboundConcurrency: z.number().int().min(1).max(64).default(16),
    outboundConcurrency: z.number().int().min(1).max(64).default(8),
    verifyThreads: z.number().int().min(0).max(16).optional().describe('threads that check request signatures beside the main thread (0: the main thread checks them); by default one per core but one, at most 4'),
    retryFailedSeconds: z.number().min(1).max(86400).default(300).describe('how often `run` retries work that ran out of attempts (from the store: unanswered messages, unsent replies, queued changes)'),
  }).prefault({}),
  maintainers: z.array(fingerprint).default([]),
  threshold: z.number().int().min(1).default(2),
  tickets: z.strictObject({
    prefix: z.string().regex(/^[A-Z][A-Z0-9]{0,7}-$/).default('ZT-'),
    expireDays: z.number().min(1).default(14),
  }).prefault({}),
  lists: z.array(z.strictObject({
    listId: z.string().min(1).describe('the List-Id value, e.g. linux-390.listserv.example.org'),
    address: z.email().optional().describe('the posting address; digests go here when postDigests is true'),
    signing: signingStyle.default('inline').describe('how digests posted to this list are signed'),
    postDigests: z.boolean().default(false),
  })).default([]),
  replies: z.strictObject({
    signing: signingStyle.default('pgpmime').describe('direct replies: PGP/MIME (default) or inline cleartext'),
  }).prefault({}),
  policy: z.strictObject({
    minCertifications: z.number().int().min(0).default(DEFAULT_CRYPTO_POLICY.minCertifications),
    minRsaBits: z.number().int().min(1024).default(DEFAULT_CRYPTO_POLICY.minRsaBits),
    warnRsaBits: z.number().int().min(1024).default(DEFAULT_CRYPTO_POLICY.warnRsaBits),
    // The names of src/policy/'s hash registry, so the config and the verifier can never spell one differently.
    rejectHashes: z.array(z.enum(HASH_NAMES)).default([...DEFAULT_CRYPTO_POLICY.rejectHashes] as HashName[])
      .describe(`hash algorithms refused on new signatures (${HASH_NAMES.join(', ')})`),
    maxClockSkewSeconds: z.number().int().min(0).default(DEFAULT_CRYPTO_POLICY.maxClockSkewSeconds),
    maxSignatureAgeSeconds: z.number().int().min(60).default(DEFAULT_CRYPTO_POLICY.maxSignatureAgeSeconds),
  }).prefault({}),
  limits: z.strictObject({
    maxMessageBytes: z.number().int().min(1024).default(DEFAULT_LIMITS.maxMessageBytes),
    maxKeyBytes: z.number().int().min(1024).default(DEFAULT_LIMITS.maxKeyBytes),
    maxUserIds: z.number().int().min(1).default(DEFAULT_LIMITS.maxUserIds),
    maxCertifications: z.number().int().min(1).default(DEFAULT_LIMITS.maxCertifications),
    maxAttestLines: z.number().int().min(1).default(DEFAULT_LIMITS.maxAttestLines),
    maxDecompressedBytes: z.number().int().min(1024).default(DEFAULT_LIMITS.maxDecompressedBytes),
    maxRepliesPerSenderPerHour: z.number().int().min(1).default(DEFAULT_LIMITS.maxRepliesPerSenderPerHour),
    maxRepliesPerHour: z.number().int().min(1).default(DEFAULT_LIMITS.maxRepliesPerHour)
      .describe('direct replies per hour in all; over it, only requests signed by collection keys are answered'),
    maxLogEntryBytes: z.number().int().min(256).max(MAX_LOG_ENTRY_BYTES).default(DEFAULT_LIMITS.maxLogEntryBytes),
    maxMimeDepth: z.number().int().min(2).default(DEFAULT_LIMITS.maxMimeDepth),
    maxMimeParts: z.number().int().min(2).default(DEFAULT_LIMITS.maxMimeParts),
    maxCertBytes: z.number().int().min(1024).default(DEFAULT_LIMITS.maxCertBytes),
  }).prefault({}),
  digest: z.strictObject({
    schedule: z.string().default('0 8 * * 1').describe('cron syntax; default Mondays 08:00 UTC'),
    recipients: z.array(z.email()).default([]),
    sendEmpty: z.boolean().default(false),
    expiryWindowDays: z.number().int().min(1).default(30),
  }).prefault({}),
  log: z.strictObject({
    origin: z.string().min(1).default('ztrust.example.org/log').describe('C2SP checkpoint origin line'),
    keyFile: z.string().default(DATA_NAMES.logKey),
  }).prefault({}),
  root: z.strictObject({
    validityDays: z.number().int().min(7).max(3660).default(365).describe('how long a new trust root version is valid'),
    reminderDays: z.array(z.number().int().min(1).max(365)).default([30, 14, 3])
      .describe('days before the root expires when maintainers get a signed reminder'),
  }).prefault({}),
  logging: z.strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  }).prefault({}),
});

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
