/**
 * nftables mode: the public surface for the sync loop, `--dry-run`, `--cleanup`, tests and
 * benchmarks. See README.md in this folder for the design.
 *
 * @module
 */

export {
  NftablesBackend,
  type NftablesBackendOptions,
  type NftablesBackendStats,
} from "./backend.ts";
export { cleanupNftables, NftablesCleanupError } from "./cleanup.ts";
export {
  DEFAULT_APPLY_TIMEOUT_MS,
  nftFailureMessage,
  type NftInputError,
  parseNftError,
  runNft,
  transactionChunks,
} from "./apply.ts";
export {
  deleteChainsTransaction,
  diffTransaction,
  type FamilyTransaction,
  refreshTransaction,
} from "./incremental.ts";
export {
  deleteTableTransaction,
  familyActive,
  renderNftables,
  renderRuleset,
  replaceTransaction,
} from "./render.ts";
export {
  AFFINITY_SET_SIZE,
  masqueradeMark,
  type NodePortMatch,
  resolveNodePortAddresses,
} from "./rules.ts";
export { TableModel } from "./table_model.ts";
export { type NftChain, type NftRuleset, type NftSet, objectCount } from "./ruleset.ts";
export { BASE_CHAINS, type BaseChainSpec, NAMES, TABLE } from "./names.ts";
