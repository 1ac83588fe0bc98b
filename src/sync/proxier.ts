/**
 * One sync of the proxy rules (upstream's `syncProxyRules` shell, around our backends):
 *
 * 1. take the table's snapshot; do nothing until Services, EndpointSlices and the Node have
 *    each been listed (or restored) once;
 * 2. decide full or partial: full on the first sync, after any failure, when node data changed,
 *    and when the last full sync is {@linkcode FULL_SYNC_PERIOD_MS} old (upstream's
 *    `FullSyncPeriod`, one hour: `syncPeriod` only bounds how long a *partial* sync may wait,
 *    because a full iptables-restore at 10k services takes minutes); otherwise partial;
 * 3. skip the kernel entirely when the table's revision is the one last applied and no full sync
 *    is due (a due full sync still goes to the backend, which skips identical text itself);
 * 4. `backend.sync`, then stale UDP conntrack cleanup, health-check node ports, metrics and
 *    health, and one log line at -v=2 with kind, duration and rules count.
 *
 * A failed apply ({@linkcode ApplyError} or anything else a backend throws) is logged once per
 * distinct cause, counted, forces the next sync to be full, and is re-thrown as
 * {@linkcode SyncFailedError} so the runner retries; it never ends the process.
 *
 * @module
 */

import { ApplyError, type ProxyBackend, type SyncOutcome } from "../backend/backend.ts";
import {
  type ConntrackCleaner,
  type ConntrackDeletion,
  staleConntrackDeletions,
} from "../backend/conntrack.ts";
import { formatGoDuration } from "../config/mod.ts";
import type { Logger } from "../log.ts";
import type { IPFamily, ProxySnapshot, TableSnapshot } from "../model/mod.ts";
import type { ProxyHealth } from "../server/healthz.ts";
import type { KubeProxyMetrics } from "../server/metrics.ts";
import { healthChecksFromSnapshot, type ServiceHealthServer } from "../server/service_health.ts";
import { heapReclaimer, LARGE_CHANGE_SERVICES } from "../reclaim.ts";

/** The part of `EndpointTable` the proxier reads. */
export interface SnapshotSource {
  /** Services, EndpointSlices and the Node have each been delivered in full once. */
  readonly synced: boolean;
  /** The current view; commits what changed since the previous call. */
  snapshot(): TableSnapshot;
}

/** Which kind of API object a change notification was about (for the change metrics). */
export type ChangeKind = "service" | "endpointSlice" | "node";

/**
 * Optional per-table rule counts a backend may add to its {@linkcode SyncOutcome} (iptables:
 * `{ IPv4: { nat: 120, filter: 14 } }`), exported as `kubeproxy_sync_proxy_rules_iptables_total`.
 */
export interface RuleCounts {
  readonly ruleCounts?: Partial<Record<IPFamily, Readonly<Record<string, number>>>>;
}

/** What a proxier is built from. */
/** How often a full sync happens without any other reason (upstream's `FullSyncPeriod`). */
export const FULL_SYNC_PERIOD_MS = 3_600_000;

export interface ProxierOptions {
  readonly table: SnapshotSource;
  readonly backend: ProxyBackend;
  readonly log: Logger;
  readonly metrics: KubeProxyMetrics;
  readonly health: ProxyHealth;
  /** Unix ms. */
  readonly now: () => number;
  /** A full sync at least this often. @default FULL_SYNC_PERIOD_MS */
  readonly fullSyncPeriodMs?: number;
  /** The families the backend programs (health status and metric labels). */
  readonly families: readonly IPFamily[];
  /** Stale UDP conntrack cleanup after each successful sync; omit to skip. */
  readonly conntrack?: ConntrackCleaner;
  /** Health-check node ports, updated after each successful sync; omit to skip. */
  readonly serviceHealth?: ServiceHealthServer;
  /**
   * Called after a snapshot in which many Services changed, before the backend renders it.
   * Default: {@linkcode heapReclaimer}'s `collect`.
   */
  readonly reclaim?: () => void;
  /**
   * Called before each snapshot and after each sync that applied rules (once it is logged).
   * Default: {@linkcode heapReclaimer}'s `trim` (a collection once the heap has grown enough).
   */
  readonly trim?: () => void;
}

