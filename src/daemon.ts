/**
 * The long-running proxy: API source → endpoint table → sync runner → backend, with the healthz,
 * metrics and health-check node port servers, start-up sysctls, signals and the config-file
 * watch. {@linkcode runDaemon} resolves with the process exit code:
 *
 * - `0` after SIGTERM/SIGINT: watching stops, servers close, the rules stay in place (as
 *   upstream); bounded by 2 s. A second signal during that exits at once (130 / 143).
 * - `1` when the `--config` file changes on disk (upstream exits with "content of the proxy
 *   server's configuration file was updated" and lets its supervisor restart it), when the
 *   API source cannot be set up, or when a server cannot bind and `bindAddressHardFail` is set.
 *
 * Apply failures never end the process: the runner retries them with a full sync.
 *
 * @module
 */

import type { ProxyBackend } from "./backend/backend.ts";
import { ConntrackCleaner } from "./backend/conntrack.ts";
import { configToFile, formatGoDuration, type ProxyConfig } from "./config/mod.ts";
import { type Clock, SYSTEM_CLOCK } from "./kube/clock.ts";
import type { Logger } from "./log.ts";
import type { IPFamily, TableSnapshot } from "./model/mod.ts";
import type { CommandRunner } from "./runner.ts";
import { type NodeEligibility, ProxyHealth, serveHealthz } from "./server/healthz.ts";
import {
  denoListen,
  type HttpServer,
  joinBindAddress,
  type ListenFn,
  splitBindAddress,
} from "./server/listen.ts";
import { lightListen } from "./server/light_listen.ts";
import {
  denoProcReader,
  KubeProxyMetrics,
  type ProcReader,
  registerProcessMetrics,
  serveMetrics,
} from "./server/metrics.ts";
import { MetricsRegistry } from "./server/prometheus.ts";
import {
  denoLocalAddresses,
  healthCheckAddresses,
  ServiceHealthServer,
} from "./server/service_health.ts";
import { BoundedFrequencyRunner } from "./sync/bounded_runner.ts";
import { type ChangeKind, Proxier, type SnapshotSource } from "./sync/proxier.ts";
import {
  applySysctls,
  DENO_KERNEL_FILES,
  detectCpuCount,
  type KernelFiles,
  sysctlSettingsFrom,
} from "./sync/sysctl.ts";

/**
 * What the daemon needs from the API side (`ClusterSource` of src/kube satisfies it).
 */
export interface DaemonSource {
  /** Starts reading; resolves once the table is synced (from the API or the state file). */
  start(): Promise<void>;
  /** Stops every request; resolves when quiet. */
  stop(): Promise<void>;
  /** The API server currently answers. */
  readonly connected: boolean;
  /** Since when rules come from the state file; null when they come from the API. */
  readonly servingFromStateSince: Date | null;
}

/**
 * Builds the source once the daemon can receive its change notifications. Call `onChange`
 * after events reached the table (with the object kind when known, for the change metrics).
 * May throw (no API server configured): the daemon logs the message and returns 1.
 */
export type SourceFactory = (
  onChange: (kind?: ChangeKind) => void,
) => DaemonSource | Promise<DaemonSource>;

/** The signals that stop the daemon. */
export type StopSignal = "SIGTERM" | "SIGINT";

/** Signal registration (default: `Deno.addSignalListener`). */
export interface SignalRegistry {
  add(signal: StopSignal, handler: () => void): void;
  remove(signal: StopSignal, handler: () => void): void;
}

/** The real signals. */
export const DENO_SIGNALS: SignalRegistry = {
  add: (signal, handler) => Deno.addSignalListener(signal, handler),
  remove: (signal, handler) => Deno.removeSignalListener(signal, handler),
};

/** Calls `onChange` when the file at `path` is written or renamed; `close()` stops watching. */
export type FileWatcher = (path: string, onChange: () => void) => { close(): void };

/**
 * The real watcher, on `Deno.watchFs`. Like upstream's fsnotify handler it reacts to writes and
 * renames of the file (Deno reports both data and metadata changes as "modify").
 */
export function denoWatchFile(path: string, onChange: () => void): { close(): void } {
  const watcher = Deno.watchFs(path, { recursive: false });
  (async () => {
    try {
      for await (const event of watcher) {
        if (event.kind === "modify" || event.kind === "rename") onChange();
      }
    } catch {
      // Closed, or the file vanished: nothing left to watch.
    }
  })();
  return { close: () => watcher.close() };
}

/** The message upstream exits with when its config file changes. */
export const CONFIG_CHANGED_MESSAGE =
  "content of the proxy server's configuration file was updated";

/** Bound on a graceful shutdown, after which the daemon returns anyway. */
export const SHUTDOWN_TIMEOUT_MS = 2_000;

/** The servers the daemon bound, reported once they listen (tests, logs). */
export interface DaemonServers {
  readonly healthz?: HttpServer;
  readonly metrics?: HttpServer;
}

