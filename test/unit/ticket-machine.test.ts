/**
 * The ticket state machine (src/tickets/ticket.ts transition()) is the one
 * that runs: every (state, event) pair has a pinned outcome, a refused event
 * writes nothing to a real store, and no module outside the machine and the
 * store builds a ticket update by hand.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TicketError } from '../../src/errors.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { NewTicket, TicketRow, TicketState, VoteRecord } from '../../src/store/types.js';
import { TICKET_EVENTS, TICKET_STATES, transition, type TicketEvent, type TicketEventKind } from '../../src/tickets/ticket.js';
import { sourceFiles } from './source-scan.js';

const CREATED = '2025-01-01T00:00:00.000Z';
const EXPIRES = '2025-01-15T00:00:00.000Z';
const BEFORE = '2025-01-10T00:00:00.000Z';
const AFTER = '2025-01-20T00:00:00.000Z';

function row(state: TicketState, version = 3): TicketRow {
  return {
    id: 'ZT-000042', kind: 'add-key', subject: 'A'.repeat(40), submitter: 'A'.repeat(40), requester: 's@example.org', parentMessageId: '<p@x>',
    sourceDigest: 'd'.repeat(64), content: 'ticket\n', digest: 'e'.repeat(64), payload: '{}', createdAt: CREATED, expiresAt: EXPIRES,
    spoolKey: null, state, version, updatedAt: CREATED, closedReason: null,
  };
}
const vote = (v: 'approve' | 'reject', at = BEFORE, ticketId = 'ZT-000042'): VoteRecord =>
  ({ ticketId, voter: 'M1', vote: v, digest: 'e'.repeat(64), reason: v === 'reject' ? 'not them' : null, spoolKey: null, at });

/** Each event as the callers raise it: votes before the expiry, the sweep after it. */
const EVENT: Record<TicketEventKind, TicketEvent> = {
  vote: { kind: 'vote', vote: vote('approve') },
  approve: { kind: 'approve', vote: vote('approve') },
  reject: { kind: 'reject', vote: vote('reject') },
  expire: { kind: 'expire', now: new Date(AFTER) },
  apply: { kind: 'apply' },
  fail: { kind: 'fail', error: 'the collection refused it' },
};

const ILLEGAL = 'TICKET_ILLEGAL_TRANSITION';
/** Every pair: the state it leads to (`=` keeps the state and records only the vote), or the code it is refused with. */
const TABLE: Record<TicketState, Record<TicketEventKind, TicketState | '=' | typeof ILLEGAL>> = {
  pending: { vote: '=', approve: 'approved', reject: 'rejected', expire: 'expired', apply: ILLEGAL, fail: ILLEGAL },
  approved: { vote: ILLEGAL, approve: ILLEGAL, reject: ILLEGAL, expire: ILLEGAL, apply: 'applied', fail: 'failed' },
  applied: { vote: ILLEGAL, approve: ILLEGAL, reject: ILLEGAL, expire: ILLEGAL, apply: ILLEGAL, fail: ILLEGAL },
  rejected: { vote: ILLEGAL, approve: ILLEGAL, reject: ILLEGAL, expire: ILLEGAL, apply: ILLEGAL, fail: ILLEGAL },
  expired: { vote: ILLEGAL, approve: ILLEGAL, reject: ILLEGAL, expire: ILLEGAL, apply: ILLEGAL, fail: ILLEGAL },
  failed: { vote: ILLEGAL, approve: ILLEGAL, reject: ILLEGAL, expire: ILLEGAL, apply: ILLEGAL, fail: ILLEGAL },
};

const refusedWith = (code: string) => (e: unknown) => e instanceof TicketError && e.code === code;

