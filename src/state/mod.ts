/**
 * The state file: last-known cluster objects saved atomically, restored when the API server is
 * unreachable at boot.
 *
 * @module
 */

export {
  type ClusterState,
  decodeState,
  DEFAULT_STATE_FILE,
  DENO_STATE_FS,
  encodeState,
  encodeStateChunks,
  readStateFile,
  STATE_CHUNK_CHARS,
  STATE_FORMAT_VERSION,
  STATE_KIND,
  StateFileError,
  type StateFs,
  type StateToWrite,
  writeStateFile,
} from "./state_file.ts";
export {
  DEFAULT_STATE_SAVE_INTERVAL_MS,
  MAX_STATE_RETRY_MS,
  STATE_WRITE_BYTES_PER_SECOND,
  StateSaver,
  type StateSaverDeps,
} from "./state_saver.ts";
