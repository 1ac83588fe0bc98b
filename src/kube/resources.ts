/**
 * The three API resources kube-proxy reads, with upstream's selectors: Services and
 * EndpointSlices without `service.kubernetes.io/service-proxy-name` (another proxy owns them) and
 * without `service.kubernetes.io/headless` (nothing to program), and only this node's Node.
 *
 * @module
 */

import type { V1EndpointSlice, V1Node, V1ObjectMeta, V1Service } from "@kubernetes/client-node";
import type { SyncSource } from "../model/mod.ts";

/** Any API object: all the watcher itself looks at is its metadata. */
export interface KubeObject {
  metadata?: V1ObjectMeta;
}

/** One resource to list and watch. */
export interface ResourceType {
  /** The table's name for this source. */
  readonly source: SyncSource;
  /** The resource name, as in RBAC and URLs. */
  readonly resource: "services" | "endpointslices" | "nodes";
  /** The object kind. */
  readonly kind: "Service" | "EndpointSlice" | "Node";
  /** The cluster-wide collection path. */
  readonly path: string;
}

/** Services (core/v1). */
export const SERVICES: ResourceType = Object.freeze({
  source: "services",
  resource: "services",
  kind: "Service",
  path: "/api/v1/services",
});

/** EndpointSlices (discovery.k8s.io/v1). */
export const ENDPOINT_SLICES: ResourceType = Object.freeze({
  source: "endpointSlices",
  resource: "endpointslices",
  kind: "EndpointSlice",
  path: "/apis/discovery.k8s.io/v1/endpointslices",
});

/** Nodes (core/v1). */
export const NODES: ResourceType = Object.freeze({
  source: "node",
  resource: "nodes",
  kind: "Node",
  path: "/api/v1/nodes",
});

/**
 * Upstream's label selector for Services and EndpointSlices (cmd/kube-proxy/app/server.go:
 * "does not exist" requirements on both labels, printed sorted by key as client-go does).
 */
export const PROXYABLE_SELECTOR = "!service.kubernetes.io/headless," +
  "!service.kubernetes.io/service-proxy-name";

/** Selectors for one resource. */
export interface Selectors {
  readonly labelSelector: string;
  readonly fieldSelector: string;
}

/** The selectors kube-proxy uses for `type` on node `nodeName`. */
export function selectorsFor(type: ResourceType, nodeName: string): Selectors {
  return type === NODES
    ? { labelSelector: "", fieldSelector: `metadata.name=${nodeName}` }
    : { labelSelector: PROXYABLE_SELECTOR, fieldSelector: "" };
}

/** The object types per source, for typed callbacks. */
export interface ObjectsBySource {
  readonly services: V1Service;
  readonly endpointSlices: V1EndpointSlice;
  readonly node: V1Node;
}

/** `namespace/name` (or `name` for cluster-scoped objects): the store key. */
export function objectKey(object: KubeObject): string {
  const namespace = object.metadata?.namespace ?? "";
  const name = object.metadata?.name ?? "";
  // Kept as a map key per object: one flat string, not a rope.
  return namespace === "" ? name : [namespace, name].join("/");
}
