/**
 * The API side of kube-proxy: find the API server (kubeconfig, `--master`, in-cluster), keep the
 * endpoint table fed by watch or poll, and cover for an unreachable API server with the state
 * file.
 *
 * ```ts
 * const table = new EndpointTable(tableOptions);
 * const source = await createClusterSource({
 *   kubeconfig: config.clientConnection.kubeconfig, master: cli.master,
 *   qps: config.clientConnection.qps, burst: config.clientConnection.burst,
 *   contentType: config.clientConnection.contentType,
 *   apiMode: "watch", pollIntervalMs: 10_000, configSyncPeriodMs: 900_000,
 *   stateFile: "/var/lib/kube-proxy/state.json", nodeName: "edge-1",
 * }, {
 *   table, onChange: () => syncRunner.schedule(), log,
 *   env: (name) => Deno.env.get(name), readTextFile: (path) => Deno.readTextFile(path),
 *   clock: SYSTEM_CLOCK,
 * }); // throws ApiConfigError when no API server is configured: exit 1
 * await source.start(); // synced from the API server or the state file
 * ```
 *
 * @module
 */

import type { V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node";
import type { Logger } from "../log.ts";
import type { ClusterObjects } from "./objects_file.ts";
import { DENO_STATE_FS, type StateFs } from "../state/state_file.ts";
import { DEFAULT_STATE_SAVE_INTERVAL_MS } from "../state/state_saver.ts";
import {
  ApiClient,
  denoHttpTransport,
  type HttpTransport,
  type HttpTransportFactory,
} from "./api_client.ts";
import type { BackoffOptions } from "./backoff.ts";
import type { Clock } from "./clock.ts";
import {
  ApiClusterSource,
  type ClusterSource,
  type SourceChangeKind,
  type TableSink,
} from "./cluster_source.ts";
import type { ApiError } from "./errors.ts";
import { resolveConnection } from "./connection.ts";
import { TokenBucket } from "./rate_limiter.ts";
import { DEFAULT_PAGE_SIZE, MIN_WATCH_TIMEOUT_SECONDS } from "./reflector.ts";
import { ENDPOINT_SLICES, NODES, type ResourceType, selectorsFor, SERVICES } from "./resources.ts";
import { slimObject } from "./slim_object.ts";

export {
  type ApiClientDeps,
  denoHttpTransport,
  type HttpTransport,
  type HttpTransportFactory,
} from "./api_client.ts";
export {
  Backoff,
  type BackoffOptions,
  DEFAULT_BACKOFF_CAP_MS,
  DEFAULT_BACKOFF_INITIAL_MS,
} from "./backoff.ts";
export { type Clock, SYSTEM_CLOCK } from "./clock.ts";
export {
  ApiClusterSource,
  type ClusterSource,
  type SourceChangeKind,
  type TableSink,
} from "./cluster_source.ts";
export {
  type ApiConnection,
  type ConnectionDeps,
  type ConnectionOptions,
  type Credentials,
  resolveConnection,
  SERVICE_ACCOUNT_DIR,
  type TransportSettings,
} from "./connection.ts";
export { ApiConfigError, ApiError, type ApiErrorDetails, type ApiErrorKind } from "./errors.ts";
export { TokenBucket } from "./rate_limiter.ts";
export { PROXYABLE_SELECTOR } from "./resources.ts";

/** The plain settings the CLI hands over (from the resolved config and our flags). */
export interface KubeSourceOptions {
  /** `clientConnection.kubeconfig` (`--kubeconfig`); `""` for none. */
  readonly kubeconfig: string;
  /** `--master`; `""` for none. */
  readonly master: string;
  /** `clientConnection.qps`; `<= 0` disables client-side rate limiting. */
  readonly qps: number;
  /** `clientConnection.burst`. */
  readonly burst: number;
  /** `clientConnection.contentType`: protobuf is not supported (warning; JSON is used). */
  readonly contentType: string;
  /** `--api-mode`. */
  readonly apiMode: "watch" | "poll";
  /** `--api-poll-interval` in milliseconds. */
  readonly pollIntervalMs: number;
  /** `configSyncPeriod` in milliseconds. */
  readonly configSyncPeriodMs: number;
  /** `--state-file`; `""` disables it. */
  readonly stateFile: string;
  /** This node's name. */
  readonly nodeName: string;
  /**
   * The User-Agent header.
   * @default "deno-kube-proxy"
   */
  readonly userAgent?: string;
  /**
   * Tuning, mostly for tests: a LIST page or a WATCH's headers must come within this.
   * @default 60000
   */
  readonly requestTimeoutMs?: number;
  /** Tuning: retry delays (default 800 ms doubling to 30 s). */
  readonly backoff?: BackoffOptions;
  /**
   * Tuning: LIST page size.
   * @default 500
   */
  readonly pageSize?: number;
  /**
   * Tuning: restore from the state file if the API server has not delivered everything by
   * then, even without an error.
   * @default 10000
   */
  readonly initialSyncTimeoutMs?: number;
  /**
   * Tuning: watches ask for a random timeoutSeconds between this and twice this.
   * @default 300
   */
  readonly minWatchTimeoutSeconds?: number;
  /**
   * Tuning: minimum time between state-file writes.
   * @default 5000
   */
  readonly stateSaveIntervalMs?: number;
}

/** The outside world, injected. */
export interface KubeSourceDeps {
  /** The table to feed (an `EndpointTable`). */
  readonly table: TableSink;
  /**
   * Called after each change delivered to the table (with its kind, for the change metrics),
   * and without a kind when a source became synced; schedule a sync here.
   */
  readonly onChange?: (kind?: SourceChangeKind) => void;
  readonly log: Logger;
  /** Reads an environment variable (in-cluster config). */
  readonly env: (name: string) => string | undefined;
  /** Reads kubeconfig, certificate and token files. */
  readonly readTextFile: (path: string) => Promise<string>;
  readonly clock: Clock;
  /**
   * Jitter source.
   * @default Math.random
   */
  readonly random?: () => number;
  /**
   * HTTP.
   * @default denoHttpTransport
   */
  readonly httpTransport?: HttpTransportFactory;
  /**
   * State-file I/O.
   * @default DENO_STATE_FS
   */
  readonly stateFs?: StateFs;
  /**
   * Called after each LIST page was applied to the table.
   * @default the program's heap trim (see `ClusterSourceDeps.trim`)
   */
  readonly trim?: () => void;
}

/** A running source plus what it holds open; stop() releases everything. */
class OwningClusterSource implements ClusterSource {
  readonly #inner: ApiClusterSource;
  readonly #transport: HttpTransport;
  #closed = false;

  constructor(inner: ApiClusterSource, transport: HttpTransport) {
    this.#inner = inner;
    this.#transport = transport;
  }

  get connected(): boolean {
    return this.#inner.connected;
  }

  get servingFromStateSince(): Date | null {
    return this.#inner.servingFromStateSince;
  }

  get lastError(): ApiError | null {
    return this.#inner.lastError;
  }

  get node(): V1Node | null {
    return this.#inner.node;
  }

  start(): Promise<void> {
    return this.#inner.start();
  }

  async stop(): Promise<void> {
    await this.#inner.stop();
    if (!this.#closed) {
      this.#closed = true;
      this.#transport.close();
    }
  }
}

/**
 * Resolves the connection and builds a {@linkcode ClusterSource}; nothing is requested until
 * `start()`.
 *
 * @throws {ApiConfigError} when no API server is configured or a credential file is unusable
 *   (the CLI prints the message and exits 1).
 */
export async function createClusterSource(
  options: KubeSourceOptions,
  deps: KubeSourceDeps,
): Promise<ClusterSource> {
  const { client, transport } = await makeClient(options, deps);
  const source = new ApiClusterSource({
    nodeName: options.nodeName,
    apiMode: options.apiMode,
    pollIntervalMs: options.pollIntervalMs,
    configSyncPeriodMs: options.configSyncPeriodMs,
    stateFile: options.stateFile,
    pageSize: options.pageSize ?? DEFAULT_PAGE_SIZE,
    backoff: options.backoff ?? {},
    initialSyncTimeoutMs: options.initialSyncTimeoutMs ?? 10_000,
    minWatchTimeoutSeconds: options.minWatchTimeoutSeconds ?? MIN_WATCH_TIMEOUT_SECONDS,
    stateSaveIntervalMs: options.stateSaveIntervalMs ?? DEFAULT_STATE_SAVE_INTERVAL_MS,
  }, {
    client,
    table: deps.table,
    onChange: deps.onChange ?? (() => {}),
    clock: deps.clock,
    random: deps.random ?? Math.random,
    log: deps.log,
    stateFs: deps.stateFs ?? DENO_STATE_FS,
    ...(deps.trim === undefined ? {} : { trim: deps.trim }),
  });
  return new OwningClusterSource(source, transport);
}

/**
 * Lists Services, EndpointSlices and this Node once (paginated, consistent), for `--dry-run`
 * without `--objects`. Returns them in the shape of an objects file.
 *
 * @throws {ApiConfigError} when no API server is configured.
 * @throws {ApiError} when a LIST fails.
 */
export async function listClusterObjects(
  options: KubeSourceOptions,
  deps: Omit<KubeSourceDeps, "table" | "onChange" | "stateFs">,
): Promise<ClusterObjects> {
  const { client, transport } = await makeClient(options, deps);
  try {
    const listAll = async (type: ResourceType) => {
      const selectors = selectorsFor(type, options.nodeName);
      const items: unknown[] = [];
      let token = "";
      do {
        const page = await client.listPage(type, {
          ...selectors,
          limit: options.pageSize ?? DEFAULT_PAGE_SIZE,
          ...(token === "" ? {} : { continue: token }),
        });
        for (const item of page.items) items.push(slimObject(item));
        token = page.continue;
      } while (token !== "");
      return items;
    };
    const [services, endpointSlices, nodes] = await Promise.all([
      listAll(SERVICES),
      listAll(ENDPOINT_SLICES),
      listAll(NODES),
    ]);
    return {
      services: services as V1Service[],
      endpointSlices: endpointSlices as V1EndpointSlice[],
      nodes: nodes as V1Node[],
      warnings: [],
    };
  } finally {
    transport.close();
  }
}

async function makeClient(
  options: KubeSourceOptions,
  deps: Pick<KubeSourceDeps, "log" | "env" | "readTextFile" | "clock" | "httpTransport">,
): Promise<{ client: ApiClient; transport: HttpTransport }> {
  const connection = await resolveConnection(
    { kubeconfig: options.kubeconfig, master: options.master },
    { env: deps.env, readTextFile: deps.readTextFile, clock: deps.clock, log: deps.log },
  );
  if (/protobuf/i.test(options.contentType)) {
    deps.log.warn("Protobuf is not supported for API requests; using JSON", {
      contentType: options.contentType,
    });
  }
  deps.log.info("Connecting to the API server", {
    server: connection.server,
    source: connection.source,
    credentials: connection.credentials.description,
  });
  const transport = (deps.httpTransport ?? denoHttpTransport)(connection.transport);
  const client = new ApiClient(connection, {
    transport,
    clock: deps.clock,
    limiter: new TokenBucket(options.qps, options.burst),
    requestTimeoutMs: options.requestTimeoutMs ?? 60_000,
    userAgent: options.userAgent ?? "deno-kube-proxy",
  });
  return { client, transport };
}
