/**
 * Values kept for a long time, without hidden overhead. An array that grew by `push` keeps
 * capacity for about 16 more entries (~130 bytes); the table and the nftables model keep several
 * such small arrays per Service and slice, which at 10k Services added up to ~8 MiB of empty
 * slots. A string built with `+` or a template literal is, from 13 characters on, a rope of its
 * pieces (32 bytes per joint, and the pieces stay alive even after V8 flattens it).
 *
 * @module
 */

const EMPTY: readonly never[] = Object.freeze([]);

/**
 * `list` with exactly its length in capacity (a copy), or one shared frozen empty array. Use on
 * arrays that are built by `push` and then kept.
 */
export function compact<T>(list: readonly T[]): readonly T[] {
  return list.length === 0 ? EMPTY : list.slice();
}

/**
 * The concatenation of `parts` as one flat string, for strings that are kept (map keys, ids,
 * element text): `join` writes the result directly instead of making a rope.
 */
export function flat(...parts: readonly (string | number)[]): string {
  return parts.join("");
}

/**
 * One shared copy of each distinct value of a kind (most Services list the same one or two ports,
 * most slices too): callers pass what a value is made from, and keep what
 * {@linkcode SharedValues.share} returns; the value is made only when no equal one is shared yet.
 * Values must be frozen. The cache is dropped when it grows past its limit (churn); values
 * already handed out stay valid.
 */
export class SharedValues<T, I = T> {
  readonly #cache = new Map<string, T>();
  readonly #limit: number;
  readonly #same: (shared: T, input: I) => boolean;
  readonly #make: (input: I) => T;

  /**
   * @param limit Entries kept before the cache is dropped.
   * @param same Field equality of a shared value and an input, checked on every hit, so that
   *   inputs whose key strings collide (names holding the separators, from a hand-written file)
   *   never share.
   * @param make The value of an input (default: the input itself).
   */
  constructor(
    limit: number,
    same: (shared: T, input: I) => boolean,
    make: (input: I) => T = (input) => input as unknown as T,
  ) {
    this.#limit = limit;
    this.#same = same;
    this.#make = make;
  }

  /** The shared value equal to `input` (made now if there is none); `key` spells its fields. */
  share(key: string, input: I): T {
    const cached = this.#cache.get(key);
    if (cached !== undefined) return this.#same(cached, input) ? cached : this.#make(input);
    if (this.#cache.size >= this.#limit) this.#cache.clear();
    const value = this.#make(input);
    this.#cache.set(key, value);
    return value;
  }
}