/** Everything the daemon is wired from. Only the first block is required. */
export interface DaemonDeps {
  readonly config: ProxyConfig;
  /** The endpoint table (an `EndpointTable`); the source feeds it, the proxier reads it. */
  readonly table: SnapshotSource;
  readonly source: SourceFactory;
  readonly backend: ProxyBackend;
  /** Starts `conntrack` for stale UDP entries. */
  readonly runner: CommandRunner;
  readonly log: Logger;
  /** `--config`: the daemon exits 1 when this file changes. */
  readonly configPath?: string;

  /** @default SYSTEM_CLOCK */
  readonly clock?: Clock;
  /**
   * Every listener (tests bind to 127.0.0.1 port 0 or to nothing).
   * @default denoListen (Deno.serve) for healthz and metrics, lightListen for the health-check
   * node ports (one per eTP Local LoadBalancer Service: Deno.serve costs ~10 KiB more per port)
   */
  readonly listen?: ListenFn;
  /** @default DENO_SIGNALS */
  readonly signals?: SignalRegistry;
  /** @default denoWatchFile */
  readonly watchFile?: FileWatcher;
  /** Leaves the process at once on a second signal. @default Deno.exit */
  readonly exit?: (code: number) => void;
  /** /proc/sys and /sys access for start-up sysctls. @default DENO_KERNEL_FILES */
  readonly kernelFiles?: KernelFiles;
  /** The node's CPU count for `nf_conntrack_max`. @default detectCpuCount() */
  readonly cpus?: number;
  /** /proc reader for process_* metrics. @default denoProcReader */
  readonly readProc?: ProcReader;
  /** Local addresses, for health-check ports with `nodePortAddresses`. @default interfaces */
  readonly localAddresses?: () => readonly string[];
  /**
   * Deletion timestamp and autoscaler taint of this node's Node object, which the model does
   * not expose yet. @default never deleting, never tainted
   */
  readonly nodeCondition?: () => Pick<NodeEligibility, "deleting" | "toBeDeletedTaint">;
  /** The families the backend programs. @default ["IPv4", "IPv6"] */
  readonly families?: readonly IPFamily[];
  /** `/configz`'s document. @default configToFile(config) */
  readonly configz?: () => unknown;
  /** @default SHUTDOWN_TIMEOUT_MS */
  readonly shutdownTimeoutMs?: number;
  /** Called once the healthz and metrics servers listen. */
  readonly onServing?: (servers: DaemonServers) => void;
  /** Receives the metrics registry (tests, embedding). */
  readonly onMetrics?: (registry: MetricsRegistry) => void;
}

