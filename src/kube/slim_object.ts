/**
 * Trims API objects that are kept for a while (this node's Node object) or listed in one go
 * (`--dry-run` against the API server) down to what kube-proxy reads.
 *
 * @module
 */

import type { KubeObject } from "./resources.ts";

/**
 * Metadata kube-proxy never reads. `managedFields` and kubectl's `last-applied-configuration`
 * annotation alone often outweigh the spec.
 */
const UNREAD_METADATA = ["managedFields", "annotations", "ownerReferences"] as const;

/**
 * Drops what kube-proxy never reads and that only costs memory and state-file bytes (the store
 * holds every object for the state file): `metadata.managedFields`, `annotations` and
 * `ownerReferences` on every object, each EndpointSlice endpoint's `targetRef` (the Pod it
 * names), and a Node's `status.images` (often hundreds of entries). Labels, uid and
 * resourceVersion stay. Returns the object itself when there is nothing to drop.
 */
export function slimObject<T extends KubeObject>(object: T): T {
  let result = object;
  const metadata = object.metadata;
  if (metadata !== undefined && UNREAD_METADATA.some((field) => metadata[field] !== undefined)) {
    const { managedFields: _m, annotations: _a, ownerReferences: _o, ...kept } = metadata;
    result = { ...result, metadata: kept };
  }
  const endpoints = (result as { endpoints?: unknown }).endpoints;
  if (Array.isArray(endpoints) && endpoints.some(hasTargetRef)) {
    result = { ...result, endpoints: endpoints.map(withoutTargetRef) } as T;
  }
  const status = (result as { status?: { images?: unknown } }).status;
  if (
    status !== undefined && status !== null && typeof status === "object" &&
    status.images !== undefined
  ) {
    const { images: _dropped, ...rest } = status;
    result = { ...result, status: rest } as T;
  }
  return result;
}

function hasTargetRef(endpoint: unknown): boolean {
  return typeof endpoint === "object" && endpoint !== null &&
    (endpoint as { targetRef?: unknown }).targetRef !== undefined;
}

function withoutTargetRef(endpoint: unknown): unknown {
  if (!hasTargetRef(endpoint)) return endpoint;
  const { targetRef: _dropped, ...rest } = endpoint as { targetRef?: unknown };
  return rest;
}
