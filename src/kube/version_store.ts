/**
 * What the watcher remembers of one resource: each object's uid and resourceVersion, keyed by
 * namespace/name, and nothing else. Applying a watch event or a LIST returns the changes the
 * table must hear about; an object whose uid and resourceVersion did not change produces none,
 * which is what makes poll mode and relists cheap and silent. The objects themselves are handed
 * to the table and dropped: the table keeps what it reads, and the state file is written from the
 * table (at 10k Services the objects cost ~30 MiB of heap).
 *
 * @module
 */

import { type KubeObject, objectKey } from "./resources.ts";

/**
 * One change to deliver to the table. `previous` (update) and the deleted `object` carry only
 * the metadata the store kept: namespace, name, uid and resourceVersion.
 */
export type StoreChange<T> =
  | { readonly type: "add"; readonly object: T }
  | { readonly type: "update"; readonly previous: T; readonly object: T }
  | { readonly type: "delete"; readonly object: T };

/** The uid and resourceVersion of one object, as the store keeps them. */
export interface ObjectVersion {
  readonly uid: string;
  readonly resourceVersion: string;
}

/**
 * What identifies a version, as one string per object:
 *
 * - SOH and its JSON text, for an object without a resourceVersion (a hand-made state file, a
 *   test server);
 * - STX, the uid's 16 bytes as 16 one-byte characters and the resourceVersion, when the uid is a
 *   UUID in the API server's lowercase form (always, from a real API server): 40 bytes per
 *   object instead of 64 (0.5 MiB at 10k Services);
 * - otherwise ETX, the uid, NUL and the resourceVersion.
 *
 * The first character tells the forms apart, so two versions share a fingerprint only when they
 * are the same version.
 */
function fingerprint(object: KubeObject): string {
  const rv = object.metadata?.resourceVersion ?? "";
  if (rv === "") return `\u0001${JSON.stringify(object)}`;
  const uid = object.metadata?.uid ?? "";
  const packed = packUuid(uid);
  // Kept per object: one flat string (see src/model/compact.ts `flat`), not a rope.
  return packed === null ? ["\u0003", uid, "\u0000", rv].join("") : ["\u0002", packed, rv].join("");
}

function versionOf(value: string): ObjectVersion {
  if (value.startsWith("\u0001")) return { uid: "", resourceVersion: "" };
  if (value.startsWith("\u0002")) {
    return { uid: unpackUuid(value.slice(1, 17)), resourceVersion: value.slice(17) };
  }
  const nul = value.indexOf("\u0000");
  return { uid: value.slice(1, nul), resourceVersion: value.slice(nul + 1) };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A lowercase UUID as 16 characters U+0000–U+00FF (its bytes); null for anything else. */
function packUuid(uid: string): string | null {
  if (!UUID.test(uid)) return null;
  const hex = uid.replaceAll("-", "");
  let out = "";
  for (let i = 0; i < 32; i += 2) out += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16));
  return out;
}

function unpackUuid(packed: string): string {
  let hex = "";
  for (let i = 0; i < packed.length; i++) {
    hex += packed.charCodeAt(i).toString(16).padStart(2, "0");
  }
  return [
    hex.slice(0, 8),
    hex.slice(8, 12),
    hex.slice(12, 16),
    hex.slice(16, 20),
    hex.slice(20),
  ].join("-");
}

/** A full LIST being applied page by page: see {@linkcode VersionStore.startList}. */
export interface ListDiff<T> {
  /** Applies one page; returns its adds and updates. */
  page(objects: readonly T[]): StoreChange<T>[];
  /** Ends the LIST: removes what no page held and returns those deletes, in key order. */
  finish(): StoreChange<T>[];
}

/** Versions of one resource's objects. */
export class VersionStore<T extends KubeObject> {
  readonly #versions = new Map<string, string>();

  /** How many objects are known. */
  get size(): number {
    return this.#versions.size;
  }

  /** The keys (`namespace/name`, or `name`) of the known objects, in no particular order. */
  keys(): IterableIterator<string> {
    return this.#versions.keys();
  }

  /** The uid and resourceVersion of the object with this key, if known. */
  version(key: string): ObjectVersion | undefined {
    const value = this.#versions.get(key);
    return value === undefined ? undefined : versionOf(value);
  }

  /** Records one object; null when that version is already known. */
  upsert(object: T): StoreChange<T> | null {
    const key = objectKey(object);
    const next = fingerprint(object);
    const previous = this.#versions.get(key);
    if (previous === next) return null;
    this.#versions.set(key, next);
    if (previous === undefined) return { type: "add", object };
    return { type: "update", previous: this.#stub(key, previous), object };
  }

  /** Forgets one object; null when it was not known. */
  remove(object: T): StoreChange<T> | null {
    return this.#removeKey(objectKey(object));
  }

  /**
   * Starts applying a full LIST whose pages are applied as they arrive, so a LIST of 10k
   * objects never has to be held at once. Until `finish()`, objects missing from the LIST are
   * kept; a LIST abandoned half-way simply never finishes.
   */
  startList(): ListDiff<T> {
    const seen = new Set<string>();
    return {
      page: (objects) => {
        const changes: StoreChange<T>[] = [];
        for (const object of objects) {
          seen.add(objectKey(object));
          const change = this.upsert(object);
          if (change !== null) changes.push(change);
        }
        return changes;
      },
      finish: () => {
        const changes: StoreChange<T>[] = [];
        for (const key of [...this.#versions.keys()].sort()) {
          if (seen.has(key)) continue;
          const change = this.#removeKey(key);
          if (change !== null) changes.push(change);
        }
        return changes;
      },
    };
  }

  /**
   * Makes the store hold exactly `objects` (a whole LIST at once) and returns what changed:
   * adds and updates in key order, then deletes in key order.
   */
  replace(objects: readonly T[]): StoreChange<T>[] {
    const list = this.startList();
    const sorted = objects.map((o) => ({ key: objectKey(o), o }))
      .sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
      .map((k) => k.o);
    return [...list.page(sorted), ...list.finish()];
  }

  #removeKey(key: string): StoreChange<T> | null {
    const previous = this.#versions.get(key);
    if (previous === undefined) return null;
    this.#versions.delete(key);
    return { type: "delete", object: this.#stub(key, previous) };
  }

  /** An object carrying only the identity the store kept. */
  #stub(key: string, value: string): T {
    const slash = key.indexOf("/");
    const version = versionOf(value);
    return {
      metadata: {
        ...(slash < 0 ? {} : { namespace: key.slice(0, slash) }),
        name: slash < 0 ? key : key.slice(slash + 1),
        ...(version.uid === "" ? {} : { uid: version.uid }),
        ...(version.resourceVersion === "" ? {} : { resourceVersion: version.resourceVersion }),
      },
    } as T;
  }
}
