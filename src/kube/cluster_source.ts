/**
 * The cluster as kube-proxy sees it: three reflectors (Services, EndpointSlices, this Node) feed
 * the endpoint table, and the state file covers for the API server when it is unreachable.
 *
 * Start-up: the reflectors start listing at once. If any of them fails before all three have
 * listed (or nothing completes within `initialSyncTimeoutMs`), the state file is read and every
 * source not yet listed is restored from it and marked synced, so rules can be programmed; the
 * reflectors keep retrying, and their first successful LIST diffs the API's truth against the
 * restored objects (objects gone meanwhile become deletes). The state file is written only from
 * complete API views, never from a restore.
 *
 * @module
 */

import type { V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node";
import type { Logger } from "../log.ts";
import { heapReclaimer } from "../reclaim.ts";
import type { SavedObjects, SyncSource } from "../model/mod.ts";
import {
  type ClusterState,
  readStateFile,
  type StateFs,
  type StateToWrite,
} from "../state/state_file.ts";
import { StateSaver } from "../state/state_saver.ts";
import type { ApiClient } from "./api_client.ts";
import type { BackoffOptions } from "./backoff.ts";
import type { Clock } from "./clock.ts";
import type { ApiError } from "./errors.ts";
import { Reflector } from "./reflector.ts";
import { slimObject } from "./slim_object.ts";
import { type StoreChange, VersionStore } from "./version_store.ts";
import {
  ENDPOINT_SLICES,
  type KubeObject,
  NODES,
  objectKey,
  type ResourceType,
  selectorsFor,
  SERVICES,
} from "./resources.ts";

/**
 * Where events go: the endpoint table's event surface (`EndpointTable` satisfies it), called
 * as upstream calls its handlers.
 */
export interface TableSink {
  onServiceAdd(service: V1Service): void;
  onServiceUpdate(previous: V1Service, current: V1Service): void;
  onServiceDelete(service: V1Service): void;
  onEndpointSliceAdd(slice: V1EndpointSlice): void;
  onEndpointSliceUpdate(previous: V1EndpointSlice, current: V1EndpointSlice): void;
  onEndpointSliceDelete(slice: V1EndpointSlice): void;
  onNodeAdd(node: V1Node): void;
  onNodeUpdate(previous: V1Node, current: V1Node): void;
  onNodeDelete(node: V1Node): void;
  markSynced(source: SyncSource): void;
  /** The Services and EndpointSlices to write to the state file, in namespace/name order. */
  objectsToSave(): SavedObjects;
}

/**
 * Which kind of object changed, for the change metrics (the same strings as the sync loop's
 * `ChangeKind`).
 */
export type SourceChangeKind = "service" | "endpointSlice" | "node";

/** The daemon's view of the cluster connection. */
export interface ClusterSource {
  /**
   * Starts reading. Resolves once the table is synced, from the API server or from the state
   * file, or when `stop()` is called first. Reading goes on in the background until `stop()`.
   */
  start(): Promise<void>;
  /** Stops every request and stream, writes pending state, and resolves when all is quiet. */
  stop(): Promise<void>;
  /** The last request of each resource succeeded. */
  readonly connected: boolean;
  /**
   * When the table was restored from the state file because the API server could not be
   * reached; null once every resource has been listed from the API server again (or if it
   * never was restored).
   */
  readonly servingFromStateSince: Date | null;
  /** The latest failure while not connected, else null. Its message is ready for an operator. */
  readonly lastError: ApiError | null;
  /**
   * This node's last-known Node object (from the API server or the state file), or null. The
   * healthz server reads `metadata.deletionTimestamp` and the `ToBeDeletedByClusterAutoscaler`
   * taint from it.
   */
  readonly node: V1Node | null;
}

/** How the source reads; the plain values come from the resolved config and flags. */
export interface ClusterSourceSettings {
  /** This node's name (Node field selector, state-file owner). */
  readonly nodeName: string;
  /** `--api-mode`. */
  readonly apiMode: "watch" | "poll";
  /** `--api-poll-interval`, poll mode. */
  readonly pollIntervalMs: number;
  /** `configSyncPeriod`: the safety-net relist period in watch mode. */
  readonly configSyncPeriodMs: number;
  /** `--state-file`; `""` disables it. */
  readonly stateFile: string;
  readonly pageSize: number;
  readonly backoff: BackoffOptions;
  /** Restore from the state file if the API server has not delivered everything by then. */
  readonly initialSyncTimeoutMs: number;
  readonly minWatchTimeoutSeconds: number;
  /** Minimum time between state-file writes. */
  readonly stateSaveIntervalMs: number;
}

/** What the source needs. */
export interface ClusterSourceDeps {
  readonly client: ApiClient;
  readonly table: TableSink;
  /**
   * Called after each change delivered to the table, with its kind, and without a kind when a
   * source became synced without changes (the daemon schedules a sync either way).
   */
  readonly onChange: (kind?: SourceChangeKind) => void;
  readonly clock: Clock;
  readonly random: () => number;
  readonly log: Logger;
  readonly stateFs: StateFs;
  /**
   * Called after each LIST page was applied to the table. Default: {@linkcode heapReclaimer}'s
   * `trim`: V8 lets the garbage of several pages pile up before it collects (at 10k × 10 the
   * LIST's peak was 87–91 MiB bundled with it left to V8, 79–81 with a trim per page).
   */
  readonly trim?: () => void;
}

const TYPES: readonly ResourceType[] = [SERVICES, ENDPOINT_SLICES, NODES];
const CHANGE_KIND: Record<SyncSource, SourceChangeKind> = {
  services: "service",
  endpointSlices: "endpointSlice",
  node: "node",
};

/** A {@linkcode ClusterSource} reading from one API server. */
export class ApiClusterSource implements ClusterSource {
  readonly #settings: ClusterSourceSettings;
  readonly #deps: ClusterSourceDeps;
  readonly #trim: () => void;
  readonly #stores = new Map<SyncSource, VersionStore<KubeObject>>();
  /** This node's Node object: the one object kept whole (healthz reads it). */
  #node: V1Node | null = null;
  readonly #health = new Map<SyncSource, ApiError | null>();
  readonly #listedFromApi = new Set<SyncSource>();
  readonly #tableSynced = new Set<SyncSource>();
  readonly #saver: StateSaver | null;
  #abort: AbortController | null = null;
  #runs: Promise<void>[] = [];
  #ready: { promise: Promise<void>; resolve: () => void } = deferred();
  #restoreStarted = false;
  #restoring: Promise<void> | null = null;
  #servingFromStateSince: Date | null = null;
  #lastError: ApiError | null = null;

  /** @param settings What to read and how. */
  constructor(settings: ClusterSourceSettings, deps: ClusterSourceDeps) {
    this.#settings = settings;
    this.#deps = deps;
    this.#trim = deps.trim ?? (() => void heapReclaimer.trim());
    for (const type of TYPES) this.#stores.set(type.source, new VersionStore());
    this.#saver = settings.stateFile === "" ? null : new StateSaver(
      settings.stateFile,
      settings.stateSaveIntervalMs,
      {
        fs: deps.stateFs,
        clock: deps.clock,
        log: deps.log,
        snapshot: () => this.#stateToSave(),
      },
    );
  }

  /** See {@linkcode ClusterSource.connected}. */
  get connected(): boolean {
    return TYPES.every((t) => this.#health.has(t.source) && this.#health.get(t.source) === null);
  }

  /** See {@linkcode ClusterSource.servingFromStateSince}. */
  get servingFromStateSince(): Date | null {
    return this.#servingFromStateSince;
  }

  /** See {@linkcode ClusterSource.lastError}. */
  get lastError(): ApiError | null {
    return this.connected ? null : this.#lastError;
  }

  /** See {@linkcode ClusterSource.node}. */
  get node(): V1Node | null {
    return this.#node;
  }

  /** See {@linkcode ClusterSource.start}. */
  async start(): Promise<void> {
    if (this.#abort !== null) throw new Error("ClusterSource.start() called twice");
    const abort = new AbortController();
    this.#abort = abort;
    const { clock, log } = this.#deps;
    log.info("Watching the API server", {
      mode: this.#settings.apiMode,
      node: this.#settings.nodeName,
    });
    this.#runs = TYPES.map((type) => this.#reflector(type).run(abort.signal));
    if (this.#saver !== null) {
      // If the API server is slow rather than down, do not leave the node without rules.
      const timer = clock.sleep(this.#settings.initialSyncTimeoutMs, abort.signal).then(() => {
        if (!abort.signal.aborted && this.#listedFromApi.size < TYPES.length) {
          log.info("The API server has not delivered everything yet; trying the state file");
          this.#restore();
        }
      });
      this.#runs.push(timer);
    }
    await this.#ready.promise;
  }

  /** See {@linkcode ClusterSource.stop}. */
  async stop(): Promise<void> {
    this.#abort?.abort();
    this.#ready.resolve();
    await Promise.all(this.#runs);
    await this.#restoring;
    await this.#saver?.stop();
  }

  #reflector(type: ResourceType): Reflector {
    const s = this.#settings;
    return new Reflector(
      {
        type,
        selectors: selectorsFor(type, s.nodeName),
        mode: s.apiMode,
        pageSize: s.pageSize,
        pollIntervalMs: s.pollIntervalMs,
        relistPeriodMs: s.configSyncPeriodMs,
        backoff: s.backoff,
        minWatchTimeoutSeconds: s.minWatchTimeoutSeconds,
      },
      {
        client: this.#deps.client,
        store: this.#stores.get(type.source) as VersionStore<KubeObject>,
        clock: this.#deps.clock,
        random: this.#deps.random,
        log: this.#deps.log,
        hooks: {
          apply: (changes) => this.#apply(type.source, changes),
          listed: () => this.#listed(type.source),
          pageApplied: this.#trim,
          health: (error) => this.#reportHealth(type.source, error),
        },
      },
    );
  }

  #apply(source: SyncSource, changes: readonly StoreChange<KubeObject>[]): void {
    if (changes.length === 0) return;
    this.#deliver(source, changes);
    if (this.#listedFromApi.size === TYPES.length) this.#saver?.markDirty();
  }

  #deliver(source: SyncSource, changes: readonly StoreChange<KubeObject>[]): void {
    const kind = CHANGE_KIND[source];
    for (const change of changes) {
      if (source === "node" && change.object.metadata?.name === this.#settings.nodeName) {
        this.#node = change.type === "delete" ? null : slimObject(change.object as V1Node);
      }
      deliver(this.#deps.table, source, change);
      this.#deps.onChange(kind);
    }
  }

  #listed(source: SyncSource): void {
    const first = !this.#tableSynced.has(source);
    this.#listedFromApi.add(source);
    this.#markSynced(source);
    if (this.#listedFromApi.size < TYPES.length) {
      if (first) this.#deps.onChange();
      return;
    }
    if (this.#servingFromStateSince !== null) {
      this.#deps.log.info(
        "Listed everything from the API server again; no longer serving from " +
          "the state file",
        { since: this.#servingFromStateSince.toISOString() },
      );
      this.#servingFromStateSince = null;
    }
    this.#saver?.markDirty();
    this.#ready.resolve();
    if (first) this.#deps.onChange();
  }

  #markSynced(source: SyncSource): void {
    if (this.#tableSynced.has(source)) return;
    this.#tableSynced.add(source);
    this.#deps.table.markSynced(source);
  }

  #reportHealth(source: SyncSource, error: ApiError | null): void {
    this.#health.set(source, error);
    if (error === null) return;
    this.#lastError = error;
    if (this.#listedFromApi.size < TYPES.length) this.#restore();
  }

  /** Reads the state file once and restores every source the API has not delivered yet. */
  #restore(): void {
    if (this.#saver === null || this.#restoreStarted) return;
    this.#restoreStarted = true;
    this.#restoring = this.#restoreNow().catch((error) => {
      this.#deps.log.error("Restoring from the state file failed", { err: error });
    });
  }

  async #restoreNow(): Promise<void> {
    const { log, clock, stateFs } = this.#deps;
    const path = this.#settings.stateFile;
    let state: ClusterState;
    try {
      state = await readStateFile(path, stateFs);
    } catch (error) {
      log.warn(
        `${error instanceof Error ? error.message : String(error)}; not restoring from it ` +
          "(rules wait for the API server)",
      );
      return;
    }
    if (state.nodeName !== this.#settings.nodeName) {
      log.warn("The state file belongs to another node; not restoring from it", {
        path,
        stateNode: state.nodeName,
        node: this.#settings.nodeName,
      });
      return;
    }
    if (this.#abort?.signal.aborted) return;
    const objects: Record<SyncSource, readonly KubeObject[]> = {
      services: state.services,
      endpointSlices: state.endpointSlices,
      node: state.node === null ? [] : [state.node],
    };
    const restored: SyncSource[] = [];
    for (const type of TYPES) {
      if (this.#listedFromApi.has(type.source)) continue;
      const store = this.#stores.get(type.source) as VersionStore<KubeObject>;
      this.#deliver(type.source, store.replace(objects[type.source]));
      this.#markSynced(type.source);
      restored.push(type.source);
    }
    if (restored.length === 0) return;
    this.#servingFromStateSince = new Date(clock.now());
    log.warn("Cannot reach the API server; serving the cluster state saved in the state file", {
      path,
      savedAt: state.savedAt,
      services: state.services.length,
      endpointSlices: state.endpointSlices.length,
      restored: restored.join(","),
    });
    this.#ready.resolve();
    this.#deps.onChange();
  }

  #stateToSave(): StateToWrite | null {
    if (this.#listedFromApi.size < TYPES.length) return null;
    const saved = this.#deps.table.objectsToSave();
    return {
      nodeName: this.#settings.nodeName,
      savedAt: new Date(this.#deps.clock.now()).toISOString(),
      services: this.#withVersions("services", saved.services),
      endpointSlices: this.#withVersions("endpointSlices", saved.endpointSlices),
      node: this.#node,
    };
  }

  /**
   * The table's objects with the uid and resourceVersion the store knows, so that after a
   * restore the first LIST recognises unchanged objects and delivers nothing for them.
   */
  *#withVersions<T extends KubeObject>(source: SyncSource, objects: Iterable<T>): Generator<T> {
    const store = this.#stores.get(source) as VersionStore<KubeObject>;
    for (const object of objects) {
      const version = store.version(objectKey(object));
      if (version === undefined || version.resourceVersion === "") {
        yield object;
        continue;
      }
      yield {
        ...object,
        metadata: {
          ...object.metadata,
          ...(version.uid === "" ? {} : { uid: version.uid }),
          resourceVersion: version.resourceVersion,
        },
      };
    }
  }
}

function deliver(table: TableSink, source: SyncSource, change: StoreChange<KubeObject>): void {
  switch (source) {
    case "services":
      if (change.type === "add") table.onServiceAdd(change.object as V1Service);
      else if (change.type === "update") {
        table.onServiceUpdate(change.previous as V1Service, change.object as V1Service);
      } else table.onServiceDelete(change.object as V1Service);
      return;
    case "endpointSlices":
      if (change.type === "add") table.onEndpointSliceAdd(change.object as V1EndpointSlice);
      else if (change.type === "update") {
        table.onEndpointSliceUpdate(
          change.previous as V1EndpointSlice,
          change.object as V1EndpointSlice,
        );
      } else table.onEndpointSliceDelete(change.object as V1EndpointSlice);
      return;
    case "node":
      if (change.type === "add") table.onNodeAdd(change.object as V1Node);
      else if (change.type === "update") {
        table.onNodeUpdate(change.previous as V1Node, change.object as V1Node);
      } else table.onNodeDelete(change.object as V1Node);
      return;
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
