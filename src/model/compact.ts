/**
 * Arrays kept for a long time, without spare room. An array that grew by `push` keeps capacity
 * for about 16 more entries (~130 bytes); the table and the nftables model keep several such
 * small arrays per Service and slice, which at 10k Services added up to ~8 MiB of empty slots.
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
