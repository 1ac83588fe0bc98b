/**
 * A {@linkcode ListenFn} for the health-check node ports: a bare TCP listener that reads one
 * request head per connection, answers it with one HTTP/1.1 response and closes the connection.
 * A node opens one such port per `externalTrafficPolicy: Local` LoadBalancer Service (~700 at 10k
 * Services in the benchmark); `Deno.serve` costs ~25 KiB of resident memory per listener, this
 * ~14 KiB. Load-balancer health checkers send a short GET and read one answer, which is all this
 * speaks; the healthz and metrics servers keep `Deno.serve`.
 *
 * @module
 */

import { type HttpServer, joinBindAddress, type ListenOptions } from "./listen.ts";

/** How long a client may take to send its request head before the connection is dropped. */
export const HEAD_TIMEOUT_MS = 10_000;

/** How long to wait before accepting again after `accept()` failed. */
const ACCEPT_RETRY_MS = 100;

/** The largest request head read; longer ones get 431. */
export const MAX_HEAD_BYTES = 8 * 1024;

const REASONS: Readonly<Record<number, string>> = {
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Starts a light listener; rejects when the address cannot be bound. */
export function lightListen(
  options: ListenOptions,
  headTimeoutMs: number = HEAD_TIMEOUT_MS,
): Promise<HttpServer> {
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: options.hostname, port: options.port });
  } catch (error) {
    return Promise.reject(error);
  }
  const addr = listener.addr;
  const open = new Set<Deno.Conn>();
  let closed = false;
  const accepting = (async () => {
    while (!closed) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        if (closed) return;
        // Out of file descriptors or a transient error: keep the port and try again shortly,
        // rather than leaving it bound and silent (load balancers would mark the node down).
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
        continue;
      }
      open.add(conn);
      void answer(conn, options, headTimeoutMs).finally(() => open.delete(conn));
    }
  })();
  return Promise.resolve({
    hostname: addr.hostname,
    port: addr.port,
    close: async () => {
      closed = true;
      try {
        listener.close();
      } catch {
        // Already closed.
      }
      for (const conn of open) closeQuietly(conn);
      await accepting;
    },
  });
}

/** Reads one request head from `conn`, writes the handler's response and closes `conn`. */
async function answer(conn: Deno.Conn, options: ListenOptions, timeoutMs: number) {
  const timer = setTimeout(() => closeQuietly(conn), timeoutMs);
  try {
    const head = await readHead(conn);
    if (head === null) return;
    let response: Response;
    let method = "GET";
    if (head === "too large") {
      response = plain(431);
    } else {
      const [requestLine = ""] = head.split("\r\n", 1);
      const [verb = "", target = "", version = ""] = requestLine.split(" ");
      if (!/^[A-Z]+$/.test(verb) || !target.startsWith("/") || !version.startsWith("HTTP/1.")) {
        response = plain(400);
      } else {
        method = verb;
        const local = conn.localAddr as Deno.NetAddr;
        const host = joinBindAddress(local.hostname, local.port);
        try {
          response = await options.handler(new Request(`http://${host}${target}`, { method }));
        } catch {
          response = plain(500);
        }
      }
    }
    await writeAll(conn, await serialise(response, method === "HEAD"));
  } catch {
    // The client went away or sent garbage: nothing to answer.
  } finally {
    clearTimeout(timer);
    closeQuietly(conn);
  }
}

/** The request head (up to the blank line), null when the client closed first. */
async function readHead(conn: Deno.Conn): Promise<string | "too large" | null> {
  const buffer = new Uint8Array(MAX_HEAD_BYTES);
  let used = 0;
  while (used < buffer.length) {
    const n = await conn.read(buffer.subarray(used));
    if (n === null) return null;
    used += n;
    const text = decoder.decode(buffer.subarray(0, used));
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) return text.slice(0, end);
  }
  return "too large";
}

async function serialise(response: Response, head: boolean): Promise<Uint8Array> {
  const body = new Uint8Array(await response.arrayBuffer());
  let text = `HTTP/1.1 ${response.status} ${REASONS[response.status] ?? ""}\r\n`;
  for (const [name, value] of response.headers) text += `${name}: ${value}\r\n`;
  text += `content-length: ${body.length}\r\nconnection: close\r\n\r\n`;
  const start = encoder.encode(text);
  if (head) return start;
  const out = new Uint8Array(start.length + body.length);
  out.set(start);
  out.set(body, start.length);
  return out;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await conn.write(data.subarray(written));
}

function plain(status: number): Response {
  return new Response(`${REASONS[status] ?? ""}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
