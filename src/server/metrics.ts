/**
 * kube-proxy's metrics under upstream's names, types, help texts and labels
 * (`pkg/proxy/metrics/metrics.go`, v1.33+ with the `ip_family` label), the `process_*` metrics
 * Go programs export, two of ours for edge nodes, and the `metricsBindAddress` server
 * (`/metrics`, `/healthz`, `/proxyMode`, `/configz`).
 *
 * @module
 */

import type { ImplementedProxyMode } from "../config/types.ts";
import type { IPFamily } from "../model/mod.ts";
import { type HttpServer, type ListenFn, notFound } from "./listen.ts";
import {
  type Counter,
  exponentialBuckets,
  type Gauge,
  type Histogram,
  linearBuckets,
  type MetricsRegistry,
  PROMETHEUS_CONTENT_TYPE,
} from "./prometheus.ts";

/** Upstream's buckets for sync durations: `ExponentialBuckets(0.001, 2, 15)` (1 ms … 16.384 s). */
export const SYNC_DURATION_BUCKETS: readonly number[] = Object.freeze(
  exponentialBuckets(0.001, 2, 15),
);

/**
 * Upstream's network-programming buckets: a leading 0 (its merge helper starts from a zero
 * element), 0.25 s, 0.5 s, 1–59 s, 60–115 s by 5, 120–300 s by 30.
 */
export const NETWORK_PROGRAMMING_BUCKETS: readonly number[] = Object.freeze([
  0,
  ...linearBuckets(0.25, 0.25, 2),
  ...linearBuckets(1, 1, 59),
  ...linearBuckets(60, 5, 12),
  ...linearBuckets(120, 30, 7),
]);

const ALPHA = "ALPHA" as const;
const FAMILY = ["ip_family"] as const;

/**
 * Every kube-proxy metric, registered as upstream's `RegisterMetrics(mode)` does: the common set
 * always, the iptables-only and nftables-only ones by mode. Mode-specific fields are
 * `undefined` in the other mode.
 */
export class KubeProxyMetrics {
  /** `kubeproxy_sync_proxy_rules_duration_seconds{ip_family}` */
  readonly syncDuration: Histogram;
  /** `kubeproxy_sync_full_proxy_rules_duration_seconds{ip_family}` (iptables mode). */
  readonly syncFullDuration: Histogram | undefined;
  /** `kubeproxy_sync_partial_proxy_rules_duration_seconds{ip_family}` (iptables mode). */
  readonly syncPartialDuration: Histogram | undefined;
  /** `kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family}` */
  readonly lastSyncTimestamp: Gauge;
  /** `kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds{ip_family}` */
  readonly lastQueuedTimestamp: Gauge;
  /** `kubeproxy_network_programming_duration_seconds{ip_family}` */
  readonly networkProgrammingDuration: Histogram;
  /** `kubeproxy_sync_proxy_rules_endpoint_changes_pending` */
  readonly endpointChangesPending: Gauge;
  /** `kubeproxy_sync_proxy_rules_endpoint_changes_total` */
  readonly endpointChangesTotal: Counter;
  /** `kubeproxy_sync_proxy_rules_service_changes_pending` */
  readonly serviceChangesPending: Gauge;
  /** `kubeproxy_sync_proxy_rules_service_changes_total` */
  readonly serviceChangesTotal: Counter;
  /** `kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family,traffic_policy}` */
  readonly noLocalEndpoints: Gauge;
  /** `kubeproxy_proxy_healthz_total{code}` */
  readonly healthzTotal: Counter;
  /** `kubeproxy_proxy_livez_total{code}` */
  readonly livezTotal: Counter;
  /** `kubeproxy_sync_proxy_rules_iptables_restore_failures_total{ip_family}` (iptables mode). */
  readonly iptablesRestoreFailures: Counter | undefined;
  /** `kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total{ip_family}` (iptables). */
  readonly iptablesPartialRestoreFailures: Counter | undefined;
  /** `kubeproxy_sync_proxy_rules_iptables_total{ip_family,table}` (iptables mode). */
  readonly iptablesRules: Gauge | undefined;
  /** `kubeproxy_sync_proxy_rules_iptables_last{ip_family,table}` (iptables mode). */
  readonly iptablesRulesLastSync: Gauge | undefined;
  /** `kubeproxy_sync_proxy_rules_nftables_sync_failures_total{ip_family}` (nftables mode). */
  readonly nftablesSyncFailures: Counter | undefined;
  /** `kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total{ip_family}` (nftables mode). */
  readonly nftablesCleanupFailures: Counter | undefined;
  /** Ours: `deno_kube_proxy_api_connected` (1 while the API server answers). */
  readonly apiConnected: Gauge;
  /** Ours: `deno_kube_proxy_serving_from_state_file_since_seconds` (0 when not). */
  readonly servingFromStateFileSince: Gauge;

