#!/usr/bin/env node
// The ztrust-bot command. The sources are TypeScript, run through tsx's
// loader (a runtime dependency), so there is no build step to forget.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
// BullMQ/ioredis handles are closed by the commands themselves; exit now so a
// stray timer in a library cannot keep a finished command alive.
process.exit(process.exitCode);
