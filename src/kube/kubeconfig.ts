/**
 * Reads a kubeconfig document down to what kube-proxy connects with: the current context's
 * cluster and user, with file paths made absolute against the kubeconfig's directory (as
 * client-go and `kubectl` resolve them). Pure: the document's text in, plain records out; files
 * are read by the caller.
 *
 * A parser of our own, on the js-yaml the config loader already uses, rather than
 * `@kubernetes/client-node`'s `KubeConfig`: importing that package alone cost the daemon ~80 MiB
 * of resident memory and 0.6 s of start-up, for a dozen fields.
 *
 * @module
 */

import { load } from "js-yaml";
import { ApiConfigError } from "./errors.ts";

/** The current context's cluster entry. */
export interface KubeconfigCluster {
  /** `clusters[].name`. */
  readonly name: string;
  /** `server`, without a trailing slash. */
  readonly server: string;
  /** `certificate-authority-data` (base64 PEM), if set. */
  readonly caData: string | null;
  /** `certificate-authority`, absolute, if set. */
  readonly caFile: string | null;
  /** `insecure-skip-tls-verify: true`. */
  readonly skipTLSVerify: boolean;
  /** `tls-server-name`, if set. */
  readonly tlsServerName: string | null;
  /** `proxy-url`, if set. */
  readonly proxyUrl: string | null;
}

/** The current context's user entry. */
export interface KubeconfigUser {
  /** `users[].name`. */
  readonly name: string;
  /** `token`, if set. */
  readonly token: string | null;
  /** `tokenFile` (client-go's spelling) or `token-file`, absolute, if set. */
  readonly tokenFile: string | null;
  /** `client-certificate-data` (base64 PEM), if set. */
  readonly certData: string | null;
  /** `client-certificate`, absolute, if set. */
  readonly certFile: string | null;
  /** `client-key-data` (base64 PEM), if set. */
  readonly keyData: string | null;
  /** `client-key`, absolute, if set. */
  readonly keyFile: string | null;
  /** `username` (basic auth), if set. */
  readonly username: string | null;
  /** `password` (basic auth), if set. */
  readonly password: string | null;
  /** An `exec` credential plugin is configured (not supported). */
  readonly exec: boolean;
  /** An `auth-provider` is configured (not supported). */
  readonly authProvider: boolean;
  /** `as` (impersonation), if set (not supported). */
  readonly impersonate: string | null;
}

/** The current context, resolved. */
export interface Kubeconfig {
  /** `current-context`. */
  readonly context: string;
  /** Its cluster. */
  readonly cluster: KubeconfigCluster;
  /** Its user; null when the context names none. */
  readonly user: KubeconfigUser | null;
}

type Fields = Readonly<Record<string, unknown>>;

/**
 * Parses `text`, the kubeconfig at `path`, and resolves its current context. Every problem is an
 * {@linkcode ApiConfigError} that starts with `where` and names the entry or field.
 */
