/**
 * nftables mode as a {@linkcode ProxyBackend}. Each family's table is rendered with
 * {@linkcode renderRuleset} and moved into the kernel by one atomic `nft -f -` transaction:
 *
 * - the first sync, and any sync after a failure, replaces the table outright (`add table`,
 *   `delete table`, full content), which also removes upstream's or a half-written table;
 * - a full sync requested while the table is known good rewrites every rule and element in place
 *   (at most once per `refreshIntervalMs`), keeping the kernel-filled affinity set;
 * - every other sync sends only the difference from the last committed render, which is kept in
 *   memory: the kernel is never listed.
 *
 * The first sync also removes iptables mode's chains, as upstream does when it starts in nftables
 * mode, so switching modes leaves nothing behind.
 *
 * @module
 */

import type { IPFamily, ProxySnapshot, TableSnapshot } from "../../model/mod.ts";
import type { BackendDeps, ProxyBackend, SyncOutcome, SyncRequest } from "../backend.ts";
import { cleanupIptables } from "../iptables/cleanup.ts";
import { DEFAULT_APPLY_TIMEOUT_MS, runNft } from "./apply.ts";
import { cleanupNftables } from "./cleanup.ts";
import {
  deleteChainsTransaction,
  diffTransaction,
  type FamilyTransaction,
  isEmptyTransaction,
  refreshTransaction,
} from "./incremental.ts";
import {
  deleteTableTransaction,
  familyActive,
  renderNftables,
  replaceTransactionFrom,
} from "./render.ts";
import { TableModel } from "./table_model.ts";
import { heapReclaimer } from "../../reclaim.ts";

/** Optional knobs of {@linkcode NftablesBackend}, mostly for tests. */
export interface NftablesBackendOptions {
  /** Milliseconds since some epoch; default `Date.now`. */
  readonly now?: () => number;
  /**
   * A requested full sync rewrites the tables in place at most this often; in between it sends
   * only the difference (upstream's full-sync period). @default 3_600_000
   */
  readonly refreshIntervalMs?: number;
  /** Unused chains are deleted this long after they were flushed. @default 1000 */
  readonly staleChainDelayMs?: number;
  /**
   * Removes the other proxy mode's rules before the first sync. Default: iptables mode's
   * cleanup; null: leave other modes alone.
   */
  readonly cleanupOtherModes?: (() => Promise<void>) | null;
  /**
   * Called after a whole model is built, before its transaction is written. Default:
   * {@linkcode heapReclaimer}'s `collect`.
   */
  readonly reclaim?: () => void;
  /**
   * Called every 1024 service ports while a whole model is built, so that a large build's
   * garbage does not pile up before `reclaim` (at 10k Services the first sync's peak was ~5 MiB
   * higher). Default: {@linkcode heapReclaimer}'s `trim`, which collects only once the heap has
   * grown enough.
   */
  readonly trim?: () => void;
}

/** Failure counters, for the sync loop's metrics. */
export interface NftablesBackendStats {
  /** Failed sync transactions per family (upstream `sync_proxy_rules_nftables_sync_failures_total`). */
  readonly syncFailures: Record<IPFamily, number>;
  /** Failed deletions of unused chains (upstream `…_nftables_cleanup_failures_total`). */
  readonly cleanupFailures: Record<IPFamily, number>;
}

interface FamilyState {
  /** What the kernel holds after the last successful transaction; null: nothing known. */
  committed: TableModel | null;
  /** The next transaction must replace the table (first sync, or after a failure). */
  replace: boolean;
  /** Flushed, unused chains → when they were flushed. */
  readonly stale: Map<string, number>;
  /** Failed attempts to delete the current stale chains. */
  staleFailures: number;
  /** When the table was last written in full. */
  lastFullAt: number;
}

interface FamilyOutcome {
  readonly kind: SyncOutcome["kind"];
  readonly objects: number;
  readonly bytes: number;
}

const STALE_DELETE_ATTEMPTS = 3;

