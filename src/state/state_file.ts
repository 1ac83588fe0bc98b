/**
 * The state file (`--state-file`, default `/var/lib/kube-proxy/state.json`): the last-known
 * Services, EndpointSlices and Node, so a node that boots without its API server can still
 * program rules. Written atomically (temp file in the same directory, fsync, rename), so a crash
 * or a full disk leaves the previous file intact; a file that cannot be read or understood is
 * reported and ignored, never fatal.
 *
 * Encoding and decoding are pure; file access goes through {@linkcode StateFs} so tests can make
 * the disk full or unwritable.
 *
 * @module
 */

import type { V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node";
import { utf8Chunks } from "../utf8_chunks.ts";

/** Where the state file lives unless `--state-file` says otherwise. */
export const DEFAULT_STATE_FILE = "/var/lib/kube-proxy/state.json";

/** The `kind` written into every state file, so a stray JSON file is not mistaken for one. */
export const STATE_KIND = "DenoKubeProxyState";

/** Bumped whenever the layout changes incompatibly; other versions are ignored with a warning. */
export const STATE_FORMAT_VERSION = 1;

/** What a state file holds. */
export interface ClusterState {
  /** The node the state was saved by; a file from another node is ignored. */
  readonly nodeName: string;
  /** When it was saved (ISO 8601), for the log line on restore. */
  readonly savedAt: string;
  readonly services: readonly V1Service[];
  readonly endpointSlices: readonly V1EndpointSlice[];
  /** This node's Node object, or null when it was not known. */
  readonly node: V1Node | null;
}

/**
 * What is written: a {@linkcode ClusterState} whose objects may be produced one at a time while
 * the file is written (at 10k Services they would otherwise all be held at once).
 */
export interface StateToWrite {
  /** See {@linkcode ClusterState.nodeName}. */
  readonly nodeName: string;
  /** See {@linkcode ClusterState.savedAt}. */
  readonly savedAt: string;
  /** Services, already in namespace/name order. */
  readonly services: Iterable<V1Service>;
  /** EndpointSlices, already in namespace/name order. */
  readonly endpointSlices: Iterable<V1EndpointSlice>;
  /** See {@linkcode ClusterState.node}. */
  readonly node: V1Node | null;
}

/** A state file that cannot be used: unreadable, corrupt, truncated, another version. */
export class StateFileError extends Error {
  /** @param message What is wrong, naming the file. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StateFileError";
  }
}

/** The file operations the state file needs. */
export interface StateFs {
  /** Reads a whole file as UTF-8. */
  readTextFile(path: string): Promise<string>;
  /** Creates a directory and its parents (no error if it exists). */
  mkdir(path: string): Promise<void>;
  /**
   * Creates or truncates `path`, writes the chunks in order, fsyncs it and closes it. Each chunk
   * must be written before the next is taken: they may share one buffer.
   */
  writeSynced(path: string, chunks: Iterable<Uint8Array>): Promise<void>;
  /** Atomically replaces `to` with `from`. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file (no error if it does not exist). */
  remove(path: string): Promise<void>;
}

/** The real file system. The state file is written mode 0600: it maps the cluster's services. */
export const DENO_STATE_FS: StateFs = {
  readTextFile: (path) => Deno.readTextFile(path),
  mkdir: (path) => Deno.mkdir(path, { recursive: true, mode: 0o755 }),
  async writeSynced(path, chunks) {
    const file = await Deno.open(path, { write: true, create: true, truncate: true, mode: 0o600 });
    try {
      for (const data of chunks) {
        let written = 0;
        while (written < data.length) written += await file.write(data.subarray(written));
      }
      await file.sync();
    } finally {
      file.close();
    }
  },
  rename: (from, to) => Deno.rename(from, to),
  async remove(path) {
    try {
      await Deno.remove(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  },
};

/**
 * Serialises a state: compact JSON, objects sorted by namespace/name, so the same state always
 * gives the same bytes. Pure.
 */
export function encodeState(state: ClusterState): string {
  const sorted = {
    ...state,
    services: sortByKey(state.services),
    endpointSlices: sortByKey(state.endpointSlices),
  };
  return [...encodeStateChunks(sorted)].join("");
}

/** Roughly how much JSON text one chunk of {@linkcode encodeStateChunks} holds. */
export const STATE_CHUNK_CHARS = 64 * 1024;

/**
 * A state file's text in chunks of about {@linkcode STATE_CHUNK_CHARS}, one object stringified
 * (and, from a lazy `state`, built) at a time: at 10k Services the file is ~20 MB, and building
 * it as one string (and one byte array) every few seconds kept ~70 MiB of garbage resident.
 * Objects are written in the order given, which must be namespace/name order for the output to
 * equal {@linkcode encodeState}'s. Pure.
 */
export function* encodeStateChunks(state: StateToWrite): Generator<string> {
  const head = JSON.stringify({
    kind: STATE_KIND,
    formatVersion: STATE_FORMAT_VERSION,
    nodeName: state.nodeName,
    savedAt: state.savedAt,
  });
  let chunk = head.slice(0, -1);
  const lists: [string, Iterable<object>][] = [
    ["services", state.services],
    ["endpointSlices", state.endpointSlices],
  ];
  for (const [field, objects] of lists) {
    chunk += `,${JSON.stringify(field)}:[`;
    let first = true;
    for (const object of objects) {
      chunk += (first ? "" : ",") + JSON.stringify(object);
      first = false;
      if (chunk.length >= STATE_CHUNK_CHARS) {
        yield chunk;
        chunk = "";
      }
    }
    chunk += "]";
  }
  yield `${chunk},"node":${JSON.stringify(state.node)}}\n`;
}

/**
 * Parses and checks a state file's text. Pure.
 *
 * @param source Names the file in messages.
 * @throws {StateFileError} when the text is not a complete state file of this version.
 */
export function decodeState(text: string, source: string): ClusterState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const truncated = text.trim() === "" ? "empty" : "not valid JSON (corrupt or truncated)";
    throw new StateFileError(`State file ${JSON.stringify(source)} is ${truncated}`, {
      cause: error,
    });
  }
  const fail = (detail: string): never => {
    throw new StateFileError(`State file ${JSON.stringify(source)}: ${detail}`);
  };
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail("not a JSON object");
  }
  const o = value as Record<string, unknown>;
  if (o.kind !== STATE_KIND) {
    return fail(`kind is ${JSON.stringify(o.kind)}, expected ${JSON.stringify(STATE_KIND)}`);
  }
  if (o.formatVersion !== STATE_FORMAT_VERSION) {
    return fail(
      `format version ${JSON.stringify(o.formatVersion)} is not supported (this build reads ` +
        `version ${STATE_FORMAT_VERSION})`,
    );
  }
  if (typeof o.nodeName !== "string") return fail("nodeName is missing");
  const savedAt = typeof o.savedAt === "string" ? o.savedAt : "";
  const services = objectList(o.services, "services", fail) as V1Service[];
  const endpointSlices = objectList(o.endpointSlices, "endpointSlices", fail) as V1EndpointSlice[];
  let node: V1Node | null = null;
  if (o.node !== null && o.node !== undefined) {
    if (!isNamedObject(o.node)) return fail("node is not an object with metadata.name");
    node = o.node as V1Node;
  }
  return { nodeName: o.nodeName, savedAt, services, endpointSlices, node };
}

/**
 * Reads and decodes a state file.
 *
 * @throws {StateFileError} when it does not exist, cannot be read or is not usable.
 */
export async function readStateFile(path: string, fs: StateFs): Promise<ClusterState> {
  let text: string;
  try {
    text = await fs.readTextFile(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "does not exist"
      : `cannot be read: ${error instanceof Error ? error.message : String(error)}`;
    throw new StateFileError(`State file ${JSON.stringify(path)} ${reason}`, { cause: error });
  }
  return decodeState(text, path);
}

/**
 * Writes `text` (a string, or chunks of it) to `path` atomically: a temp file in the same
 * directory, fsynced, then renamed over the old file. On failure the temp file is removed and the
 * old file is untouched. Returns the number of bytes written.
 *
 * @throws {StateFileError} naming the step that failed (e.g. "No space left on device").
 */
export async function writeStateFile(
  path: string,
  text: string | Iterable<string>,
  fs: StateFs,
): Promise<number> {
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
  const base = path.slice(slash + 1);
  const temp = `${dir === "/" ? "" : dir}/.${base}.tmp`;
  let bytes = 0;
  const encoded = function* () {
    // `writeSynced` writes each view before asking for the next, as StateFs requires.
    for (const data of utf8Chunks(text)) {
      bytes += data.length;
      yield data;
    }
  };
  try {
    await fs.mkdir(dir);
    await fs.writeSynced(temp, encoded());
    await fs.rename(temp, path);
  } catch (error) {
    await fs.remove(temp).catch(() => {});
    const reason = error instanceof Error ? error.message : String(error);
    throw new StateFileError(`Cannot write state file ${JSON.stringify(path)}: ${reason}`, {
      cause: error,
    });
  }
  return bytes;
}

function objectList(
  value: unknown,
  field: string,
  fail: (detail: string) => never,
): readonly unknown[] {
  if (!Array.isArray(value)) return fail(`${field} is not a list`);
  value.forEach((item, i) => {
    if (!isNamedObject(item)) fail(`${field}[${i}] is not an object with metadata.name`);
  });
  return value;
}

function isNamedObject(value: unknown): boolean {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const metadata = (value as { metadata?: unknown }).metadata;
  return typeof metadata === "object" && metadata !== null &&
    typeof (metadata as { name?: unknown }).name === "string";
}

function sortByKey<T extends { metadata?: { namespace?: string; name?: string } }>(
  objects: readonly T[],
): T[] {
  // Each key built once, not twice per comparison.
  const keyed = objects.map((o) => ({
    key: `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`,
    o,
  }));
  keyed.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  return keyed.map((k) => k.o);
}
