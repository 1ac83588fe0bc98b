/**
 * The watcher's copy of one resource's objects, keyed by namespace/name. Applying a watch event
 * or a whole LIST returns the changes the table must hear about; an object whose uid and
 * resourceVersion did not change produces none, which is what makes poll mode and relists cheap
 * and silent.
 *
 * @module
 */

import { type KubeObject, objectKey } from "./resources.ts";

/** One change to deliver to the table. */
export type StoreChange<T> =
  | { readonly type: "add"; readonly object: T }
  | { readonly type: "update"; readonly previous: T; readonly object: T }
  | { readonly type: "delete"; readonly object: T };

/** Objects of one resource. */
export class ObjectStore<T extends KubeObject> {
  readonly #objects = new Map<string, T>();

  /** How many objects are held. */
  get size(): number {
    return this.#objects.size;
  }

  /** The objects, in no particular order. */
  values(): IterableIterator<T> {
    return this.#objects.values();
  }

  /** The object with this key, if any. */
  get(key: string): T | undefined {
    return this.#objects.get(key);
  }

  /** Adds or replaces one object; null when it is unchanged. */
  upsert(object: T): StoreChange<T> | null {
    const key = objectKey(object);
    const previous = this.#objects.get(key);
    this.#objects.set(key, object);
    if (previous === undefined) return { type: "add", object };
    if (sameVersion(previous, object)) {
      // Keep the object the table already has, so later updates name the right previous one.
      this.#objects.set(key, previous);
      return null;
    }
    return { type: "update", previous, object };
  }

  /** Removes one object; null when it was not held. */
  remove(object: T): StoreChange<T> | null {
    const key = objectKey(object);
    const previous = this.#objects.get(key);
    if (previous === undefined) return null;
    this.#objects.delete(key);
    return { type: "delete", object: previous };
  }

  /**
   * Makes the store hold exactly `objects` (a full LIST) and returns what changed: deletes for
   * objects that vanished, then adds and updates, each in key order.
   */
  replace(objects: readonly T[]): StoreChange<T>[] {
    const incoming = new Map<string, T>();
    for (const object of objects) incoming.set(objectKey(object), object);
    const changes: StoreChange<T>[] = [];
    for (const key of [...this.#objects.keys()].sort()) {
      if (!incoming.has(key)) {
        const object = this.#objects.get(key) as T;
        this.#objects.delete(key);
        changes.push({ type: "delete", object });
      }
    }
    for (const key of [...incoming.keys()].sort()) {
      const change = this.upsert(incoming.get(key) as T);
      if (change !== null) changes.push(change);
    }
    return changes;
  }
}

/**
 * Same object, same version: equal uid and resourceVersion when both carry them, else deep
 * equality (objects from a hand-made or older state file may lack either).
 */
export function sameVersion(a: KubeObject, b: KubeObject): boolean {
  const ua = a.metadata?.uid ?? "";
  const ub = b.metadata?.uid ?? "";
  const ra = a.metadata?.resourceVersion ?? "";
  const rb = b.metadata?.resourceVersion ?? "";
  if (ra !== "" && rb !== "" && (ua === "") === (ub === "")) return ua === ub && ra === rb;
  return deepEqual(a, b);
}

/** Structural equality of JSON values. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) =>
    deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
  );
}

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
