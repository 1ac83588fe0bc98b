/**
 * Keeps the state file current without writing on every event: after a change it is written when
 * the minimum interval since the last write is up (the first write one interval after the first
 * change), with everything that changed meanwhile. The first write waits because it comes the
 * moment the cluster has been listed, exactly when the first full sync runs: at 10k Services the
 * two together raised the peak resident set by ~50 MiB. The interval also grows with the file: at
 * most {@linkcode STATE_WRITE_BYTES_PER_SECOND} on average, so a 20 MB file (10k Services) under
 * constant churn is written every ~5 minutes, not every 5 s (edge nodes often run on flash, and
 * the file only matters at a boot without the API server). A failed write is retried with
 * growing delays (a full or read-only disk should not cost a serialisation every few seconds)
 * and never stops the proxy.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { heapReclaimer } from "../reclaim.ts";
import type { Clock } from "../kube/clock.ts";
import {
  encodeStateChunks,
  type StateFs,
  type StateToWrite,
  writeStateFile,
} from "./state_file.ts";

/** The default minimum time between two writes. */
export const DEFAULT_STATE_SAVE_INTERVAL_MS = 5_000;

/** The long-run write rate the spacing of saves keeps to (64 KiB/s). */
export const STATE_WRITE_BYTES_PER_SECOND = 64 * 1024;

/** Retries after failed writes wait at most this long. */
export const MAX_STATE_RETRY_MS = 300_000;

/** What a {@linkcode StateSaver} needs. */
export interface StateSaverDeps {
  readonly fs: StateFs;
  readonly clock: Clock;
  readonly log: Logger;
  /** The state to write now, or null when there is nothing complete to write yet. */
  readonly snapshot: () => StateToWrite | null;
  /**
   * Called after each successful write (a 20 MB file leaves ~5 MiB of garbage). Default:
   * {@linkcode heapReclaimer}'s `trim`.
   */
  readonly trim?: () => void;
}

/** Writes the state file after changes, at most once per interval. */
export class StateSaver {
  readonly #path: string;
  readonly #intervalMs: number;
  readonly #deps: StateSaverDeps;
  #dirty = false;
  #stopped = false;
  #loop: Promise<void> | null = null;
  #hurry = new AbortController();
  #lastWriteAt: number | null = null;
  #firstDirtyAt: number | null = null;
  #lastBytes = 0;
  #failures = 0;
  #lastFailure = "";
  #writes = 0;

  /**
   * @param path The state file.
   * @param intervalMs Minimum time between writes.
   */
  constructor(path: string, intervalMs: number, deps: StateSaverDeps) {
    this.#path = path;
    this.#intervalMs = Math.max(0, intervalMs);
    this.#deps = deps;
  }

  /** How many writes succeeded. */
  get writes(): number {
    return this.#writes;
  }

  /** Something changed: schedule a write. */
  markDirty(): void {
    if (this.#stopped) return;
    this.#dirty = true;
    this.#loop ??= this.#run().finally(() => {
      this.#loop = null;
    });
  }

  /** Writes pending changes now (skipping the interval) and waits for that one attempt. */
  async flush(): Promise<void> {
    if (this.#dirty) this.markDirty();
    if (this.#loop === null) return;
    this.#hurry.abort();
    await this.#loop;
  }

  /** Writes pending changes once more, then accepts no more. */
  async stop(): Promise<void> {
    await this.flush();
    this.#stopped = true;
  }

  async #run(): Promise<void> {
    const { clock } = this.#deps;
    while (this.#dirty && !this.#stopped) {
      const spacing = this.#failures === 0
        ? Math.max(this.#intervalMs, (this.#lastBytes / STATE_WRITE_BYTES_PER_SECOND) * 1000)
        : Math.min(MAX_STATE_RETRY_MS, Math.max(this.#intervalMs, 1000) * 2 ** this.#failures);
      this.#firstDirtyAt ??= clock.now();
      const wait = this.#lastWriteAt === null
        ? this.#firstDirtyAt + this.#intervalMs - clock.now()
        : this.#lastWriteAt + spacing - clock.now();
      if (wait > 0 && !this.#hurry.signal.aborted) await clock.sleep(wait, this.#hurry.signal);
      if (this.#stopped) return;
      const hurried = this.#hurry.signal.aborted;
      if (hurried) this.#hurry = new AbortController();
      this.#dirty = false;
      await this.#write();
      // A flush gets one attempt; after a failure the next change (or flush) tries again.
      if (hurried && this.#failures > 0) return;
    }
  }

  async #write(): Promise<void> {
    const { clock, log, fs } = this.#deps;
    const snapshot = this.#deps.snapshot();
    if (snapshot === null) return;
    const services = { n: 0 };
    const endpointSlices = { n: 0 };
    const state: StateToWrite = {
      ...snapshot,
      services: counting(snapshot.services, services),
      endpointSlices: counting(snapshot.endpointSlices, endpointSlices),
    };
    this.#lastWriteAt = clock.now();
    try {
      this.#lastBytes = await writeStateFile(this.#path, encodeStateChunks(state), fs);
    } catch (error) {
      this.#dirty = true;
      this.#failures++;
      const message = error instanceof Error ? error.message : String(error);
      if (message !== this.#lastFailure) {
        log.warn("Cannot save the state file; rules are unaffected, retrying later", {
          path: this.#path,
          err: message,
        });
      } else {
        log.info("Still cannot save the state file", { path: this.#path, err: message }, 2);
      }
      this.#lastFailure = message;
      return;
    }
    if (this.#failures > 0) log.info("State file saved again", { path: this.#path });
    this.#failures = 0;
    this.#lastFailure = "";
    this.#writes++;
    log.info("Saved the state file", {
      path: this.#path,
      services: services.n,
      endpointSlices: endpointSlices.n,
    }, 4);
    (this.#deps.trim ?? (() => heapReclaimer.trim()))();
  }
}

/** Passes `items` through, counting them (the state's lists may be produced lazily). */
function* counting<T>(items: Iterable<T>, count: { n: number }): Generator<T> {
  for (const item of items) {
    count.n++;
    yield item;
  }
}
