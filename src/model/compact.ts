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
 * most slices too): callers build a value, then keep what {@linkcode SharedValues.share} returns.
 * Values must be frozen. The cache is dropped when it grows past its limit (churn); values
 * already handed out stay valid.
 */
export class SharedValues<T> {
  readonly #cache = new Map<string, T>();
  readonly #limit: number;
  readonly #same: (a: T, b: T) => boolean;

  /**
   * @param limit Entries kept before the cache is dropped.
   * @param same Field equality, checked on every hit, so that values whose key strings collide
   *   (names holding the separators, from a hand-written file) never share.
   */
  constructor(limit: number, same: (a: T, b: T) => boolean) {
    this.#limit = limit;
    this.#same = same;
  }

  /** The shared copy equal to `value` (or `value` itself, now shared); `key` spells its fields. */
  share(key: string, value: T): T {
    const cached = this.#cache.get(key);
    if (cached !== undefined) return this.#same(cached, value) ? cached : value;
    if (this.#cache.size >= this.#limit) this.#cache.clear();
    this.#cache.set(key, value);
    return value;
  }
}
