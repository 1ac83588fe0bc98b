import assert from "node:assert/strict";
import { ApiClient } from "../../src/kube/api_client.ts";
import { ApiError, type HttpTransport, TokenBucket } from "../../src/kube/mod.ts";
import { SERVICES } from "../../src/kube/resources.ts";
import { ManualClock } from "../fixtures/manual_clock.ts";

/** A transport that answers every request with `respond(url)` and records what was asked. */
function canned(respond: (url: string) => Response) {
  const seen: { url: string; headers: Headers }[] = [];
  const transport: HttpTransport = {
    fetch: (url, init) => {
      seen.push({ url, headers: new Headers(init.headers) });
      return Promise.resolve(respond(url));
    },
    close: () => {},
  };
  return { transport, seen };
}

function client(transport: HttpTransport): ApiClient {
  return new ApiClient(
    {
      server: "https://api.example:6443",
      transport: { caCerts: [], cert: null, key: null, proxyUrl: null },
      credentials: {
        description: "a test token",
        authorization: () => Promise.resolve("Bearer t0k"),
      },
      source: "test",
    },
    {
      transport,
      clock: new ManualClock(),
      limiter: new TokenBucket(-1, 1),
      requestTimeoutMs: 1_000,
      userAgent: "deno-kube-proxy/test",
    },
  );
}

/** A body that delivers `chunks` one by one. */
function chunked(...chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(encoder.encode(c));
      controller.close();
    },
  });
}

async function collect(c: ApiClient): Promise<string[]> {
  const out: string[] = [];
  for await (const e of c.watch(SERVICES, { resourceVersion: "5" }, 60_000)) {
    out.push(`${e.type} ${e.object.metadata?.name ?? ""}@${e.object.metadata?.resourceVersion}`);
  }
  return out;
}

Deno.test("ApiClient.listPage() sends the selectors, credentials and user agent, and reads the page", async () => {
  const { transport, seen } = canned(() =>
    Response.json({
      kind: "ServiceList",
      metadata: { resourceVersion: "42", continue: "next" },
      items: [{ metadata: { name: "a" } }],
    })
  );
  const page = await client(transport).listPage(SERVICES, {
    labelSelector: "!a,!b",
    limit: 500,
    resourceVersion: "0",
  });
  assert.deepEqual(page, {
    items: [{ metadata: { name: "a" } }],
    resourceVersion: "42",
    continue: "next",
  });
  assert.equal(
    seen[0]?.url,
    "https://api.example:6443/api/v1/services?labelSelector=%21a%2C%21b&resourceVersion=0&limit=500",
  );
  assert.equal(seen[0]?.headers.get("authorization"), "Bearer t0k");
  assert.equal(seen[0]?.headers.get("user-agent"), "deno-kube-proxy/test");
  assert.equal(seen[0]?.headers.get("accept"), "application/json");
});

Deno.test("ApiClient.listPage() reports a non-Kubernetes error page by its status", async () => {
  const { transport } = canned(() => new Response("<html>bad gateway</html>", { status: 502 }));
  await assert.rejects(
    client(transport).listPage(SERVICES, {}),
    (e: unknown) =>
      e instanceof ApiError && e.message === "Cannot list services: the API server answered 502",
  );
});

Deno.test("ApiClient.watch() parses events split across chunks and several events in one chunk", async () => {
  const a = JSON.stringify({
    type: "ADDED",
    object: { metadata: { name: "a", resourceVersion: "6" } },
  });
  const b = JSON.stringify({
    type: "MODIFIED",
    object: { metadata: { name: "a", resourceVersion: "7" } },
  });
  const bookmark = JSON.stringify({
    type: "BOOKMARK",
    object: { metadata: { resourceVersion: "9" } },
  });
  const { transport, seen } = canned(() =>
    new Response(
      chunked(
        a.slice(0, 10),
        a.slice(10) + "\n" + b + "\n" + bookmark.slice(0, 5),
        bookmark.slice(5) + "\n",
      ),
    )
  );
  assert.deepEqual(await collect(client(transport)), ["ADDED a@6", "MODIFIED a@7", "BOOKMARK @9"]);
  assert.ok(seen[0]?.url.includes("watch=true"));
});

Deno.test("ApiClient.watch() turns an ERROR event into an ApiError with its status", async () => {
  const error = JSON.stringify({
    type: "ERROR",
    object: {
      kind: "Status",
      code: 410,
      reason: "Expired",
      message: "too old resource version: 5 (9)",
    },
  });
  const { transport } = canned(() => new Response(chunked(error + "\n")));
  await assert.rejects(collect(client(transport)), (e: unknown) => {
    assert.ok(e instanceof ApiError);
    assert.equal(e.gone, true);
    assert.equal(
      e.message,
      "Cannot watch services: the resource version is too old (410 Gone): too old resource version: 5 (9)",
    );
    return true;
  });
});

Deno.test("ApiClient.watch() rejects a stream line that is not JSON", async () => {
  const { transport } = canned(() => new Response(chunked("<html>\n")));
  await assert.rejects(
    collect(client(transport)),
    (e: unknown) =>
      e instanceof ApiError && e.details.kind === "decode" &&
      e.message ===
        "Cannot watch services: unexpected answer from the API server: a watch event that is not JSON",
  );
});