/** The nftables proxy mode. */
export class NftablesBackend implements ProxyBackend {
  /** Always `nftables`. */
  readonly mode = "nftables" as const;
  /** Failure counters since start. */
  readonly stats: NftablesBackendStats = {
    syncFailures: { IPv4: 0, IPv6: 0 },
    cleanupFailures: { IPv4: 0, IPv6: 0 },
  };

  readonly #deps: BackendDeps;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  readonly #refreshIntervalMs: number;
  readonly #staleDelayMs: number;
  #cleanupOtherModes: (() => Promise<void>) | null;
  readonly #reclaim: () => void;
  readonly #trim: () => void;
  readonly #state: Record<IPFamily, FamilyState> = {
    IPv4: newState(),
    IPv6: newState(),
  };

  /**
   * @param deps Runner, logger and render options.
   * @param options Clock, intervals and the other-mode cleanup.
   */
  constructor(deps: BackendDeps, options: NftablesBackendOptions = {}) {
    this.#deps = deps;
    this.#timeoutMs = deps.applyTimeoutMs ?? DEFAULT_APPLY_TIMEOUT_MS;
    this.#now = options.now ?? Date.now;
    this.#refreshIntervalMs = options.refreshIntervalMs ?? 3_600_000;
    this.#staleDelayMs = options.staleChainDelayMs ?? 1000;
    this.#cleanupOtherModes = options.cleanupOtherModes === undefined
      ? () => cleanupIptables(deps.runner, deps.log, deps.applyTimeoutMs)
      : options.cleanupOtherModes;
    this.#reclaim = options.reclaim ?? (() => void heapReclaimer.collect());
    this.#trim = options.trim ?? (() => void heapReclaimer.trim());
  }

  /** A whole model of `snapshot`, with the garbage of building it returned at once. */
  #build(snapshot: ProxySnapshot): TableModel {
    const model = TableModel.build(snapshot, this.#deps.options, this.#trim);
    this.#reclaim();
    return model;
  }

  /** Both families' start-up transactions, labelled (for `--dry-run`). */
  renderFull(snapshot: TableSnapshot): string {
    return renderNftables(snapshot, this.#deps.options);
  }

  /** Brings both tables to `request.snapshot`; see the module docs for full vs partial. */
  async sync(request: SyncRequest): Promise<SyncOutcome> {
    if (this.#cleanupOtherModes !== null) {
      const cleanup = this.#cleanupOtherModes;
      this.#cleanupOtherModes = null;
      try {
        await cleanup();
      } catch (error) {
        this.#deps.log.warn("Could not remove the rules of iptables mode", {
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
    const snapshots = [request.snapshot.v4, request.snapshot.v6];
    const results = await Promise.allSettled(
      snapshots.map((s) =>
        familyActive(request.snapshot, s.family)
          ? this.#syncFamily(s, request.full)
          : this.#retire(s.family, this.#state[s.family])
      ),
    );
    let kind: SyncOutcome["kind"] = "skipped";
    let rulesWritten = 0;
    let bytesWritten = 0;
    for (const r of results) {
      if (r.status === "rejected") throw r.reason;
      rulesWritten += r.value.objects;
      bytesWritten += r.value.bytes;
      if (r.value.kind === "full" || (r.value.kind === "partial" && kind === "skipped")) {
        kind = r.value.kind;
      }
    }
    return { kind, rulesWritten, bytesWritten };
  }

  /** Deletes both tables and forgets what was committed. */
  async cleanup(): Promise<void> {
    for (const family of ["IPv4", "IPv6"] as const) this.#state[family] = newState();
    await cleanupNftables(this.#deps.runner, this.#deps.log, this.#timeoutMs);
  }

  async #syncFamily(snapshot: ProxySnapshot, full: boolean): Promise<FamilyOutcome> {
    const family = snapshot.family;
    const state = this.#state[family];

    await this.#deleteStaleChains(family, state);
    const options = this.#deps.options;
    const now = this.#now();
    const current = state.replace ? null : state.committed;
    let kind: "full" | "partial" = "full";
    let tx: FamilyTransaction | null = null;
    let next: TableModel | null = null;
    if (current !== null) {
      if (full && now - state.lastFullAt >= this.#refreshIntervalMs) {
        next = this.#build(snapshot);
        tx = refreshTransaction(current.source(), next.source());
      } else {
        kind = "partial";
        // The model moves itself; on failure it is dropped below and the table replaced.
        tx = current.advance(snapshot, options);
        next = current;
        if (tx === null) {
          // Node facts or options changed: every rule may differ, so diff whole rulesets.
          next = this.#build(snapshot);
          tx = diffTransaction(current.toRuleset(), next.toRuleset());
        }
      }
    }
    const replacing = tx === null;
    if (tx === null || next === null) {
      kind = "full";
      next = this.#build(snapshot);
      tx = replaceTransactionFrom(next.source());
    }
    if (isEmptyTransaction(tx.lines)) {
      state.committed = next;
      state.replace = false;
      return { kind: "skipped", objects: 0, bytes: 0 };
    }

    this.#deps.log.info("Syncing nftables rules", {
      family,
      kind: replacing ? "replace" : kind,
    }, 2);
    let bytes: number;
    try {
      bytes = await runNft(this.#deps.runner, family, tx.lines, this.#timeoutMs);
    } catch (error) {
      this.stats.syncFailures[family]++;
      state.committed = null;
      state.replace = true;
      state.stale.clear();
      throw error;
    }
    state.committed = next;
    state.replace = false;
    if (replacing) state.stale.clear();
    if (kind === "full") state.lastFullAt = now;
    for (const name of tx.staleChains) state.stale.set(name, now);
    for (const name of state.stale.keys()) if (next.hasChain(name)) state.stale.delete(name);
    return { kind, objects: tx.objects, bytes };
  }

  /** A family this node does not serve: make sure no table of ours (or upstream's) is left. */
  async #retire(family: IPFamily, state: FamilyState): Promise<FamilyOutcome> {
    if (state.committed === null && !state.replace) {
      return { kind: "skipped", objects: 0, bytes: 0 };
    }
    const lines = deleteTableTransaction(family);
    try {
      await runNft(this.#deps.runner, family, lines, this.#timeoutMs);
    } catch (error) {
      // A host without this family's netfilter support cannot have a table of it either.
      if (state.committed !== null) {
        this.stats.syncFailures[family]++;
        throw error;
      }
      this.#deps.log.info("Could not check for a leftover nftables table", {
        family,
        error: error instanceof Error ? error.message : String(error),
      }, 2);
    }
    this.#state[family] = { ...newState(), replace: false };
    return { kind: "full", objects: 0, bytes: 0 };
  }

  /** Deletes chains flushed at least `staleChainDelayMs` ago; failures only delay them. */
  async #deleteStaleChains(family: IPFamily, state: FamilyState): Promise<void> {
    if (state.replace || state.stale.size === 0) return;
    const due = this.#now() - this.#staleDelayMs;
    const doomed = [...state.stale].filter(([, at]) => at <= due).map(([name]) => name);
    if (doomed.length === 0) return;
    try {
      await runNft(
        this.#deps.runner,
        family,
        deleteChainsTransaction(family, doomed),
        this.#timeoutMs,
      );
      for (const name of doomed) state.stale.delete(name);
      state.staleFailures = 0;
      this.#deps.log.info("Deleted unused nftables chains", { family, chains: doomed.length }, 2);
    } catch (error) {
      this.stats.cleanupFailures[family]++;
      state.staleFailures++;
      this.#deps.log.warn("Could not delete unused nftables chains; will retry", {
        family,
        chains: doomed.length,
        error: error instanceof Error ? error.message : String(error),
      });
      // Empty chains are harmless; stop retrying after a few attempts (the next table
      // replacement removes them).
      if (state.staleFailures >= STALE_DELETE_ATTEMPTS) {
        for (const name of doomed) state.stale.delete(name);
        state.staleFailures = 0;
      }
    }
  }
}

function newState(): FamilyState {
  return {
    committed: null,
    replace: true,
    stale: new Map(),
    staleFailures: 0,
    lastFullAt: Number.NEGATIVE_INFINITY,
  };
}
