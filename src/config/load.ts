/**
 * Loading the config file: YAML or JSON (JSON is YAML), validated by the
 * strict schema, with paths resolved against the config file's folder.
 * Secrets are read lazily by `readSecret`, so that they are never part of the
 * Config object that may be logged or printed.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ConfigError } from '../errors.js';
import { configSchema, type Config, type ConfigInput } from './schema.js';
import type { CryptoPolicy } from '../policy/index.js';
import { DEFAULT_CRYPTO_POLICY } from '../policy/index.js';

export interface LoadedConfig extends Config {
  /** Absolute path of the config file ('' when built in memory). */
  configPath: string;
  /** dataDir resolved to an absolute path. */
  dataDir: string;
}

function describeIssue(issue: { code: string; path: PropertyKey[]; message: string; keys?: string[] }): string {
  const where = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys' && issue.keys) {
    return issue.keys.map((k) => `unknown key "${where ? `${where}.${k}` : k}"`).join('; ');
  }
  return `${where || '(top level)'}: ${issue.message}`;
}

/** Validate an in-memory config object (used by the loader, init, demo and tests). */
export function parseConfig(input: unknown, baseDir: string, configPath = ''): LoadedConfig {
  const result = configSchema.safeParse(input);
  if (!result.success) {
    const unknown = result.error.issues.find((i) => i.code === 'unrecognized_keys');
    const text = result.error.issues.map((i) => describeIssue(i as never)).join('; ');
    throw new ConfigError(unknown ? 'CONFIG_UNKNOWN_KEY' : 'CONFIG_INVALID', `${configPath || 'config'}: ${text}`);
  }
  const cfg = result.data;
  const dataDir = path.resolve(baseDir, cfg.dataDir);
  const resolved: LoadedConfig = { ...cfg, configPath, dataDir };
  if (resolved.mailbox.url.startsWith('maildir:')) {
    resolved.mailbox = { ...resolved.mailbox, url: `maildir:${path.resolve(baseDir, resolved.mailbox.url.slice(8))}` };
  }
  if (resolved.outbox.url.startsWith('dir:')) {
    resolved.outbox = { ...resolved.outbox, url: `dir:${path.resolve(baseDir, resolved.outbox.url.slice(4))}` };
  }
  if (resolved.threshold > Math.max(1, resolved.maintainers.length) && resolved.maintainers.length > 0) {
    throw new ConfigError('CONFIG_INVALID', `threshold ${resolved.threshold} is larger than the number of maintainers (${resolved.maintainers.length})`);
  }
  return resolved;
}

export function loadConfig(file: string): LoadedConfig {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new ConfigError('CONFIG_NOT_FOUND', `cannot read config file ${abs}: ${(err as Error).message}`, { cause: err });
  }
  let input: unknown;
  try {
    input = YAML.parse(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    throw new ConfigError('CONFIG_PARSE', `${abs}: ${(err as Error).message}`, { cause: err });
  }
  return parseConfig(input ?? {}, path.dirname(abs), abs);
}

/** Default config file location: $ZTRUST_CONFIG, else ./ztrust.yaml. */
export function defaultConfigPath(): string {
  return process.env.ZTRUST_CONFIG ?? 'ztrust.yaml';
}

/**
 * Read a secret named by `<name>Env` / `<name>File`. Returns undefined when
 * neither is set. The value is never stored in the config object or logged.
 */
export function readSecret(ref: { env?: string; file?: string }, what: string, baseDir: string): string | undefined {
  if (ref.env) {
    const v = process.env[ref.env];
    if (v === undefined) throw new ConfigError('CONFIG_SECRET', `${what}: environment variable ${ref.env} is not set`);
    return v;
  }
  if (ref.file) {
    const p = path.resolve(baseDir, ref.file);
    try {
      return readFileSync(p, 'utf8').split(/\r?\n/)[0] ?? '';
    } catch (err) {
      throw new ConfigError('CONFIG_SECRET', `${what}: cannot read ${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return undefined;
}

export function cryptoPolicyOf(cfg: Config): CryptoPolicy {
  return {
    ...DEFAULT_CRYPTO_POLICY,
    minRsaBits: cfg.policy.minRsaBits,
    warnRsaBits: cfg.policy.warnRsaBits,
    rejectHashes: [...cfg.policy.rejectHashes],
    maxClockSkewSeconds: cfg.policy.maxClockSkewSeconds,
    maxSignatureAgeSeconds: cfg.policy.maxSignatureAgeSeconds,
    minCertifications: cfg.policy.minCertifications,
  };
}

export type { Config, ConfigInput };
