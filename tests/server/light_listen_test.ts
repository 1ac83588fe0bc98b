import assert from "node:assert/strict";
import { lightListen, MAX_HEAD_BYTES } from "../../src/server/light_listen.ts";
import type { HttpServer } from "../../src/server/listen.ts";

const HANDLER = (request: Request) =>
  new Response(`{"path":${JSON.stringify(new URL(request.url).pathname)}}`, {
    status: new URL(request.url).pathname === "/down" ? 503 : 200,
    headers: { "Content-Type": "application/json", "X-Load-Balancing-Endpoint-Weight": "2" },
  });

async function withServer(
  fn: (server: HttpServer) => Promise<void>,
  headTimeoutMs?: number,
): Promise<void> {
  const server = await lightListen(
    { hostname: "127.0.0.1", port: 0, handler: HANDLER },
    headTimeoutMs,
  );
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

/** Sends raw bytes and returns everything the server wrote before closing. */
async function raw(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(request));
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
    return chunks.map((c) => new TextDecoder().decode(c)).join("");
  } finally {
    try {
      conn.close();
    } catch {
      // closed by the server
    }
  }
}

Deno.test("lightListen() answers HTTP clients with the handler's status, headers and body", async () => {
  await withServer(async (server) => {
    const ok = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("content-type"), "application/json");
    assert.equal(ok.headers.get("x-load-balancing-endpoint-weight"), "2");
    assert.equal(await ok.text(), '{"path":"/healthz"}');
    const down = await fetch(`http://127.0.0.1:${server.port}/down`);
    assert.equal(down.status, 503);
    assert.equal(down.statusText, "Service Unavailable");
    await down.body?.cancel();
  });
});

Deno.test("lightListen() writes one response per connection, no body for HEAD, and closes", async () => {
  await withServer(async (server) => {
    const get = await raw(server.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.match(get, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(get, /\r\nconnection: close\r\n/);
    assert.ok(get.endsWith('\r\n\r\n{"path":"/"}'), get);
    const head = await raw(server.port, "HEAD / HTTP/1.0\r\n\r\n");
    assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(head, /content-length: 12\r\n/);
    assert.ok(head.endsWith("\r\n\r\n"), head);
  });
});

Deno.test("lightListen() answers garbage with 400 and an oversized head with 431", async () => {
  await withServer(async (server) => {
    assert.match(await raw(server.port, "hello\r\n\r\n"), /^HTTP\/1\.1 400 Bad Request\r\n/);
    const big = `GET / HTTP/1.1\r\nX: ${"a".repeat(MAX_HEAD_BYTES)}\r\n\r\n`;
    assert.match(await raw(server.port, big), /^HTTP\/1\.1 431 /);
  });
});

Deno.test("lightListen() drops a client that sends no request within the head timeout", async () => {
  await withServer(async (server) => {
    // Without a request the server closes the connection after 50 ms, writing nothing.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve("still open after 5 s"), 5_000);
    });
    try {
      assert.equal(await Promise.race([raw(server.port, ""), bound]), "");
    } finally {
      clearTimeout(timer);
    }
  }, 50);
});

Deno.test("lightListen() rejects a port in use, and a closed server refuses connections", async () => {
  let port = 0;
  await withServer(async (server) => {
    port = server.port;
    await assert.rejects(
      lightListen({ hostname: "127.0.0.1", port, handler: HANDLER }),
      Deno.errors.AddrInUse,
    );
  });
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }));
});
