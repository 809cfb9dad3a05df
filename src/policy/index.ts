/**
 * The one policy module. Verifiers (src/pgp/, src/mail/verify-mail.ts, src/pki/)
 * report facts; everything that turns facts into a verdict with a code lives
 * under src/policy/ and is imported from here.
 */
export * from './codes.js';
export * from './settings.js';
export * from './openpgp.js';
export * from './time.js';
export * from './x509.js';
