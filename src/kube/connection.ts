/**
 * Where the API server is and how to authenticate, with upstream kube-proxy's rules:
 * `clientConnection.kubeconfig` (`--kubeconfig`) with `--master` overriding its server; `--master`
 * alone; neither → in-cluster config (KUBERNETES_SERVICE_HOST/PORT and the service-account token
 * and CA). Environment and file reads are parameters, so tests need no real environment.
 *
 * Kubeconfigs are parsed by `kubeconfig.ts` (current context, cluster, user, relative paths).
 * Credential files are then read through the injected reader, and token files are re-read every
 * minute, as client-go does, so projected service-account tokens rotate.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { Clock } from "./clock.ts";
import { ApiConfigError } from "./errors.ts";
import { parseKubeconfig } from "./kubeconfig.ts";

/** The directory of the pod's service-account token and CA (upstream's constant). */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** How often a token file is re-read (client-go's cached file token source: one minute). */
export const TOKEN_FILE_REFRESH_MS = 60_000;

/** TLS and proxy settings for the HTTP client. */
export interface TransportSettings {
  /** PEM certificates of the CAs that sign the API server's certificate (empty: system roots). */
  readonly caCerts: readonly string[];
  /** PEM client certificate, or null. */
  readonly cert: string | null;
  /** PEM client key, or null. Never log it. */
  readonly key: string | null;
  /** The kubeconfig's `proxy-url`, or null. */
  readonly proxyUrl: string | null;
}

/** Produces the `Authorization` header for each request. */
export interface Credentials {
  /** Where the credentials come from, for messages (a path or a kind, never a secret). */
  readonly description: string;
  /** The header value, or null for anonymous requests. Never log it. */
  authorization(): Promise<string | null>;
}

/** Everything needed to talk to one API server. */
export interface ApiConnection {
  /** The server URL without a trailing slash (it may carry a path prefix). */
  readonly server: string;
  readonly transport: TransportSettings;
  readonly credentials: Credentials;
  /** How the connection was found: `kubeconfig "/path"`, `--master`, `in-cluster config`. */
  readonly source: string;
}

/** The connection-related settings of the resolved config and command line. */
export interface ConnectionOptions {
  /** `clientConnection.kubeconfig` / `--kubeconfig`; `""` for none. */
  readonly kubeconfig: string;
  /** `--master`; `""` for none. */
  readonly master: string;
}

/** What connection resolution reads from the outside world. */
export interface ConnectionDeps {
  /** Reads an environment variable (undefined when unset). */
  readonly env: (name: string) => string | undefined;
  /** Reads a text file (the kubeconfig, certificates, tokens). */
  readonly readTextFile: (path: string) => Promise<string>;
  /** For token-file refresh. */
  readonly clock: Clock;
  readonly log: Logger;
}

/**
 * Resolves where the API server is and how to authenticate.
 *
 * @throws {ApiConfigError} when nothing is configured or a configured file is unusable.
 */
export async function resolveConnection(
  options: ConnectionOptions,
  deps: ConnectionDeps,
): Promise<ApiConnection> {
  if (options.kubeconfig !== "") {
    return await fromKubeconfig(options.kubeconfig, options.master, deps);
  }
  if (options.master !== "") {
    deps.log.info("No kubeconfig given; connecting to --master without credentials", {
      master: options.master,
    });
    return {
      server: normaliseServer(options.master, false, "--master"),
      transport: { caCerts: [], cert: null, key: null, proxyUrl: null },
      credentials: anonymous(),
      source: "--master",
    };
  }
  deps.log.info(
    "Neither kubeconfig file nor master URL was specified, falling back to in-cluster config",
  );
  return await inCluster(deps);
}

async function inCluster(deps: ConnectionDeps): Promise<ApiConnection> {
  const host = deps.env("KUBERNETES_SERVICE_HOST") ?? "";
  const port = deps.env("KUBERNETES_SERVICE_PORT") ?? "";
  if (host === "" || port === "") {
    throw new ApiConfigError(
      "No API server to connect to: set clientConnection.kubeconfig (--kubeconfig) or --master, " +
        "or run kube-proxy in a pod (in-cluster config needs KUBERNETES_SERVICE_HOST and " +
        "KUBERNETES_SERVICE_PORT, which are not set)",
    );
  }
  const tokenPath = `${SERVICE_ACCOUNT_DIR}/token`;
  const caPath = `${SERVICE_ACCOUNT_DIR}/ca.crt`;
  const token = await readRequired(deps, tokenPath, "in-cluster config: service-account token");
  const caCerts: string[] = [];
  try {
    caCerts.push(pemOrThrow(await deps.readTextFile(caPath), caPath));
  } catch (error) {
    // client-go logs this and goes on with the system roots; so do we.
    deps.log.error("Cannot load the in-cluster CA; verifying the API server with system roots", {
      path: caPath,
      err: describe(error),
    });
  }
  const hostPart = host.includes(":") ? `[${host}]` : host;
  return {
    server: `https://${hostPart}:${port}`,
    transport: { caCerts, cert: null, key: null, proxyUrl: null },
    credentials: new TokenFileCredentials(tokenPath, token.trim(), deps),
    source: "in-cluster config",
  };
}

async function fromKubeconfig(
  path: string,
  master: string,
  deps: ConnectionDeps,
): Promise<ApiConnection> {
  const where = `kubeconfig ${JSON.stringify(path)}`;
  const text = await readRequired(deps, path, "kubeconfig");
  const { cluster, user } = parseKubeconfig(text, path, where);

  if (cluster.skipTLSVerify) {
    throw new ApiConfigError(
      `${where}: insecure-skip-tls-verify is not supported (the API server's certificate is ` +
        "always verified); set certificate-authority or certificate-authority-data",
    );
  }
  if (cluster.tlsServerName !== null && cluster.tlsServerName !== "") {
    deps.log.warn("Kubeconfig tls-server-name is not supported and is ignored", {
      kubeconfig: path,
      tlsServerName: cluster.tlsServerName,
    });
  }
  const ca = await dataOrFile(
    deps,
    cluster.caData,
    cluster.caFile,
    `${where}: certificate-authority`,
  );
  const caCerts = ca === null ? [] : [ca];

  if (user?.exec === true) {
    throw new ApiConfigError(
      `${where}: user ${JSON.stringify(user.name)} uses an exec credential plugin, which is not ` +
        "supported; use a token, token-file or client certificate",
    );
  }
  if (user?.authProvider === true) {
    throw new ApiConfigError(
      `${where}: user ${JSON.stringify(user.name)} uses an auth-provider, which is not ` +
        "supported; use a token, token-file or client certificate",
    );
  }
  if (user !== null && user.impersonate !== null && user.impersonate !== "") {
    deps.log.warn("Kubeconfig impersonation (as) is not supported and is ignored", {
      kubeconfig: path,
    });
  }
  const cert = await dataOrFile(
    deps,
    user?.certData,
    user?.certFile,
    `${where}: client-certificate`,
  );
  const key = await dataOrFile(deps, user?.keyData, user?.keyFile, `${where}: client-key`);
  if ((cert === null) !== (key === null)) {
    throw new ApiConfigError(
      `${where}: user ${JSON.stringify(user?.name ?? "")} has a client ` +
        `${cert === null ? "key but no certificate" : "certificate but no key"}`,
    );
  }

  let credentials: Credentials;
  const userLabel = `${where} user ${JSON.stringify(user?.name ?? "")}`;
  if (user !== null && user.tokenFile !== null) {
    const tokenPath = user.tokenFile;
    const token = await readRequired(deps, tokenPath, `${where}: token-file`);
    credentials = new TokenFileCredentials(tokenPath, token.trim(), deps);
  } else if (user !== null && user.token !== null && user.token !== "") {
    credentials = staticCredentials(`Bearer ${user.token}`, `the token of ${userLabel}`);
  } else if (user !== null && user.username !== null && user.username !== "") {
    const basic = btoa(`${user.username}:${user.password ?? ""}`);
    credentials = staticCredentials(`Basic ${basic}`, `the username and password of ${userLabel}`);
  } else if (cert !== null) {
    credentials = { ...anonymous(), description: `the client certificate of ${userLabel}` };
  } else {
    credentials = anonymous();
  }

  const tls = caCerts.length > 0 || cert !== null;
  const server = master !== ""
    ? normaliseServer(master, tls, "--master")
    : normaliseServer(cluster.server, tls, `${where}: server`);
  return {
    server,
    transport: {
      caCerts,
      cert,
      key,
      proxyUrl: cluster.proxyUrl === "" ? null : cluster.proxyUrl,
    },
    credentials,
    source: master === "" ? where : `${where} with --master`,
  };
}

/** A token file, re-read at most once a minute; a failed re-read keeps the last good token. */
class TokenFileCredentials implements Credentials {
  readonly description: string;
  readonly #path: string;
  readonly #deps: ConnectionDeps;
  #token: string;
  #readAt: number;
  #pending: Promise<void> | null = null;

  constructor(path: string, token: string, deps: ConnectionDeps) {
    this.description = `the token file ${JSON.stringify(path)}`;
    this.#path = path;
    this.#deps = deps;
    this.#token = token;
    this.#readAt = deps.clock.now();
  }

  async authorization(): Promise<string | null> {
    if (this.#deps.clock.now() - this.#readAt >= TOKEN_FILE_REFRESH_MS) {
      this.#pending ??= this.#refresh().finally(() => {
        this.#pending = null;
      });
      await this.#pending;
    }
    return this.#token === "" ? null : `Bearer ${this.#token}`;
  }

  async #refresh(): Promise<void> {
    try {
      const token = (await this.#deps.readTextFile(this.#path)).trim();
      if (token !== "") this.#token = token;
    } catch (error) {
      this.#deps.log.warn("Cannot re-read the token file; keeping the previous token", {
        path: this.#path,
        err: describe(error),
      });
    }
    this.#readAt = this.#deps.clock.now();
  }
}

