/**
 * Client-side request rate limiting from `clientConnection.qps` and `clientConnection.burst`, as
 * client-go's token bucket: `burst` requests may go at once, then one every `1/qps` seconds.
 *
 * @module
 */

import type { Clock } from "./clock.ts";

/**
 * A token bucket. {@linkcode TokenBucket.reserve} is pure bookkeeping on a given time, so its
 * arithmetic is tested without waiting; {@linkcode TokenBucket.take} waits on the clock.
 */
export class TokenBucket {
  readonly #qps: number;
  readonly #burst: number;
  #tokens: number;
  #last: number | null = null;

  /**
   * @param qps Tokens added per second; `<= 0` disables limiting (as client-go does for a
   *   negative QPS).
   * @param burst Bucket size (at least 1 when limiting).
   */
  constructor(qps: number, burst: number) {
    this.#qps = qps;
    this.#burst = Math.max(1, Math.floor(burst));
    this.#tokens = this.#burst;
  }

  /** True when requests are not limited at all. */
  get unlimited(): boolean {
    return !(this.#qps > 0) || !Number.isFinite(this.#qps);
  }

  /**
   * Takes one token at time `nowMs` and returns how long the caller must wait before using it
   * (0 when a token was available). Tokens may go negative: callers queue up in order.
   */
  reserve(nowMs: number): number {
    if (this.unlimited) return 0;
    if (this.#last !== null && nowMs > this.#last) {
      this.#tokens = Math.min(
        this.#burst,
        this.#tokens + ((nowMs - this.#last) * this.#qps) / 1000,
      );
    }
    if (this.#last === null || nowMs > this.#last) this.#last = nowMs;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens * 1000) / this.#qps);
  }

  /** Waits until a token is available. Resolves early (without a token) if `signal` aborts. */
  async take(clock: Clock, signal?: AbortSignal): Promise<void> {
    const wait = this.reserve(clock.now());
    if (wait > 0) await clock.sleep(wait, signal);
  }
}
