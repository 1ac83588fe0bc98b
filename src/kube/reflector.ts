/**
 * Keeps one {@linkcode VersionStore} in step with one API resource, like client-go's reflector.
 *
 * Watch mode: LIST (paginated) → WATCH from the list's resourceVersion with bookmarks; a stream
 * the server ends is reopened from the last resourceVersion seen; 410 Gone means relist at once
 * (the diff turns vanished objects into deletes); other failures wait a capped exponential
 * backoff with jitter; a full relist runs every `relistPeriodMs` anyway. As client-go's
 * reflector, LISTs ask for `resourceVersion=0` (served from the API server's watch cache, so a
 * fleet of nodes reconnecting at once does not all read etcd), except the relist after a 410,
 * which must be a consistent read.
 *
 * Poll mode: a paginated LIST with `resourceVersion=0` every `pollIntervalMs`, diffed against the
 * store, and no long-lived streams at all.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { ApiClient, RequestQuery, WatchEvent } from "./api_client.ts";
import { Backoff, type BackoffOptions } from "./backoff.ts";
import type { Clock } from "./clock.ts";
import { ApiError } from "./errors.ts";
import type { StoreChange, VersionStore } from "./version_store.ts";
import type { KubeObject, ResourceType, Selectors } from "./resources.ts";

/** client-go's page size for LISTs. */
export const DEFAULT_PAGE_SIZE = 500;

/** client-go's minimum watch timeout; each watch asks for 1–2× this at random. */
export const MIN_WATCH_TIMEOUT_SECONDS = 300;

/** How much longer than its timeoutSeconds a watch may run before it is presumed dead. */
export const WATCH_DEADLINE_GRACE_MS = 30_000;

/** A watch that ends sooner than this without any event counts as a failure (backoff). */
export const SHORT_WATCH_MS = 1_000;

/** After this long without a failure the backoff starts over (client-go's reset duration). */
export const BACKOFF_RESET_MS = 120_000;

/** How one reflector runs. */
export interface ReflectorOptions {
  readonly type: ResourceType;
  readonly selectors: Selectors;
  readonly mode: "watch" | "poll";
  readonly pageSize: number;
  /** Poll mode: time between LISTs. */
  readonly pollIntervalMs: number;
  /** Watch mode: a full relist at least this often. */
  readonly relistPeriodMs: number;
  readonly backoff: BackoffOptions;
  /** Watch mode: the smallest timeoutSeconds asked for (the largest is twice this). */
  readonly minWatchTimeoutSeconds: number;
}

/** What a reflector reports to its owner. */
export interface ReflectorHooks {
  /** Changes to deliver, after the store was updated. `fromList` for a full LIST's diff. */
  apply(changes: readonly StoreChange<KubeObject>[], fromList: boolean): void;
  /** A full LIST completed and was applied. */
  listed(): void;
  /**
   * One LIST page was applied. Each page leaves its response text and decoded objects behind as
   * garbage (~1 MiB of JSON per 500 EndpointSlices); the program collects there.
   */
  pageApplied(): void;
  /** A request succeeded (null) or failed (the error). */
  health(error: ApiError | null): void;
}

/** What a reflector needs. */
export interface ReflectorDeps {
  readonly client: ApiClient;
  readonly store: VersionStore<KubeObject>;
  readonly clock: Clock;
  readonly random: () => number;
  readonly log: Logger;
  readonly hooks: ReflectorHooks;
}

/** Keeps one store in step with one resource until its signal aborts. */
export class Reflector {
  readonly #options: ReflectorOptions;
  readonly #deps: ReflectorDeps;
  readonly #backoff: Backoff;
  #lastError = "";
  #lastFailureAt = Number.NEGATIVE_INFINITY;
  /** 410s in a row without a watch event in between. */
  #goneStreak = 0;
  /** Where the next watch starts: the last list's, event's or bookmark's resourceVersion. */
  #resourceVersion = "";

