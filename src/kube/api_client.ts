/**
 * A thin JSON client for the two calls kube-proxy makes: a paginated LIST and a WATCH stream.
 * It adds credentials, the client-side rate limit, timeouts and error mapping; HTTP itself goes
 * through an injected {@linkcode HttpTransport} (by default `fetch` with a
 * `Deno.createHttpClient` carrying the CA, client certificate and proxy).
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import type { ApiConnection, TransportSettings } from "./connection.ts";
import {
  type ApiError,
  type ApiRequestInfo,
  decodeError,
  httpError,
  networkError,
  statusFields,
  timeoutError,
} from "./errors.ts";
import type { TokenBucket } from "./rate_limiter.ts";
import type { KubeObject, ResourceType } from "./resources.ts";

/** Sends HTTP requests. One transport serves every request to one API server. */
export interface HttpTransport {
  /** As global `fetch`. */
  fetch(url: string, init: RequestInit): Promise<Response>;
  /** Releases connections. */
  close(): void;
}

/** Makes the transport for a connection's TLS and proxy settings. */
export type HttpTransportFactory = (settings: TransportSettings) => HttpTransport;

/**
 * The real transport: `fetch` through a `Deno.createHttpClient` that trusts the connection's
 * CA certificates (in addition to the system roots) and presents its client certificate.
 */
export const denoHttpTransport: HttpTransportFactory = (
  settings: TransportSettings,
): HttpTransport => {
  const options: Deno.CreateHttpClientOptions = {};
  if (settings.caCerts.length > 0) options.caCerts = [...settings.caCerts];
  if (settings.proxyUrl !== null) options.proxy = { url: settings.proxyUrl };
  const client = settings.cert !== null && settings.key !== null
    ? Deno.createHttpClient({ ...options, cert: settings.cert, key: settings.key })
    : Deno.createHttpClient(options);
  return {
    fetch: (url, init) => fetch(url, { ...init, client }),
    close: () => client.close(),
  };
};

/** Query parameters of a LIST or WATCH. */
export interface RequestQuery {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly resourceVersion?: string;
  readonly limit?: number;
  readonly continue?: string;
  readonly timeoutSeconds?: number;
  readonly allowWatchBookmarks?: boolean;
}

/** One page of a LIST. */
export interface ListPage {
  readonly items: KubeObject[];
  /** The list's resourceVersion: watch from here. */
  readonly resourceVersion: string;
  /** The token for the next page; `""` on the last page. */
  readonly continue: string;
}

/** One event of a WATCH stream (ERROR events are thrown as {@linkcode ApiError} instead). */
export interface WatchEvent {
  readonly type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK";
  readonly object: KubeObject;
}

/** What an {@linkcode ApiClient} needs besides the connection. */
export interface ApiClientDeps {
  readonly transport: HttpTransport;
  readonly clock: Clock;
  /** Shared by every request (client-go shares one limiter per client). */
  readonly limiter: TokenBucket;
  /** A LIST page, or a WATCH until its headers, must answer within this. */
  readonly requestTimeoutMs: number;
  /** The `User-Agent` header. */
  readonly userAgent: string;
}

/** A LIST / WATCH client for one API server. */
export class ApiClient {
  readonly #connection: ApiConnection;
  readonly #deps: ApiClientDeps;

  /** @param connection Where and as whom. */
  constructor(connection: ApiConnection, deps: ApiClientDeps) {
    this.#connection = connection;
    this.#deps = deps;
  }

  /** The server URL, for messages. */
  get server(): string {
    return this.#connection.server;
  }

  /**
   * Fetches one LIST page.
   *
   * @throws {ApiError} on any failure.
   */
  async listPage(type: ResourceType, query: RequestQuery, signal?: AbortSignal): Promise<ListPage> {
    const request: ApiRequestInfo = { verb: "list", resource: type.resource };
    const { response, release } = await this.#send(type, query, false, request, signal);
    try {
      let body: unknown;
      try {
        body = await response.json();
      } catch (error) {
        throw this.#readFailure(request, error, release.timedOut());
      }
      const list = body as {
        items?: unknown;
        metadata?: { resourceVersion?: unknown; continue?: unknown };
      };
      if (typeof body !== "object" || body === null || !Array.isArray(list.items)) {
        throw decodeError(request, "a list without items");
      }
      return {
        items: list.items.filter((i): i is KubeObject => typeof i === "object" && i !== null),
        resourceVersion: stringOr(list.metadata?.resourceVersion),
        continue: stringOr(list.metadata?.continue),
      };
    } finally {
      release.done();
    }
  }

