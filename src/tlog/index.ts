/** The transparency log's public API (RFC 9162 trees, C2SP tiles, notes, checkpoints and proofs). */
export { TLOG_ERRORS, TlogError, type TlogErrorCode } from './errors.js';
export { EMPTY_ROOT, emptyRoot, HASH_SIZE, leafHash, nodeHash } from './hash.js';
export {
  decodeEntryBundle,
  decodeTile,
  encodeEntryBundle,
  encodeTile,
  entriesPath,
  formatTileIndex,
  MAX_ENTRY_BYTES,
  parseTilePath,
  TILE_HEIGHT,
  TILE_WIDTH,
  tilePath,
  tileWidth,
  type TileCoords,
} from './tiles.js';
export { rootFromEdge, TileCache, TreeReader, type TileFetcher } from './tree.js';
export {
  computeKeyId,
  formatVerifierKey,
  generateLogKey,
  isValidKeyName,
  openNote,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  verifyNote,
  type NoteSignature,
  type NoteSigner,
  type NoteVerifier,
  type VerifyNoteResult,
} from './note.js';
export { formatCheckpoint, parseCheckpoint, verifyCheckpoint, type Checkpoint, type VerifyCheckpointResult } from './checkpoint.js';
export {
  CONSISTENCY_HEADER,
  extractProofBlocks,
  formatConsistencyBlock,
  formatProofBlock,
  parseConsistencyBlock,
  parseProofBlock,
  PROOF_HEADER,
  verifyConsistency,
  verifyConsistencyBlock,
  verifyInclusion,
  verifyProofBlock,
  type ConsistencyBlock,
  type ProofBlock,
  type VerifyConsistencyResult,
  type VerifyProofResult,
} from './proof.js';
export { ENTRY_HEADER, ENTRY_TYPES, formatEntry, parseEntry, type LogEntry, type LogEntryType } from './entry.js';
export { TransparencyLog, type AppendResult, type TransparencyLogOptions } from './log.js';
export { TileClient, type TileClientOptions, type TileReadFn } from './client.js';