/** Runs the proxy until a signal or a config change; resolves with the exit code. */
export async function runDaemon(deps: DaemonDeps): Promise<number> {
  const { config, log } = deps;
  const clock = deps.clock ?? SYSTEM_CLOCK;
  const listen = deps.listen ?? denoListen;
  const signals = deps.signals ?? DENO_SIGNALS;
  const families = deps.families ?? (["IPv4", "IPv6"] as const);
  const exitNow = deps.exit ?? ((code: number) => Deno.exit(code));

  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => (finish = resolve));
  let stopping = false;

  // Signals first, so a SIGTERM during start-up is honoured too.
  const handlers = (["SIGTERM", "SIGINT"] as const).map((signal) => {
    const handler = () => {
      if (stopping) {
        log.warn("Second signal received, exiting at once", { signal });
        exitNow(signal === "SIGINT" ? 130 : 143);
        return;
      }
      log.info("Received signal, shutting down; proxy rules stay in place", { signal });
      stopping = true;
      finish(0);
    };
    signals.add(signal, handler);
    return { signal, handler };
  });

  const registry = new MetricsRegistry();
  const metrics = new KubeProxyMetrics(registry, config.mode);
  registerProcessMetrics(registry, {
    read: deps.readProc ?? denoProcReader,
    startTimeMs: clock.now(),
  });
  deps.onMetrics?.(registry);

  log.info("Starting deno-kube-proxy", {
    mode: config.mode,
    hostname: config.hostnameOverride,
    syncPeriod: formatGoDuration(config.syncPeriodMs),
    minSyncPeriod: formatGoDuration(config.minSyncPeriodMs),
  });
  const kernelFiles = deps.kernelFiles ?? DENO_KERNEL_FILES;
  await applySysctls(sysctlSettingsFrom(config), {
    files: kernelFiles,
    log,
    cpus: deps.cpus ?? await detectCpuCount(kernelFiles),
  });

  // The health server asks for node state before the proxier exists; bind it late.
  const late: { proxier?: Proxier } = {};
  const lastSnapshot = (): TableSnapshot | undefined => late.proxier?.lastSnapshot;
  const health = new ProxyHealth({
    now: () => clock.now(),
    healthTimeoutMs: 2 * config.syncPeriodMs,
    node: () => ({
      known: lastSnapshot()?.node.known ?? false,
      deleting: false,
      toBeDeletedTaint: false,
      ...deps.nodeCondition?.(),
    }),
  });
  const localAddresses = deps.localAddresses ?? denoLocalAddresses;
  const serviceHealth = new ServiceHealthServer({
    listen: deps.listen ?? lightListen,
    log,
    proxyHealthy: () => health.report().healthy,
    addresses: () =>
      healthCheckAddresses(config.nodePortAddresses, lastSnapshot(), localAddresses()),
  });
  const proxier = new Proxier({
    table: deps.table,
    backend: deps.backend,
    log,
    metrics,
    health,
    now: () => clock.now(),
    families,
    conntrack: new ConntrackCleaner(deps.runner, log),
    serviceHealth,
  });
  late.proxier = proxier;
  const runner = new BoundedFrequencyRunner(() => proxier.sync(), {
    name: "sync-runner",
    minIntervalMs: config.minSyncPeriodMs,
    maxIntervalMs: config.syncPeriodMs,
    retryIntervalMs: config.syncPeriodMs,
    clock,
  });

  const servers: HttpServer[] = [];
  const bound: { healthz?: HttpServer; metrics?: HttpServer } = {};
  let bindFailed = false;
  const bind = async (
    what: "healthz" | "metrics",
    address: string,
    start: (hostname: string, port: number) => Promise<HttpServer>,
  ) => {
    if (address === "") return;
    try {
      const { hostname, port } = splitBindAddress(address);
      const server = await start(hostname, port);
      servers.push(server);
      bound[what] = server;
      log.info(`Serving ${what}`, { address: joinBindAddress(server.hostname, server.port) });
    } catch (error) {
      log.error(`Cannot serve ${what}`, {
        address,
        err: error instanceof Error ? error.message : String(error),
      });
      if (config.bindAddressHardFail) bindFailed = true;
    }
  };
  await bind(
    "healthz",
    config.healthzBindAddress,
    (hostname, port) =>
      serveHealthz(listen, hostname, port, health, {
        healthz: metrics.healthzTotal,
        livez: metrics.livezTotal,
      }),
  );
  await bind(
    "metrics",
    config.metricsBindAddress,
    (hostname, port) =>
      serveMetrics(listen, hostname, port, {
        registry,
        mode: config.mode,
        configz: deps.configz ?? (() => configToFile(config)),
      }),
  );
  deps.onServing?.(bound);

  let source: DaemonSource | undefined;
  let watcher: { close(): void } | undefined;
  if (bindFailed) {
    log.error("Exiting because bindAddressHardFail is set");
    finish(1);
  } else if (!stopping) {
    if (deps.configPath !== undefined) {
      try {
        watcher = (deps.watchFile ?? denoWatchFile)(deps.configPath, () => {
          if (stopping) return;
          // Upstream's words: its command fails with this error and its supervisor restarts it.
          log.error("command failed", { err: CONFIG_CHANGED_MESSAGE, file: deps.configPath });
          stopping = true;
          finish(1);
        });
      } catch (error) {
        log.warn("Cannot watch the config file; changes to it need a restart", {
          file: deps.configPath,
          err: error instanceof Error ? error.message : String(error),
        });
      }
    }
    // Upstream's SyncLoop start counts as an update: healthy while starting up.
    for (const family of families) health.updated(family);
    runner.start();
    // Whether a sync was asked for since the table became synced: then the source's "synced"
    // need not ask again (a second request during the first sync would cost a no-op sync and
    // hold the next real change back by minSyncPeriod).
    let syncRequested = false;
    try {
      source = await deps.source((kind) => {
        proxier.queueChange(kind);
        // Like upstream, no sync is requested before the table is synced, so the first real
        // sync is not held back by a no-op sync's minSyncPeriod cooldown.
        if (deps.table.synced) {
          syncRequested = true;
          runner.run();
        }
      });
      registry.onCollect(() => {
        metrics.apiConnected.set({}, source?.connected ? 1 : 0);
        const since = source?.servingFromStateSince;
        metrics.servingFromStateFileSince.set({}, since ? since.getTime() / 1000 : 0);
      });
      const started = source;
      started.start().then(
        () => {
          if (stopping) return;
          log.info("Services, EndpointSlices and the Node are synced", {
            fromStateFile: started.servingFromStateSince !== null,
          });
          if (!syncRequested) runner.run();
        },
        (error) => {
          if (stopping) return;
          log.error("The API source stopped", {
            err: error instanceof Error ? error.message : String(error),
          });
          stopping = true;
          finish(1);
        },
      );
    } catch (error) {
      log.error("Cannot start watching the API server", {
        err: error instanceof Error ? error.message : String(error),
      });
      stopping = true;
      finish(1);
    }
  }

  const code = await finished;
  stopping = true;
  const deadline = new AbortController();
  const done = await Promise.race([
    Promise.allSettled([
      source?.stop(),
      runner.stop(),
      serviceHealth.close(),
      ...servers.map((s) => s.close()),
    ]).then(() => true),
    clock.sleep(deps.shutdownTimeoutMs ?? SHUTDOWN_TIMEOUT_MS, deadline.signal).then(() => false),
  ]);
  deadline.abort();
  watcher?.close();
  for (const { signal, handler } of handlers) signals.remove(signal, handler);
  if (!done) log.warn("Shutdown did not finish in time; exiting anyway", {});
  log.info("Stopped", { exitCode: code });
  return code;
}