  /**
   * @param registry Where to register.
   * @param mode Decides the mode-specific set, as upstream.
   */
  constructor(readonly registry: MetricsRegistry, mode: ImplementedProxyMode) {
    const r = registry;
    this.syncDuration = r.histogram({
      name: "kubeproxy_sync_proxy_rules_duration_seconds",
      help: "SyncProxyRules latency in seconds",
      labelNames: FAMILY,
      buckets: SYNC_DURATION_BUCKETS,
      stability: ALPHA,
    });
    this.lastSyncTimestamp = r.gauge({
      name: "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
      help: "The last time proxy rules were successfully synced",
      labelNames: FAMILY,
      stability: ALPHA,
    });
    this.lastQueuedTimestamp = r.gauge({
      name: "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
      help: "The last time a sync of proxy rules was queued",
      labelNames: FAMILY,
      stability: ALPHA,
    });
    this.networkProgrammingDuration = r.histogram({
      name: "kubeproxy_network_programming_duration_seconds",
      help: "In Cluster Network Programming Latency in seconds",
      labelNames: FAMILY,
      buckets: NETWORK_PROGRAMMING_BUCKETS,
      stability: ALPHA,
    });
    this.endpointChangesPending = r.gauge({
      name: "kubeproxy_sync_proxy_rules_endpoint_changes_pending",
      help: "Pending proxy rules Endpoint changes",
      stability: ALPHA,
    });
    this.endpointChangesTotal = r.counter({
      name: "kubeproxy_sync_proxy_rules_endpoint_changes_total",
      help: "Cumulative proxy rules Endpoint changes",
      stability: ALPHA,
    });
    this.serviceChangesPending = r.gauge({
      name: "kubeproxy_sync_proxy_rules_service_changes_pending",
      help: "Pending proxy rules Service changes",
      stability: ALPHA,
    });
    this.serviceChangesTotal = r.counter({
      name: "kubeproxy_sync_proxy_rules_service_changes_total",
      help: "Cumulative proxy rules Service changes",
      stability: ALPHA,
    });
    this.noLocalEndpoints = r.gauge({
      name: "kubeproxy_sync_proxy_rules_no_local_endpoints_total",
      help: "Number of services with a Local traffic policy and no endpoints",
      labelNames: ["ip_family", "traffic_policy"],
      stability: ALPHA,
    });
    this.healthzTotal = r.counter({
      name: "kubeproxy_proxy_healthz_total",
      help: "Cumulative proxy healthz HTTP status",
      labelNames: ["code"],
      stability: ALPHA,
    });
    this.livezTotal = r.counter({
      name: "kubeproxy_proxy_livez_total",
      help: "Cumulative proxy livez HTTP status",
      labelNames: ["code"],
      stability: ALPHA,
    });

    const iptables = mode === "iptables";
    this.syncFullDuration = iptables
      ? r.histogram({
        name: "kubeproxy_sync_full_proxy_rules_duration_seconds",
        help: "SyncProxyRules latency in seconds for full resyncs",
        labelNames: FAMILY,
        buckets: SYNC_DURATION_BUCKETS,
        stability: ALPHA,
      })
      : undefined;
    this.syncPartialDuration = iptables
      ? r.histogram({
        name: "kubeproxy_sync_partial_proxy_rules_duration_seconds",
        help: "SyncProxyRules latency in seconds for partial resyncs",
        labelNames: FAMILY,
        buckets: SYNC_DURATION_BUCKETS,
        stability: ALPHA,
      })
      : undefined;
    this.iptablesRestoreFailures = iptables
      ? r.counter({
        name: "kubeproxy_sync_proxy_rules_iptables_restore_failures_total",
        help: "Cumulative proxy iptables restore failures",
        labelNames: FAMILY,
        stability: ALPHA,
      })
      : undefined;
    this.iptablesPartialRestoreFailures = iptables
      ? r.counter({
        name: "kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total",
        help: "Cumulative proxy iptables partial restore failures",
        labelNames: FAMILY,
        stability: ALPHA,
      })
      : undefined;
    this.iptablesRules = iptables
      ? r.gauge({
        name: "kubeproxy_sync_proxy_rules_iptables_total",
        help: "Total number of iptables rules owned by kube-proxy",
        labelNames: ["ip_family", "table"],
        stability: ALPHA,
      })
      : undefined;
    this.iptablesRulesLastSync = iptables
      ? r.gauge({
        name: "kubeproxy_sync_proxy_rules_iptables_last",
        help: "Number of iptables rules written by kube-proxy in last sync",
        labelNames: ["ip_family", "table"],
        stability: ALPHA,
      })
      : undefined;
    const nftables = mode === "nftables";
    this.nftablesSyncFailures = nftables
      ? r.counter({
        name: "kubeproxy_sync_proxy_rules_nftables_sync_failures_total",
        help: "Cumulative proxy nftables sync failures",
        labelNames: FAMILY,
        stability: ALPHA,
      })
      : undefined;
    this.nftablesCleanupFailures = nftables
      ? r.counter({
        name: "kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total",
        help: "Cumulative proxy nftables cleanup failures",
        labelNames: FAMILY,
        stability: ALPHA,
      })
      : undefined;

    this.apiConnected = r.gauge({
      name: "deno_kube_proxy_api_connected",
      help: "1 while the Kubernetes API server answers list/watch requests, else 0",
    });
    this.servingFromStateFileSince = r.gauge({
      name: "deno_kube_proxy_serving_from_state_file_since_seconds",
      help:
        "Unix time since when rules come from the state file because the API server is unreachable; 0 when not",
    });
  }