describe('ticket state machine: every (state, event) pair', () => {
  test('the table covers every state and event', () => {
    assert.deepEqual(Object.keys(TABLE).sort(), [...TICKET_STATES].sort());
    for (const s of TICKET_STATES) assert.deepEqual(Object.keys(TABLE[s]).sort(), [...TICKET_EVENTS].sort());
  });
  for (const state of Object.keys(TABLE) as TicketState[]) {
    for (const event of Object.keys(TABLE[state]) as TicketEventKind[]) {
      const want = TABLE[state][event];
      test(`${state} + ${event} -> ${want}`, () => {
        const t = row(state);
        if (want === ILLEGAL) {
          assert.throws(() => transition(t, EVENT[event]), refusedWith(ILLEGAL));
          return;
        }
        const u = transition(t, EVENT[event]);
        // The effect is a compare-and-set on what the decision was made on.
        assert.equal(u.kind, 'ticket-update');
        assert.equal(u.ticketId, 'ZT-000042');
        assert.equal(u.expectVersion, 3);
        assert.equal(u.from, state);
        assert.equal(u.state, want === '=' ? undefined : want);
        const e = EVENT[event];
        assert.deepEqual(u.vote, 'vote' in e ? e.vote : undefined);
      });
    }
  }
  test('closing reasons: a rejection names its voter and reason, an expiry says so, a failure keeps the error', () => {
    assert.equal(transition(row('pending'), EVENT.reject).closedReason, 'rejected by M1: not them');
    assert.equal(transition(row('pending'), EVENT.expire).closedReason, 'expired before enough maintainers approved it');
    assert.equal(transition(row('approved'), EVENT.fail).closedReason, 'the collection refused it');
    assert.equal(transition(row('approved'), EVENT.apply).closedReason, undefined);
  });
  test('time guards: no vote counts at or after the expiry, no expiry before it, no vote for another ticket', () => {
    for (const kind of ['vote', 'approve', 'reject'] as const) {
      assert.throws(() => transition(row('pending'), { kind, vote: vote(kind === 'reject' ? 'reject' : 'approve', EXPIRES) }), refusedWith('TICKET_EXPIRED'));
      assert.throws(() => transition(row('pending'), { kind, vote: vote('approve', BEFORE, 'ZT-000043') }), refusedWith(ILLEGAL));
    }
    assert.throws(() => transition(row('pending'), { kind: 'expire', now: new Date(BEFORE) }), refusedWith('TICKET_NOT_DUE'));
  });
});

describe('a refused transition changes nothing in the store', () => {
  test('applying an expired ticket is refused with TICKET_ILLEGAL_TRANSITION; row and votes stay as they were', async () => {
    const s = SqliteStore.open(':memory:');
    const nt: NewTicket = { ...row('pending'), spoolKey: null };
    await s.commitEffects([{ kind: 'ticket-create', ticket: nt }], []);
    const fresh = (await s.getTicket(nt.id))!;
    await s.commitEffects([transition(fresh, { kind: 'vote', vote: vote('approve') })], []);
    const voted = (await s.getTicket(nt.id))!;
    await s.commitEffects([transition(voted, { kind: 'expire', now: new Date(AFTER) })], []);
    const expired = (await s.getTicket(nt.id))!;
    assert.equal(expired.state, 'expired');
    assert.equal(expired.version, 2);
    const votesBefore = await s.getVotes(nt.id);

    for (const e of [EVENT.apply, EVENT.fail, EVENT.approve, EVENT.expire]) {
      assert.throws(() => transition(expired, e), (err: unknown) =>
        err instanceof TicketError && err.code === 'TICKET_ILLEGAL_TRANSITION' && err.message === `ticket ZT-000042 is expired: it cannot take the event ${e.kind}`);
    }
    assert.deepEqual(await s.getTicket(nt.id), expired);
    assert.deepEqual(await s.getVotes(nt.id), votesBefore);
    assert.deepEqual(await s.listOutbox(), []);
    await s.close();
  });
});

describe('the machine is the only writer of ticket updates', () => {
  test('no module in src/ or queue/ outside the machine and the store spells a ticket update', () => {
    const allowed = new Set(['src/tickets/ticket.ts', 'src/store/types.ts', 'src/store/sqlite.ts']);
    const found = sourceFiles('src', 'queue').filter((f) => !allowed.has(f.file) && /['"]ticket-update['"]/.test(f.text)).map((f) => f.file);
    assert.deepEqual(found, []);
  });
});
