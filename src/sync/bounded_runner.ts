/**
 * Upstream's `BoundedFrequencyRunner` (`pkg/proxy/runner`, newest version) on an injected
 * clock:
 *
 * - {@linkcode BoundedFrequencyRunner.run} requests a run; requests are coalesced, so any
 *   number of them while a run is in progress or cooling down cause one more run;
 * - at least `minIntervalMs` passes between the *end* of one run and the start of the next;
 * - a run happens at least every `maxIntervalMs` even with no requests;
 * - a run that throws is retried no later than `retryIntervalMs` (or `maxIntervalMs` if that is
 *   shorter); any successful run cancels the retry.
 *
 * Runs never overlap, and an exception from the work function never escapes the runner.
 *
 * @module
 */

import { type Clock, SYSTEM_CLOCK } from "../kube/clock.ts";

/** How often the work function may and must run. */
export interface BoundedRunnerOptions {
  /** For log lines. */
  readonly name: string;
  /** Minimum time from the end of a run to the start of the next (`minSyncPeriod`). */
  readonly minIntervalMs: number;
  /** Maximum time between runs (upstream: a full-sync period). */
  readonly maxIntervalMs: number;
  /** After a failed run, the next one starts no later than this (upstream: `syncPeriod`). */
  readonly retryIntervalMs: number;
  /** @default SYSTEM_CLOCK */
  readonly clock?: Clock;
  /** Called with whatever a failed run threw (the work function usually logs for itself). */
  readonly onError?: (error: unknown) => void;
}

/** A `maxIntervalMs` shorter than `minIntervalMs` (a programming error, as upstream panics). */
export class RunnerIntervalError extends Error {
  /** @param name The runner's name. */
  constructor(name: string, minIntervalMs: number, maxIntervalMs: number) {
    super(
      `${name}: maxInterval (${maxIntervalMs} ms) must be >= minInterval (${minIntervalMs} ms)`,
    );
    this.name = "RunnerIntervalError";
  }
}

type State = "stopped" | "idle" | "running" | "cooldown";

/** Runs a work function at a bounded frequency. Create, `start()`, `run()` as often as you like. */
export class BoundedFrequencyRunner {
  readonly #fn: () => Promise<void>;
  readonly #options: BoundedRunnerOptions;
  readonly #clock: Clock;
  #state: State = "stopped";
  #pending = false;
  #nextRun: AbortController | undefined;
  #cooldown: AbortController | undefined;
  #inFlight: Promise<void> | undefined;
  #idleWaiters: (() => void)[] = [];

  /**
   * @param fn The work; throw (or reject) to ask for a retry.
   * @param options Intervals and clock.
   * @throws {RunnerIntervalError} when `maxIntervalMs < minIntervalMs`.
   */
  constructor(fn: () => Promise<void>, options: BoundedRunnerOptions) {
    if (options.maxIntervalMs < options.minIntervalMs) {
      throw new RunnerIntervalError(options.name, options.minIntervalMs, options.maxIntervalMs);
    }
    this.#fn = fn;
    this.#options = options;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
  }

  /** True while the work function is executing. */
  get running(): boolean {
    return this.#state === "running";
  }

  /**
   * Starts the loop: arms the `maxIntervalMs` timer. Does not run by itself (upstream's
   * `Loop` waits too); requests made before `start()` are honoured now.
   */
  start(): void {
    if (this.#state !== "stopped") return;
    this.#state = "idle";
    this.#armNextRun(this.#options.maxIntervalMs);
    if (this.#pending) {
      this.#pending = false;
      this.#execute();
    }
  }

  /** Requests a run as soon as the minimum interval allows; coalesced with other requests. */
  run(): void {
    if (this.#state === "idle") this.#execute();
    else this.#pending = true;
  }

  /**
   * Resolves when the work function is not executing (at once if it is not now). A run that is
   * merely pending behind the cooldown does not count: advance the clock for that one.
   */
  whenIdle(): Promise<void> {
    if (this.#state !== "running") return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops the timers; resolves when a run in progress has finished. Never runs again. */
  async stop(): Promise<void> {
    this.#state = "stopped";
    this.#pending = false;
    this.#nextRun?.abort();
    this.#cooldown?.abort();
    await this.#inFlight;
    this.#wakeIdle();
  }

  #execute(): void {
    this.#state = "running";
    this.#nextRun?.abort();
    this.#inFlight = this.#runOnce();
  }

  async #runOnce(): Promise<void> {
    let failed = false;
    try {
      await this.#fn();
    } catch (error) {
      failed = true;
      try {
        this.#options.onError?.(error);
      } catch {
        // A broken error callback must not stop the loop.
      }
    }
    this.#inFlight = undefined;
    if (this.#state !== "stopped") {
      this.#armNextRun(
        failed
          ? Math.min(this.#options.retryIntervalMs, this.#options.maxIntervalMs)
          : this.#options.maxIntervalMs,
      );
      if (this.#options.minIntervalMs <= 0) {
        this.#becomeIdle();
      } else {
        this.#state = "cooldown";
        const cooldown = new AbortController();
        this.#cooldown = cooldown;
        this.#clock.sleep(this.#options.minIntervalMs, cooldown.signal).then(() => {
          if (cooldown.signal.aborted || this.#state !== "cooldown") return;
          this.#becomeIdle();
        });
      }
    }
    if (this.#state !== "running") this.#wakeIdle();
  }

  #becomeIdle(): void {
    this.#state = "idle";
    if (this.#pending) {
      this.#pending = false;
      this.#execute();
    }
  }

  #armNextRun(delayMs: number): void {
    this.#nextRun?.abort();
    const timer = new AbortController();
    this.#nextRun = timer;
    this.#clock.sleep(delayMs, timer.signal).then(() => {
      if (timer.signal.aborted) return;
      // A timer that fires during the cooldown is remembered, like Go's buffered timer channel.
      if (this.#state === "idle") this.#execute();
      else if (this.#state === "cooldown") this.#pending = true;
    });
  }

  #wakeIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const wake of waiters) wake();
  }
}
