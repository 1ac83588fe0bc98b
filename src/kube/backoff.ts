/**
 * Capped exponential backoff with jitter, for retrying the API server. Thousands of edge nodes
 * lose the same API server at the same moment; jitter keeps them from reconnecting in lockstep
 * when it returns.
 *
 * @module
 */

/** Backoff tuning. */
export interface BackoffOptions {
  /**
   * The first delay, before jitter.
   * @default 800 (client-go's reflector)
   */
  readonly initialMs?: number;
  /**
   * No delay is ever longer than this.
   * @default 30000
   */
  readonly capMs?: number;
}

/** The default first delay: client-go's reflector uses 800 ms. */
export const DEFAULT_BACKOFF_INITIAL_MS = 800;
/** The default cap. */
export const DEFAULT_BACKOFF_CAP_MS = 30_000;

/**
 * Successive delays `initial × 2ⁿ`, capped, each scaled into its upper half at random
 * ("equal jitter"): a delay is never below half its nominal value nor above the cap.
 */
export class Backoff {
  readonly #initialMs: number;
  readonly #capMs: number;
  readonly #random: () => number;
  #attempt = 0;

  /**
   * @param options Initial delay and cap.
   * @param random Returns a number in [0, 1); injected so tests get fixed delays.
   */
  constructor(options: BackoffOptions = {}, random: () => number = Math.random) {
    this.#initialMs = Math.max(1, options.initialMs ?? DEFAULT_BACKOFF_INITIAL_MS);
    this.#capMs = Math.max(this.#initialMs, options.capMs ?? DEFAULT_BACKOFF_CAP_MS);
    this.#random = random;
  }

  /** How many delays were handed out since the last reset. */
  get attempts(): number {
    return this.#attempt;
  }

  /** The next delay in milliseconds. */
  next(): number {
    // Stop growing the exponent once it is past the cap, so it never overflows.
    const nominal = Math.min(this.#capMs, this.#initialMs * 2 ** Math.min(this.#attempt, 40));
    this.#attempt++;
    const half = nominal / 2;
    return Math.round(half + half * Math.min(Math.max(this.#random(), 0), 1));
  }

  /** Starts over from the initial delay (after a success). */
  reset(): void {
    this.#attempt = 0;
  }
}