export function parseKubeconfig(text: string, path: string, where: string): Kubeconfig {
  let raw: unknown;
  try {
    raw = load(text);
  } catch (error) {
    throw new ApiConfigError(`${where}: not valid YAML: ${message(error)}`, { cause: error });
  }
  if (!isFields(raw)) {
    throw new ApiConfigError(
      `${where}: not a kubeconfig (expected a mapping with clusters, users and contexts)`,
    );
  }
  const dir = dirname(path);
  const contextName = optionalString(raw, "current-context", `${where}: current-context`);
  if (contextName === null || contextName === "") {
    throw new ApiConfigError(`${where}: current-context is not set`);
  }
  const context = findNamed(raw, "contexts", "context", contextName, where);
  if (context === null) {
    throw new ApiConfigError(
      `${where}: current-context ${JSON.stringify(contextName)} is not among its contexts`,
    );
  }
  const contextWhere = `${where}: context ${JSON.stringify(contextName)}`;
  const clusterName = optionalString(context, "cluster", `${contextWhere}: cluster`);
  if (clusterName === null || clusterName === "") {
    throw new ApiConfigError(`${contextWhere} names no cluster`);
  }
  const clusterFields = findNamed(raw, "clusters", "cluster", clusterName, where);
  if (clusterFields === null) {
    throw new ApiConfigError(
      `${contextWhere} names cluster ${JSON.stringify(clusterName)}, which is not among its ` +
        "clusters",
    );
  }
  const userName = optionalString(context, "user", `${contextWhere}: user`) ?? "";
  const userFields = userName === "" ? null : findNamed(raw, "users", "user", userName, where);
  if (userName !== "" && userFields === null) {
    throw new ApiConfigError(
      `${contextWhere} names user ${JSON.stringify(userName)}, which is not among its users`,
    );
  }
  return {
    context: contextName,
    cluster: clusterOf(
      clusterName,
      clusterFields,
      dir,
      `${where}: cluster ${JSON.stringify(clusterName)}`,
    ),
    user: userFields === null
      ? null
      : userOf(userName, userFields, dir, `${where}: user ${JSON.stringify(userName)}`),
  };
}

function clusterOf(name: string, f: Fields, dir: string, where: string): KubeconfigCluster {
  const server = optionalString(f, "server", `${where}: server`);
  if (server === null || server === "") throw new ApiConfigError(`${where}: server is missing`);
  return {
    name,
    server: server.replace(/\/$/, ""),
    caData: optionalString(f, "certificate-authority-data", `${where}: certificate-authority-data`),
    caFile: absolute(
      dir,
      optionalString(f, "certificate-authority", `${where}: certificate-authority`),
    ),
    skipTLSVerify: f["insecure-skip-tls-verify"] === true,
    tlsServerName: optionalString(f, "tls-server-name", `${where}: tls-server-name`),
    proxyUrl: optionalString(f, "proxy-url", `${where}: proxy-url`),
  };
}

function userOf(name: string, f: Fields, dir: string, where: string): KubeconfigUser {
  const field = (key: string) => optionalString(f, key, `${where}: ${key}`);
  return {
    name,
    token: field("token"),
    tokenFile: absolute(dir, field("tokenFile") ?? field("token-file")),
    certData: field("client-certificate-data"),
    certFile: absolute(dir, field("client-certificate")),
    keyData: field("client-key-data"),
    keyFile: absolute(dir, field("client-key")),
    username: field("username"),
    password: field("password"),
    exec: f.exec !== undefined && f.exec !== null,
    authProvider: f["auth-provider"] !== undefined && f["auth-provider"] !== null,
    impersonate: field("as"),
  };
}

/** The `inner` mapping of the entry of `list` named `name`; null when there is none. */
function findNamed(
  doc: Fields,
  list: string,
  inner: string,
  name: string,
  where: string,
): Fields | null {
  const entries = doc[list];
  if (entries === undefined || entries === null) return null;
  if (!Array.isArray(entries)) throw new ApiConfigError(`${where}: ${list} is not a list`);
  for (let i = 0; i < entries.length; i++) {
    const entry: unknown = entries[i];
    if (!isFields(entry) || entry.name !== name) continue;
    const fields = entry[inner];
    if (fields === undefined || fields === null) return {};
    if (!isFields(fields)) {
      throw new ApiConfigError(`${where}: ${list}[${i}].${inner} is not a mapping`);
    }
    return fields;
  }
  return null;
}

function optionalString(f: Fields, key: string, what: string): string | null {
  const value = f[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") {
    throw new ApiConfigError(`${what}: expected a string, got ${JSON.stringify(value)}`);
  }
  return value;
}

function isFields(value: unknown): value is Fields {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function absolute(dir: string, path: string | null): string | null {
  if (path === null || path === "") return null;
  return path.startsWith("/") ? path : `${dir}/${path}`;
}

/** The directory of `path` (`.` for a bare file name). */
function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  if (i < 0) return ".";
  return i === 0 ? "/" : path.slice(0, i);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
