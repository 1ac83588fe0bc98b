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