  /** @param options What to read and how. */
  constructor(options: ReflectorOptions, deps: ReflectorDeps) {
    this.#options = options;
    this.#deps = deps;
    this.#backoff = new Backoff(options.backoff, deps.random);
  }

  /** Runs until `signal` aborts; never rejects. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#options.mode === "poll") await this.#poll(signal);
    else await this.#watchLoop(signal);
  }

  async #poll(signal: AbortSignal): Promise<void> {
    const { clock } = this.#deps;
    while (!signal.aborted) {
      let delay = this.#options.pollIntervalMs;
      try {
        await this.#relist("0", signal);
      } catch (error) {
        if (signal.aborted) return;
        delay = this.#failed(error);
      }
      await clock.sleep(delay, signal);
    }
  }

  async #watchLoop(signal: AbortSignal): Promise<void> {
    const { clock } = this.#deps;
    let needList = true;
    let consistent = false;
    let relistAt = 0;
    while (!signal.aborted) {
      try {
        if (needList) {
          this.#resourceVersion = await this.#relist(consistent ? undefined : "0", signal);
          needList = false;
          consistent = false;
          relistAt = clock.now() + this.#options.relistPeriodMs;
        }
        const outcome = await this.#watchOnce(relistAt, signal);
        if (outcome === "relist") {
          needList = true;
          continue;
        }
        if (outcome === "short") {
          if (signal.aborted) return;
          this.#deps.log.info("Watch closed immediately; backing off", {
            resource: this.#options.type.resource,
          }, 2);
          await clock.sleep(this.#nextDelay(), signal);
        }
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ApiError && error.gone && error.details.verb === "watch") {
          // The history the watch needed is compacted away: a consistent relist is exactly the
          // cure, so no backoff. (A 410 on a LIST is an ordinary failure, or this could spin.)
          this.#deps.log.info("Resource version too old; relisting", {
            resource: this.#options.type.resource,
            resourceVersion: this.#resourceVersion,
          }, 2);
          needList = true;
          consistent = true;
          // A server that answers 410 right after every fresh LIST must not be hammered.
          if (++this.#goneStreak > 1) await clock.sleep(this.#nextDelay(), signal);
          continue;
        }
        await clock.sleep(this.#failed(error), signal);
      }
    }
  }

  /**
   * One WATCH from the current resourceVersion: applies its events until the server ends it,
   * the relist time comes or it fails (then it throws).
   */
  async #watchOnce(relistAt: number, signal: AbortSignal): Promise<"ended" | "short" | "relist"> {
    const { client, clock, random } = this.#deps;
    const { type, selectors, minWatchTimeoutSeconds } = this.#options;
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    if (signal.aborted) stop.abort();
    let relistDue = false;
    const relistTimer = new AbortController();
    void clock.sleep(Math.max(0, relistAt - clock.now()), relistTimer.signal).then(() => {
      if (relistTimer.signal.aborted) return;
      relistDue = true;
      stop.abort();
    });
    const timeoutSeconds = Math.floor(minWatchTimeoutSeconds * (1 + random()));
    const query: RequestQuery = {
      labelSelector: selectors.labelSelector,
      fieldSelector: selectors.fieldSelector,
      resourceVersion: this.#resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds,
    };
    const started = clock.now();
    let events = 0;
    try {
      const deadlineMs = timeoutSeconds * 1000 + WATCH_DEADLINE_GRACE_MS;
      const opened = () => this.#succeeded();
      for await (const event of client.watch(type, query, deadlineMs, stop.signal, opened)) {
        events++;
        this.#goneStreak = 0;
        this.#handle(event);
        if (stop.signal.aborted) break;
      }
    } finally {
      relistTimer.abort();
      signal.removeEventListener("abort", onAbort);
    }
    if (relistDue) {
      this.#deps.log.info("Periodic relist", { resource: type.resource }, 2);
      return "relist";
    }
    if (events === 0 && clock.now() - started < SHORT_WATCH_MS) return "short";
    this.#backoff.reset();
    return "ended";
  }

  /** Applies one event and moves the resourceVersion on. */
  #handle(event: WatchEvent): void {
    const { store, hooks } = this.#deps;
    const rv = event.object.metadata?.resourceVersion;
    if (rv !== undefined && rv !== "") this.#resourceVersion = rv;
    if (event.type === "BOOKMARK") return;
    const object = event.object;
    const change = event.type === "DELETED" ? store.remove(object) : store.upsert(object);
    if (change !== null) hooks.apply([change], false);
  }

  /**
   * Lists everything, page by page, applying each page as it arrives (so the objects of a big
   * LIST are never all held at once); once the last page is in, objects no page held become
   * deletes. `resourceVersion` undefined asks for a consistent read; `"0"` accepts the server's
   * cache (which may ignore `limit` and answer in one page). Returns the list's resourceVersion.
   */
  async #relist(resourceVersion: string | undefined, signal: AbortSignal): Promise<string> {
    const { client, store, hooks } = this.#deps;
    const { type, selectors } = this.#options;
    let limit = this.#options.pageSize;
    for (let attempt = 0;; attempt++) {
      const list = store.startList();
      let token = "";
      let listRV = "";
      try {
        do {
          const first = token === "";
          const query: RequestQuery = {
            labelSelector: selectors.labelSelector,
            fieldSelector: selectors.fieldSelector,
            limit,
            // The API server rejects a resourceVersion next to a continue token.
            ...(first && resourceVersion !== undefined ? { resourceVersion } : {}),
            ...(first ? {} : { continue: token }),
          };
          const page = await client.listPage(type, query, signal);
          if (signal.aborted) return listRV;
          if (first) listRV = page.resourceVersion;
          token = page.continue;
          const changes = list.page(page.items);
          if (changes.length > 0) hooks.apply(changes, true);
          hooks.pageApplied();
        } while (token !== "" && !signal.aborted);
      } catch (error) {
        // An expired continue token: start over without pagination, as client-go's pager does.
        if (attempt === 0 && limit > 0 && error instanceof ApiError && error.gone && token !== "") {
          this.#deps.log.info("List continue token expired; listing again in one page", {
            resource: type.resource,
          }, 2);
          limit = 0;
          continue;
        }
        throw error;
      }
      if (signal.aborted) return listRV;
      this.#succeeded();
      hooks.apply(list.finish(), true);
      hooks.listed();
      this.#backoff.reset();
      return listRV;
    }
  }

  #succeeded(): void {
    if (this.#lastError !== "") {
      this.#deps.log.info("Connection to the API server restored", {
        resource: this.#options.type.resource,
      });
      this.#lastError = "";
    }
    this.#deps.hooks.health(null);
  }

  /** The next backoff delay; a failure long after the previous one starts from the beginning. */
  #nextDelay(): number {
    const now = this.#deps.clock.now();
    if (now - this.#lastFailureAt > BACKOFF_RESET_MS) this.#backoff.reset();
    this.#lastFailureAt = now;
    return this.#backoff.next();
  }

  /** Logs a failure (once per distinct message) and returns the backoff delay. */
  #failed(error: unknown): number {
    const apiError = error instanceof ApiError ? error : null;
    const message = error instanceof Error ? error.message : String(error);
    const delay = this.#nextDelay();
    if (message !== this.#lastError) {
      this.#deps.log.error(message, { retryInMs: delay });
    } else {
      this.#deps.log.info(message, { retryInMs: delay }, 2);
    }
    this.#lastError = message;
    this.#deps.hooks.health(
      apiError ??
        new ApiError(message, {
          verb: "list",
          resource: this.#options.type.resource,
          kind: "network",
          status: null,
          reason: "",
        }, { cause: error }),
    );
    return delay;
  }
}
