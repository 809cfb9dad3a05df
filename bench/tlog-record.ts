/** The log record the tlog benchmarks append: a ~360-byte canonical attestation entry, unique per `i`. */
import type { LogEntry } from '../src/tlog/index.js';

export function benchRecord(i: number): LogEntry {
  return {
    type: 'attestation',
    subject: `sha256:${i.toString(16).padStart(64, '0')}`,
    name: `artifact-${i}.tar.gz`,
    signers: ['D4AB192964F76A7F8F8A9B357BD18320DEADE832'],
    approvers: ['8F8A9B357BD18320DEADE832D4AB192964F76A7F'],
    ticket: `T-${i}`,
    time: '2025-01-31T12:00:00Z',
    source: (i * 7919).toString(16).padStart(64, '0'),
  };
}
