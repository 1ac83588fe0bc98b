/**
 * The two ways talking to the API server fails: it cannot even be configured
 * ({@linkcode ApiConfigError}, fatal at start-up: the CLI exits 1), or a request failed
 * ({@linkcode ApiError}, retried with backoff while rules keep being served).
 *
 * @module
 */

/**
 * No usable connection settings: no kubeconfig, `--master` or in-cluster environment, or a
 * kubeconfig / service-account file that cannot be read or understood.
 */
export class ApiConfigError extends Error {
  /** @param message What is missing or wrong and where, ready to print. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ApiConfigError";
  }
}

/** What kind of failure an {@linkcode ApiError} is. */
export type ApiErrorKind =
  /** No HTTP answer: connection refused, DNS, TLS verification, reset. */
  | "network"
  /** No answer within the request timeout (or a watch went silent). */
  | "timeout"
  /** The server answered with a non-2xx status, or a watch stream carried an ERROR event. */
  | "http"
  /** The server answered 2xx with something that is not the expected JSON. */
  | "decode";

/** The request an {@linkcode ApiError} belongs to. */
export interface ApiRequestInfo {
  /** `list` or `watch`. */
  readonly verb: "list" | "watch";
  /** The resource, as in RBAC: `services`, `endpointslices`, `nodes`. */
  readonly resource: string;
}

/** What an {@linkcode ApiError} carries. */
export interface ApiErrorDetails extends ApiRequestInfo {
  readonly kind: ApiErrorKind;
  /** The HTTP status (or the `code` of a watch ERROR event); null without an HTTP answer. */
  readonly status: number | null;
  /** The Kubernetes `Status.reason` (`Unauthorized`, `Forbidden`, `Expired`, …), or `""`. */
  readonly reason: string;
}

/** A request to the API server failed. Messages never contain credentials. */
export class ApiError extends Error {
  /** What failed, for retry decisions. */
  readonly details: ApiErrorDetails;

  /**
   * @param message Ready to print, starting with the request ("Cannot list services: …").
   * @param details What failed.
   */
  constructor(message: string, details: ApiErrorDetails, options?: ErrorOptions) {
    super(message, options);
    this.name = "ApiError";
    this.details = details;
  }

  /** The resource version asked for is gone (HTTP 410 / reason Expired): relist at once. */
  get gone(): boolean {
    return this.details.status === 410;
  }

  /** The credentials were rejected (401) or lack permission (403). */
  get unauthorized(): boolean {
    return this.details.status === 401 || this.details.status === 403;
  }
}

/** The fields of a Kubernetes `Status` object that explain a failure. */
export interface StatusFields {
  readonly message: string;
  readonly reason: string;
  readonly code: number | null;
}

/** Reads `message`, `reason` and `code` from a decoded `Status` object (or anything else). */
export function statusFields(value: unknown): StatusFields {
  const o = typeof value === "object" && value !== null ? value as Record<string, unknown> : {};
  return {
    message: typeof o.message === "string" ? o.message : "",
    reason: typeof o.reason === "string" ? o.reason : "",
    code: typeof o.code === "number" ? o.code : null,
  };
}

const RBAC_HINT = "kube-proxy needs list and watch on services, nodes and " +
  "endpointslices.discovery.k8s.io (the system:node-proxier ClusterRole grants them)";

/**
 * The error for a non-2xx answer (or a watch ERROR event), with a hint for the statuses an
 * operator can fix: 401 (credentials) and 403 (RBAC).
 *
 * @param request The request that failed.
 * @param status The HTTP status or Status code.
 * @param body The decoded Status object, if any.
 * @param credentials Where the credentials came from, for the 401 hint.
 */
export function httpError(
  request: ApiRequestInfo,
  status: number,
  body: unknown,
  credentials: string,
): ApiError {
  const { message, reason } = statusFields(body);
  const what = `Cannot ${request.verb} ${request.resource}`;
  const detail = message === "" ? "" : `: ${message}`;
  let text: string;
  if (status === 401) {
    text = `${what}: the API server rejected the credentials (401 Unauthorized); check the ` +
      `token or client certificate from ${credentials}`;
  } else if (status === 403) {
    text = `${what}: forbidden (403)${detail}; ${RBAC_HINT}`;
  } else if (status === 410) {
    text = `${what}: the resource version is too old (410 Gone)${detail}`;
  } else {
    text = `${what}: the API server answered ${status}${
      reason === "" ? "" : ` ${reason}`
    }${detail}`;
  }
  return new ApiError(text, { ...request, kind: "http", status, reason });
}

/** The error for a request that got no HTTP answer. */
export function networkError(request: ApiRequestInfo, server: string, cause: unknown): ApiError {
  const reason = innermostMessage(cause);
  const hint = /UnknownIssuer|invalid peer certificate|certificate/i.test(reason)
    ? " (the server's certificate is not signed by the configured certificate authority, or " +
      "its name does not match the server address)"
    : "";
  return new ApiError(
    `Cannot ${request.verb} ${request.resource}: cannot reach the API server at ${server}: ` +
      `${reason}${hint}`,
    { ...request, kind: "network", status: null, reason: "" },
    { cause },
  );
}

/** The error for a request that timed out. */
export function timeoutError(request: ApiRequestInfo, server: string, ms: number): ApiError {
  return new ApiError(
    `Cannot ${request.verb} ${request.resource}: no answer from the API server at ${server} ` +
      `within ${formatMs(ms)}`,
    { ...request, kind: "timeout", status: null, reason: "" },
  );
}

/** The error for a 2xx answer that is not what was expected. */
export function decodeError(request: ApiRequestInfo, detail: string, cause?: unknown): ApiError {
  return new ApiError(
    `Cannot ${request.verb} ${request.resource}: unexpected answer from the API server: ${detail}`,
    { ...request, kind: "decode", status: null, reason: "" },
    cause === undefined ? undefined : { cause },
  );
}

/**
 * The most specific message in an error's cause chain, without Deno's "error sending request …:"
 * prefix (our message names the server already, and the full URL is noise).
 */
export function innermostMessage(error: unknown): string {
  let current: unknown = error;
  let message = String(error);
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    if (current instanceof Error) {
      if (current.message !== "") message = current.message;
      current = current.cause;
    } else {
      message = String(current);
      break;
    }
  }
  // "error sending request for url (URL): …" or "error sending request from A for URL (B): …"
  return message.replace(/^error sending request [^]*?\): /, "");
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