  /** Convenience for the per-family label set. */
  static family(family: IPFamily): { ip_family: IPFamily } {
    return { ip_family: family };
  }
}

/** Reads a file under /proc; returns undefined when it cannot (not Linux, no permission). */
export type ProcReader = (path: string) => string | undefined;

/** The real reader, on `Deno.readTextFileSync` ({@linkcode ProcReader}). */
export function denoProcReader(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/** How to read this process's figures. */
export interface ProcessMetricsOptions {
  readonly read: ProcReader;
  /** Bytes per page for /proc/self/statm. @default 4096 */
  readonly pageSize?: number;
  /** Clock ticks per second for /proc/self/stat (Go's procfs assumes 100). @default 100 */
  readonly ticksPerSecond?: number;
  /** Used when /proc/self/stat and /proc/stat cannot be read: the process start, Unix ms. */
  readonly startTimeMs?: number;
}

/**
 * Registers `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
 * `process_cpu_seconds_total` and `process_start_time_seconds` (client_golang's process
 * collector names and help texts), read from /proc at scrape time.
 */
export function registerProcessMetrics(
  registry: MetricsRegistry,
  options: ProcessMetricsOptions,
): void {
  const pageSize = options.pageSize ?? 4096;
  const hz = options.ticksPerSecond ?? 100;
  const resident = registry.gauge({
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes.",
  });
  const virtual = registry.gauge({
    name: "process_virtual_memory_bytes",
    help: "Virtual memory size in bytes.",
  });
  const cpu = registry.counter({
    name: "process_cpu_seconds_total",
    help: "Total user and system CPU time spent in seconds.",
  });
  const start = registry.gauge({
    name: "process_start_time_seconds",
    help: "Start time of the process since unix epoch in seconds.",
  });
  const fallbackStart = (options.startTimeMs ?? Date.now()) / 1000;
  registry.onCollect(() => {
    const statm = options.read("/proc/self/statm")?.trim().split(/\s+/);
    if (statm !== undefined && statm.length >= 2) {
      virtual.set({}, Number(statm[0]) * pageSize);
      resident.set({}, Number(statm[1]) * pageSize);
    }
    const stat = parseProcStat(options.read("/proc/self/stat"));
    if (stat !== undefined) cpu.setTotal({}, (stat.utime + stat.stime) / hz);
    const btime = /^btime (\d+)$/m.exec(options.read("/proc/stat") ?? "")?.[1];
    start.set(
      {},
      stat !== undefined && btime !== undefined
        ? Number(btime) + stat.starttime / hz
        : fallbackStart,
    );
  });
}

function parseProcStat(
  text: string | undefined,
): { utime: number; stime: number; starttime: number } | undefined {
  if (text === undefined) return undefined;
  // The command name (field 2) is in parentheses and may itself contain spaces or ")".
  const rest = text.slice(text.lastIndexOf(")") + 2).trim().split(/\s+/);
  // rest[0] is field 3 (state); utime/stime are fields 14/15, starttime field 22.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const starttime = Number(rest[19]);
  if (![utime, stime, starttime].every(Number.isFinite)) return undefined;
  return { utime, stime, starttime };
}

/** What the metrics server shows besides `/metrics`. */
export interface MetricsServerOptions {
  readonly registry: MetricsRegistry;
  /** `/proxyMode`'s plain-text answer. */
  readonly mode: ImplementedProxyMode;
  /** `/configz`'s document: the resolved config as v1alpha1 (`configToFile`). */
  readonly configz: () => unknown;
}

const TEXT_HEADERS = {
  "Content-Type": "text/plain; charset=utf-8",
  "X-Content-Type-Options": "nosniff",
};

/**
 * The `metricsBindAddress` mux, as upstream's `serveMetrics`: `/metrics`, `/healthz` (and
 * `/healthz/ping`, plain `ok`), `/proxyMode`, `/configz`; everything else 404.
 */
export function metricsHandler(options: MetricsServerOptions): (request: Request) => Response {
  return (request) => {
    const path = new URL(request.url).pathname;
    switch (path) {
      case "/metrics":
        return new Response(options.registry.render(), {
          headers: { "Content-Type": PROMETHEUS_CONTENT_TYPE },
        });
      case "/healthz":
      case "/healthz/ping":
        return new Response("ok", { headers: TEXT_HEADERS });
      case "/proxyMode":
        return new Response(options.mode, { headers: TEXT_HEADERS });
      case "/configz":
        return new Response(
          JSON.stringify({ "kubeproxy.config.k8s.io": options.configz() }),
          { headers: { "Content-Type": "application/json" } },
        );
      default:
        return notFound();
    }
  };
}

/** Starts the metrics server on `hostname:port`. */
export function serveMetrics(
  listen: ListenFn,
  hostname: string,
  port: number,
  options: MetricsServerOptions,
): Promise<HttpServer> {
  return listen({ hostname, port, handler: metricsHandler(options) });
}