/** A sync failed; the previous rules stay in force and the next sync is full. */
export class SyncFailedError extends Error {
  /** @param cause What the backend threw. */
  constructor(cause: unknown) {
    super(
      `Failed to apply proxy rules: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.name = "SyncFailedError";
  }
}

/** What the last call to {@linkcode Proxier.sync} did. */
export type SyncResult =
  | { readonly kind: "not-synced" }
  | { readonly kind: "unchanged"; readonly revision: number }
  | {
    readonly kind: SyncOutcome["kind"];
    readonly revision: number;
    readonly outcome: SyncOutcome;
    readonly durationMs: number;
    readonly conntrackDeletions: readonly ConntrackDeletion[];
  };

/** Programs the kernel from the table; one instance per process. */
export class Proxier {
  readonly #o: ProxierOptions;
  readonly #reclaim: () => void;
  readonly #trim: () => void;
  #lastSnapshot: TableSnapshot | undefined;
  #applied: TableSnapshot | undefined;
  #needFull = true;
  #lastFullAt = -Infinity;
  #lastResult: SyncResult | undefined;
  #failureCause: string | undefined;
  #failureRepeats = 0;
  #pending = { service: 0, endpointSlice: 0 };
  #kindsReported = false;

  /** @param options Table, backend, metrics, health, periods. */
  constructor(options: ProxierOptions) {
    this.#o = options;
    this.#reclaim = options.reclaim ?? (() => void heapReclaimer.collect());
    this.#trim = options.trim ?? (() => void heapReclaimer.trim());
  }

  /** The last snapshot taken (for node eligibility and health-check addresses). */
  get lastSnapshot(): TableSnapshot | undefined {
    return this.#lastSnapshot;
  }

  /** What the last sync did. */
  get lastResult(): SyncResult | undefined {
    return this.#lastResult;
  }

  /**
   * A change notification from the API side: counts it and, once the table is synced, marks
   * an update as queued for health (as upstream's `Sync()` does only when initialized).
   * Without a `kind`, `service_changes_total` counts the Services each sync found changed.
   */
  queueChange(kind?: ChangeKind): void {
    const m = this.#o.metrics;
    if (kind !== undefined) this.#kindsReported = true;
    if (kind === "service") {
      m.serviceChangesTotal.inc();
      m.serviceChangesPending.set({}, ++this.#pending.service);
    } else if (kind === "endpointSlice") {
      m.endpointChangesTotal.inc();
      m.endpointChangesPending.set({}, ++this.#pending.endpointSlice);
    }
    if (!this.#o.table.synced) return;
    const nowSeconds = this.#o.now() / 1000;
    for (const family of this.#o.families) {
      this.#o.health.queuedUpdate(family);
      m.lastQueuedTimestamp.set({ ip_family: family }, nowSeconds);
    }
  }

  /**
   * One sync. Resolves when the rules are in place (or nothing needed doing).
   *
   * @throws {SyncFailedError} when the backend failed; the runner retries.
   */
  async sync(): Promise<void> {
    const o = this.#o;
    const start = o.now();
    // Garbage of the events since the last sync (a whole LIST before the first one) goes
    // before the snapshot allocates on top of it.
    this.#trim();
    const snapshot = o.table.snapshot();
    this.#lastSnapshot = snapshot;
    if (snapshot.changedServices.length >= LARGE_CHANGE_SERVICES) this.#reclaim();
    if (!this.#kindsReported && snapshot.changedServices.length > 0) {
      // The source does not say what changed: count changed Services instead of events.
      o.metrics.serviceChangesTotal.inc({}, snapshot.changedServices.length);
    }
    for (const w of snapshot.newWarnings) {
      o.log.warn(w.message, { kind: w.kind, namespace: w.namespace, name: w.name });
    }
    if (!snapshot.synced) {
      o.log.info(
        "Not syncing proxy rules until Services, EndpointSlices and the Node are synced",
        {},
        2,
      );
      this.#lastResult = { kind: "not-synced" };
      return;
    }
    if (snapshot.nodeChanged) this.#needFull = true;
    const full = this.#needFull || this.#applied === undefined ||
      start - this.#lastFullAt >= (o.fullSyncPeriodMs ?? FULL_SYNC_PERIOD_MS);
    if (!full && snapshot.revision === this.#applied?.revision) {
      this.#markSynced(start);
      this.#lastResult = { kind: "unchanged", revision: snapshot.revision };
      o.log.info("SyncProxyRules complete", {
        kind: "unchanged",
        elapsed: formatGoDuration(o.now() - start),
        revision: snapshot.revision,
      }, 2);
      return;
    }

    let outcome: SyncOutcome;
    try {
      outcome = await o.backend.sync({ snapshot, full });
    } catch (error) {
      this.#recordFailure(error, full);
      throw new SyncFailedError(error);
    }
    const previous = this.#applied;
    this.#applied = snapshot;
    this.#needFull = false;
    if (full) this.#lastFullAt = start;
    if (this.#failureCause !== undefined) {
      o.log.info("Proxy rules applied again after failures", {
        failedAttempts: this.#failureRepeats + 1,
      });
      this.#failureCause = undefined;
      this.#failureRepeats = 0;
    }

    const deletions = staleConntrackDeletions(previous, snapshot);
    if (o.conntrack !== undefined && deletions.length > 0) await o.conntrack.apply(deletions);
    if (o.serviceHealth !== undefined) {
      const checks = healthChecksFromSnapshot(snapshot);
      await o.serviceHealth.syncServices(checks.ports);
      o.serviceHealth.syncEndpoints(checks.endpoints);
    }

    const durationMs = o.now() - start;
    this.#recordSuccess(snapshot, outcome, full, durationMs);
    this.#markSynced(o.now());
    this.#lastResult = {
      kind: outcome.kind,
      revision: snapshot.revision,
      outcome,
      durationMs,
      conntrackDeletions: deletions,
    };
    o.log.info("SyncProxyRules complete", {
      kind: outcome.kind,
      full,
      elapsed: formatGoDuration(durationMs),
      rules: outcome.rulesWritten,
      bytes: outcome.bytesWritten,
      servicePorts: snapshot.v4.servicePorts.length + snapshot.v6.servicePorts.length,
      endpoints: snapshot.v4.reachableEndpointCount + snapshot.v6.reachableEndpointCount,
      revision: snapshot.revision,
    }, 2);
    this.#trim();
  }

  #markSynced(at: number): void {
    const m = this.#o.metrics;
    for (const family of this.#o.families) {
      this.#o.health.updated(family);
      m.lastSyncTimestamp.set({ ip_family: family }, at / 1000);
    }
    this.#pending = { service: 0, endpointSlice: 0 };
    m.serviceChangesPending.set({}, 0);
    m.endpointChangesPending.set({}, 0);
  }

  #recordSuccess(
    snapshot: TableSnapshot,
    outcome: SyncOutcome,
    full: boolean,
    durationMs: number,
  ): void {
    const m = this.#o.metrics;
    const seconds = durationMs / 1000;
    for (const family of this.#o.families) {
      const labels = { ip_family: family };
      m.syncDuration.observe(labels, seconds);
      (full ? m.syncFullDuration : m.syncPartialDuration)?.observe(labels, seconds);
      const view = family === "IPv4" ? snapshot.v4 : snapshot.v6;
      const counts = noLocalEndpoints(view);
      m.noLocalEndpoints.set({ ...labels, traffic_policy: "internal" }, counts.internal);
      m.noLocalEndpoints.set({ ...labels, traffic_policy: "external" }, counts.external);
      const tables = (outcome as SyncOutcome & RuleCounts).ruleCounts?.[family];
      for (const [table, count] of Object.entries(tables ?? {})) {
        m.iptablesRules?.set({ ...labels, table }, count);
        if (outcome.kind !== "skipped") m.iptablesRulesLastSync?.set({ ...labels, table }, count);
      }
    }
  }

  #recordFailure(error: unknown, full: boolean): void {
    const o = this.#o;
    this.#needFull = true;
    const families: readonly IPFamily[] = error instanceof ApplyError ? error.families : o.families;
    for (const family of families) {
      const labels = { ip_family: family };
      o.metrics.iptablesRestoreFailures?.inc(labels);
      if (!full) o.metrics.iptablesPartialRestoreFailures?.inc(labels);
      o.metrics.nftablesSyncFailures?.inc(labels);
    }
    const cause = error instanceof Error ? error.message : String(error);
    if (cause === this.#failureCause) {
      this.#failureRepeats++;
      o.log.info("Proxy rules still failing with the same error", {
        attempts: this.#failureRepeats + 1,
      }, 2);
      return;
    }
    this.#failureCause = cause;
    this.#failureRepeats = 0;
    o.log.error("Failed to apply proxy rules; the previous rules stay in force, retrying", {
      kind: full ? "full" : "partial",
      family: error instanceof ApplyError ? error.family : "",
      err: cause,
    });
  }
}

/**
 * Pure: upstream's `no_local_endpoints_total` counts for one family: service ports with
 * endpoints somewhere but none usable under their Local internal / external policy.
 */
export function noLocalEndpoints(view: ProxySnapshot): { internal: number; external: number } {
  let internal = 0;
  let external = 0;
  for (const sp of view.servicePorts) {
    if (!sp.hasAnyEndpoints) continue;
    if (!sp.hasInternalEndpoints) internal++;
    if (!sp.hasExternalEndpoints) external++;
  }
  return { internal, external };
}
