/**
 * The HTTP listening seam shared by the health, metrics and health-check node port servers.
 * Servers take a {@linkcode ListenFn} so tests bind to 127.0.0.1 port 0 (or use no socket at
 * all); the default is `Deno.serve`.
 *
 * @module
 */

/** Answers one HTTP request. */
export type RequestHandler = (request: Request) => Response | Promise<Response>;

/** Where and how to listen. */
export interface ListenOptions {
  /** An IP literal without brackets (`0.0.0.0`, `::`, `127.0.0.1`). */
  readonly hostname: string;
  /** The TCP port; 0 lets the kernel choose (tests). */
  readonly port: number;
  readonly handler: RequestHandler;
}

/** A listening server. */
export interface HttpServer {
  /** The address actually bound. */
  readonly hostname: string;
  /** The port actually bound (the kernel's choice when 0 was asked for). */
  readonly port: number;
  /** Stops accepting connections and resolves once open requests are answered. */
  close(): Promise<void>;
}

/** Starts a server; rejects when the address cannot be bound (in use, not local, no permission). */
export type ListenFn = (options: ListenOptions) => Promise<HttpServer>;

/** The real listener, on `Deno.serve` ({@linkcode ListenFn}). */
export function denoListen(options: ListenOptions): Promise<HttpServer> {
  try {
    const server = Deno.serve({
      hostname: options.hostname,
      port: options.port,
      // Deno prints "Listening on …" by default; the daemon logs its own line instead.
      onListen: () => {},
      handler: options.handler,
    });
    const addr = server.addr as Deno.NetAddr;
    return Promise.resolve({
      hostname: addr.hostname,
      port: addr.port,
      close: () => server.shutdown(),
    });
  } catch (error) {
    return Promise.reject(error);
  }
}

/** An error for a `host:port` setting that cannot be split. */
export class BindAddressError extends Error {
  /** @param address The value as configured. */
  constructor(readonly address: string) {
    super(`Invalid bind address ${JSON.stringify(address)}: expected IP:port or [IPv6]:port`);
    this.name = "BindAddressError";
  }
}

/**
 * Splits `IP:port` / `[IPv6]:port` (the config's `healthzBindAddress` and `metricsBindAddress`)
 * into a hostname for {@linkcode ListenFn} and a port.
 *
 * @throws {BindAddressError} when there is no port or the port is not a number in 0–65535.
 */
export function splitBindAddress(address: string): { hostname: string; port: number } {
  const match = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d+)$/.exec(address);
  const port = Number(match?.[3]);
  if (match === null || !Number.isInteger(port) || port > 65535) {
    throw new BindAddressError(address);
  }
  return { hostname: match[1] ?? match[2] ?? "", port };
}

/** `host:port` with brackets around IPv6 literals, for log lines. */
export function joinBindAddress(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

/** Go's `http.NotFound` answer, which upstream's muxes give for unknown paths. */
export function notFound(): Response {
  return new Response("404 page not found\n", {
    status: 404,
    headers: {
      "Content-Type": "text/plain; charset=utf-8",
      "X-Content-Type-Options": "nosniff",
    },
  });
}
