/**
 * A stand-in for the proxy program: the endpoint table and a backend driven from the test
 * process, applying rules inside the node namespace through a {@linkcode NetnsRunner}. Used to
 * check the backends alone (`E2E_PROXY=direct`), without the API watcher and sync loop.
 *
 * @module
 */

import type { V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node";
import type { BackendDeps, ProxyBackend } from "../../src/backend/backend.ts";
import { renderOptionsFrom } from "../../src/backend/backend.ts";
import { ConntrackCleaner, staleConntrackDeletions } from "../../src/backend/conntrack.ts";
import { decodeConfig, resolveConfig } from "../../src/config/mod.ts";
import type { ImplementedProxyMode } from "../../src/config/types.ts";
import { SILENT_LOGGER } from "../../src/log.ts";
import { EndpointTable, type TableSnapshot } from "../../src/model/mod.ts";
import type { NetnsRunner } from "../../src/runner.ts";
import { clusterObjects } from "./cluster.ts";
import { proxyConfigYaml } from "./proxy_config.ts";
import type { ProxyUnderTest, Resource } from "./proxy.ts";
import { CLUSTER_CIDRS, NODE1 } from "./topology.ts";

/** Builds a backend for `mode` (the caller picks the class, so this file needs neither). */
export type BackendFactory = (mode: ImplementedProxyMode, deps: BackendDeps) => ProxyBackend;

type AnyObject = V1Service | V1EndpointSlice | V1Node;

function keyOf(resource: Resource, namespace: string, name: string): string {
  return `${resource}/${namespace}/${name}`;
}

/** Table + backend in the test process; see the module documentation. */
export class DirectProxy implements ProxyUnderTest {
  readonly mode: ImplementedProxyMode;
  readonly #backend: ProxyBackend;
  readonly #makeBackend: BackendFactory;
  readonly #deps: BackendDeps;
  readonly #conntrack: ConntrackCleaner;
  readonly #table = new EndpointTable({
    nodeName: NODE1.name,
    detectLocalMode: "ClusterCIDR",
    clusterCIDRs: [...CLUSTER_CIDRS],
    bridgeInterface: "",
    interfaceNamePrefix: "",
  });
  readonly #objects = new Map<string, AnyObject>();
  #previous: TableSnapshot | undefined;

  /** @param runner Runs the kernel tools inside the node namespace. */
  constructor(mode: ImplementedProxyMode, runner: NetnsRunner, makeBackend: BackendFactory) {
    this.mode = mode;
    const config = resolveConfig(decodeConfig(proxyConfigYaml(mode, "/dev/null")).file);
    this.#deps = { runner, log: SILENT_LOGGER, options: renderOptionsFrom(config) };
    this.#makeBackend = makeBackend;
    this.#backend = makeBackend(mode, this.#deps);
    this.#conntrack = new ConntrackCleaner(runner, SILENT_LOGGER);
  }

  /** Loads the whole cluster and programs the rules once. */
  async start(): Promise<void> {
    for (const [resource, object] of clusterObjects()) this.#store(resource, object);
    this.#table.markSynced("services");
    this.#table.markSynced("endpointSlices");
    this.#table.markSynced("node");
    await this.#sync(true);
  }

  /** Creates or replaces an object and syncs at once. */
  async apply(resource: Resource, object: AnyObject): Promise<void> {
    this.#store(resource, object);
    await this.#sync(false);
  }

  /** Deletes an object and syncs at once. */
  async delete(resource: Resource, namespace: string, name: string): Promise<void> {
    const key = keyOf(resource, namespace, name);
    const previous = this.#objects.get(key);
    if (previous === undefined) return;
    this.#objects.delete(key);
    if (resource === "services") this.#table.onServiceDelete(previous as V1Service);
    else if (resource === "endpointslices") {
      this.#table.onEndpointSliceDelete(previous as V1EndpointSlice);
    } else this.#table.onNodeDelete(previous as V1Node);
    await this.#sync(false);
  }

  /** Never exits: nothing runs in the background. */
  exitCode(): number | null {
    return null;
  }

  /** Nothing runs in the background. */
  stop(): Promise<void> {
    return Promise.resolve();
  }

  /** Removes both modes' rules, as `--cleanup` does. */
  async cleanup(): Promise<void> {
    await this.#makeBackend("iptables", this.#deps).cleanup();
    await this.#makeBackend("nftables", this.#deps).cleanup();
  }

  /** No process, no log. */
  output(): string {
    return "";
  }

  #store(resource: Resource, object: AnyObject): void {
    const key = keyOf(resource, object.metadata?.namespace ?? "", object.metadata?.name ?? "");
    const previous = this.#objects.get(key);
    this.#objects.set(key, object);
    if (resource === "services") {
      if (previous === undefined) this.#table.onServiceAdd(object as V1Service);
      else this.#table.onServiceUpdate(previous as V1Service, object as V1Service);
    } else if (resource === "endpointslices") {
      if (previous === undefined) this.#table.onEndpointSliceAdd(object as V1EndpointSlice);
      else {
        this.#table.onEndpointSliceUpdate(
          previous as V1EndpointSlice,
          object as V1EndpointSlice,
        );
      }
    } else if (previous === undefined) this.#table.onNodeAdd(object as V1Node);
    else this.#table.onNodeUpdate(previous as V1Node, object as V1Node);
  }

  async #sync(full: boolean): Promise<void> {
    const snapshot = this.#table.snapshot();
    await this.#backend.sync({ snapshot, full });
    await this.#conntrack.apply(staleConntrackDeletions(this.#previous, snapshot));
    this.#previous = snapshot;
  }
}
