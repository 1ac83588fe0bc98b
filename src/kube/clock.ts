/**
 * Time as a parameter: every wait in `kube/` and `state/` (backoff, poll interval, relist period,
 * request timeouts, state-file debounce) goes through a {@linkcode Clock}, so tests drive time by
 * hand instead of sleeping.
 *
 * @module
 */

/** Wall-clock time and cancellable waits. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /**
   * Resolves after `ms` milliseconds, or as soon as `signal` aborts (it never rejects), so a loop
   * can wait and then check whether it was stopped.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** `setTimeout` fires at once for delays beyond 2³¹−1 ms; longer sleeps are cut to this. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The real clock, on `Date.now()` and `setTimeout`. */
export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(MAX_TIMER_MS, Math.max(0, ms)));
      signal?.addEventListener("abort", done, { once: true });
    });
  },
};
