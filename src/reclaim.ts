/**
 * Full garbage collections on request, where the program knows it has just made garbage:
 *
 * - right after building large structures (the first snapshot of a big cluster, a whole
 *   nftables model): the build's garbage is returned before the next step allocates on top of
 *   it. At 10k Services each of those builds leaves 10–15 MiB of dead objects that V8 would
 *   otherwise collect only later, and the two together set the peak of the first sync;
 * - after routine work (a sync, a state-file write, each LIST page applied) and every 1024
 *   service ports of a whole nftables model, once the heap has grown by {@linkcode TRIM_MIN_GROWTH_BYTES} (or
 *   {@linkcode TRIM_GROWTH_RATIO} of what was live) since the last collection: V8, even in
 *   memory-saver mode, lets the old generation grow by ~8–12 MiB of promoted garbage before it
 *   collects (a sync's objects live across the tool's run and get promoted). A full collection
 *   of the ~35 MiB heap of 10k Services takes ~30 ms on a 2-core machine, after the work is done
 *   and logged; with one-endpoint changes it runs about every eighth change. 2 MiB rather than 4:
 *   peaks at 10k × 10 of 89–93 against 92–93 MiB (bundled), 96–98 against 97–98 (from source),
 *   change latency the same.
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

/** {@linkcode HeapReclaimer.trim} collects once the heap grew at least this much (2 MiB)… */
export const TRIM_MIN_GROWTH_BYTES = 2 * 1024 * 1024;

/** …and at least this share of what was live after the last collection. */
export const TRIM_GROWTH_RATIO = 0.05;

/** What a {@linkcode HeapReclaimer} measures and runs. */
export interface HeapReclaimerDeps {
  /** Bytes of the JS heap in use. @default `Deno.memoryUsage().heapUsed` */
  readonly heapUsed?: () => number;
  /** A full collection; false when none can run. @default {@linkcode reclaimGarbage} */
  readonly collect?: () => boolean;
}

/**
 * Collects garbage after large builds ({@linkcode collect}) and after routine work when the heap
 * has grown enough since the last collection ({@linkcode trim}). The heap in use right after a
 * collection (ours, or V8's own, seen as a drop) is the baseline growth is measured from; before
 * the first collection it is zero, so the first trim collects what start-up left.
 */
export class HeapReclaimer {
  readonly #heapUsed: () => number;
  readonly #collect: () => boolean;
  // Zero: the first trim collects whatever the program built before it (at start-up, a LIST).
  #baseline = 0;

  /** @param deps Measurement and collection (tests inject both). */
  constructor(deps: HeapReclaimerDeps = {}) {
    this.#heapUsed = deps.heapUsed ?? (() => Deno.memoryUsage().heapUsed);
    this.#collect = deps.collect ?? reclaimGarbage;
  }

  /** Collects now (after a large build); returns whether a collection ran. */
  collect(): boolean {
    if (!this.#collect()) return false;
    this.#baseline = this.#heapUsed();
    return true;
  }

  /** Collects if the heap grew past the limit since the last collection; returns whether. */
  trim(): boolean {
    const used = this.#heapUsed();
    if (used < this.#baseline) {
      // V8 collected on its own: growth counts from here.
      this.#baseline = used;
      return false;
    }
    const limit = Math.max(TRIM_MIN_GROWTH_BYTES, this.#baseline * TRIM_GROWTH_RATIO);
    if (used - this.#baseline < limit) return false;
    return this.collect();
  }
}

/** The process's reclaimer: the proxier, the nftables backend and the state saver share it. */
export const heapReclaimer: HeapReclaimer = new HeapReclaimer();
