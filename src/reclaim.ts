/**
 * A full garbage collection on request, after building large structures (the first snapshot
 * of a big cluster, a whole nftables model): the build's garbage is returned before the next
 * step allocates on top of it. At 10k Services each of those builds leaves 10–15 MiB of dead
 * objects that V8 would otherwise collect only later, and the two together set the program's
 * peak resident set.
 *
 * Works when V8 runs with `--expose-gc` (the binary's flags, scripts/compile.ts `V8_FLAGS`);
 * a no-op otherwise.
 *
 * @module
 */

/** Runs a full collection if the runtime exposes `gc`; returns whether it did. */
export function reclaimGarbage(): boolean {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== "function") return false;
  gc();
  return true;
}

/**
 * A snapshot in which at least this many Services changed is a large build (a first sync, a
 * resync after a lost watch): worth a collection before the backend renders it.
 */
export const LARGE_CHANGE_SERVICES = 1000;