  /**
   * Opens a WATCH and yields its events until the server ends the stream. A stream that runs
   * past `deadlineMs` (the requested timeoutSeconds plus grace: the connection is probably
   * dead) is cut and reported as a timeout.
   *
   * @param onOpen Called once the server accepted the watch (before any event arrives).
   * @throws {ApiError} on failure to open, on an ERROR event (410 among them), on a cut stream.
   */
  async *watch(
    type: ResourceType,
    query: RequestQuery,
    deadlineMs: number,
    signal?: AbortSignal,
    onOpen?: () => void,
  ): AsyncGenerator<WatchEvent, void, undefined> {
    const request: ApiRequestInfo = { verb: "watch", resource: type.resource };
    const { response, release, controller } = await this.#send(type, query, true, request, signal);
    onOpen?.();
    // The header timeout is over; from here the whole stream has a deadline.
    const deadline = new AbortController();
    let expired = false;
    void this.#deps.clock.sleep(deadlineMs, deadline.signal).then(() => {
      if (deadline.signal.aborted) return;
      expired = true;
      controller.abort();
    });
    const body = response.body;
    try {
      if (body === null) return;
      const reader = body.getReader();
      const decoder = new TextDecoder();
      let buffered = "";
      try {
        while (true) {
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await reader.read();
          } catch (error) {
            if (signal?.aborted) return;
            if (expired) throw timeoutError(request, this.server, deadlineMs);
            throw networkError(request, this.server, error);
          }
          if (chunk.done) break;
          buffered += decoder.decode(chunk.value, { stream: true });
          let newline: number;
          while ((newline = buffered.indexOf("\n")) >= 0) {
            const line = buffered.slice(0, newline).trim();
            buffered = buffered.slice(newline + 1);
            if (line !== "") yield this.#event(request, line);
          }
        }
        const rest = (buffered + decoder.decode()).trim();
        if (rest !== "") yield this.#event(request, rest);
      } finally {
        await reader.cancel().catch(() => {});
      }
    } finally {
      deadline.abort();
      release.done();
      controller.abort();
    }
  }

  #event(request: ApiRequestInfo, line: string): WatchEvent {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (error) {
      throw decodeError(request, "a watch event that is not JSON", error);
    }
    const event = parsed as { type?: unknown; object?: unknown };
    if (
      typeof parsed !== "object" || parsed === null || typeof event.object !== "object" ||
      event.object === null
    ) {
      throw decodeError(request, "a watch event without an object");
    }
    switch (event.type) {
      case "ADDED":
      case "MODIFIED":
      case "DELETED":
      case "BOOKMARK":
        return { type: event.type, object: event.object as KubeObject };
      case "ERROR": {
        const { code } = statusFields(event.object);
        return throwError(
          httpError(request, code ?? 500, event.object, this.#connection.credentials.description),
        );
      }
      default:
        throw decodeError(request, `a watch event of unknown type ${JSON.stringify(event.type)}`);
    }
  }

  /**
   * Sends one GET. A LIST's timeout covers its body too; a WATCH's only its headers (`watch`).
   */
  async #send(
    type: ResourceType,
    query: RequestQuery,
    watch: boolean,
    request: ApiRequestInfo,
    signal: AbortSignal | undefined,
  ): Promise<{ response: Response; release: Release; controller: AbortController }> {
    const { clock, limiter, requestTimeoutMs } = this.#deps;
    await limiter.take(clock, signal);
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) controller.abort();
    const timer = new AbortController();
    let timedOut = false;
    let finished = false;
    void clock.sleep(requestTimeoutMs, timer.signal).then(() => {
      if (timer.signal.aborted || finished) return;
      timedOut = true;
      controller.abort();
    });
    const stopTimer = () => timer.abort();
    const release: Release = {
      timedOut: () => timedOut,
      done: () => {
        finished = true;
        stopTimer();
        signal?.removeEventListener("abort", onAbort);
      },
    };

    const headers: Record<string, string> = {
      "Accept": "application/json",
      "User-Agent": this.#deps.userAgent,
    };
    let response: Response;
    try {
      const authorization = await this.#connection.credentials.authorization();
      if (authorization !== null) headers["Authorization"] = authorization;
      response = await this.#deps.transport.fetch(this.#url(type, query, watch), {
        method: "GET",
        headers,
        signal: controller.signal,
      });
    } catch (error) {
      release.done();
      if (timedOut) throw timeoutError(request, this.server, requestTimeoutMs);
      throw networkError(request, this.server, error);
    }
    if (watch) stopTimer();
    if (!response.ok) {
      let body: unknown = null;
      try {
        body = JSON.parse(await response.text());
      } catch {
        // Not a Status object (a proxy's HTML page, say): the status code says enough.
      }
      release.done();
      throw httpError(request, response.status, body, this.#connection.credentials.description);
    }
    return { response, release, controller };
  }

  #readFailure(request: ApiRequestInfo, error: unknown, timedOut: boolean): ApiError {
    if (timedOut) return timeoutError(request, this.server, this.#deps.requestTimeoutMs);
    if (error instanceof SyntaxError) return decodeError(request, "a body that is not JSON", error);
    return networkError(request, this.server, error);
  }

  #url(type: ResourceType, query: RequestQuery, watch: boolean): string {
    const params = new URLSearchParams();
    if (watch) params.set("watch", "true");
    if (query.allowWatchBookmarks === true) params.set("allowWatchBookmarks", "true");
    if (query.labelSelector !== undefined && query.labelSelector !== "") {
      params.set("labelSelector", query.labelSelector);
    }
    if (query.fieldSelector !== undefined && query.fieldSelector !== "") {
      params.set("fieldSelector", query.fieldSelector);
    }
    if (query.resourceVersion !== undefined) params.set("resourceVersion", query.resourceVersion);
    if (query.limit !== undefined && query.limit > 0) params.set("limit", String(query.limit));
    if (query.continue !== undefined && query.continue !== "") {
      params.set("continue", query.continue);
    }
    if (query.timeoutSeconds !== undefined) {
      params.set("timeoutSeconds", String(query.timeoutSeconds));
    }
    const search = params.toString();
    return `${this.#connection.server}${type.path}${search === "" ? "" : `?${search}`}`;
  }
}

interface Release {
  timedOut(): boolean;
  done(): void;
}

function throwError(error: ApiError): never {
  throw error;
}

function stringOr(value: unknown): string {
  return typeof value === "string" ? value : "";
}
