/**
 * The table of implemented command handlers. A recognised command without a
 * handler gets a clear `Status: error` "not available yet" reply from the
 * dispatcher, never silence.
 */
import { helpHandler } from './help.js';
import type { HandlerTable } from './types.js';

export function defaultHandlers(): HandlerTable {
  return {
    HELP: helpHandler,
  };
}
