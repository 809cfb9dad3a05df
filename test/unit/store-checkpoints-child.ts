/**
 * A process that starts the store's checkpoint thread, writes, and ends
 * without closing the store (as a command that fails half-way would): it
 * must exit by itself. argv[2] is the database file. Prints "written".
 */
import { SqliteStore } from '../../src/store/sqlite.js';

const s = SqliteStore.open(process.argv[2]);
s.checkpointInBackground((reason) => { console.error(`checkpoint thread failed: ${reason}`); });
await s.setMeta('child', 'was here');
console.log('written');