function staticCredentials(header: string, description: string): Credentials {
  return { description, authorization: () => Promise.resolve(header) };
}

function anonymous(): Credentials {
  return { description: "no credentials", authorization: () => Promise.resolve(null) };
}

/** client-go's defaulting: a bare host gets https when TLS material exists, else http. */
function normaliseServer(value: string, tls: boolean, where: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value)
    ? value
    : `${tls ? "https" : "http"}://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new ApiConfigError(`${where}: ${JSON.stringify(value)} is not a valid URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ApiConfigError(`${where}: ${JSON.stringify(value)} must be an http or https URL`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new ApiConfigError(`${where}: credentials in the server URL are not supported`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

async function readRequired(deps: ConnectionDeps, path: string, what: string): Promise<string> {
  try {
    return await deps.readTextFile(path);
  } catch (error) {
    throw new ApiConfigError(`Cannot read ${what} (${JSON.stringify(path)}): ${describe(error)}`, {
      cause: error,
    });
  }
}

/** A kubeconfig `*-data` field (base64 PEM) or `*` file field, as PEM text. */
async function dataOrFile(
  deps: ConnectionDeps,
  data: string | undefined | null,
  file: string | undefined | null,
  what: string,
): Promise<string | null> {
  if (file !== undefined && file !== null && file !== "") {
    return pemOrThrow(await readRequired(deps, file, what), `${what} ${JSON.stringify(file)}`);
  }
  if (data !== undefined && data !== null && data !== "") {
    let text: string;
    try {
      text = atob(data.replace(/\s+/g, ""));
    } catch (error) {
      throw new ApiConfigError(`${what}-data: not valid base64`, { cause: error });
    }
    return pemOrThrow(text, `${what}-data`);
  }
  return null;
}

function pemOrThrow(text: string, what: string): string {
  if (!text.includes("-----BEGIN ")) {
    throw new ApiConfigError(`${what}: not PEM (no "-----BEGIN" line)`);
  }
  return text;
}

function describe(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  return error instanceof Error ? error.message : String(error);
}
