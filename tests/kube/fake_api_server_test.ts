import assert from "node:assert/strict";
import { type FakeApiServer, withApi } from "../fixtures/fake_api_server.ts";

function get(
  api: FakeApiServer,
  path: string,
  token: string | null = api.token,
): Promise<Response> {
  return fetch(`${api.url}${path}`, {
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
}

async function names(response: Response): Promise<string[]> {
  const body = await response.json() as { items: { metadata: { name: string } }[] };
  return body.items.map((i) => i.metadata.name);
}

/** Reads watch events until `count` arrived, then cancels the stream. */
async function readEvents(response: Response, count: number): Promise<string[]> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: string[] = [];
  let buffer = "";
  while (events.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let i: number;
    while ((i = buffer.indexOf("\n")) >= 0 && events.length < count) {
      const e = JSON.parse(buffer.slice(0, i));
      buffer = buffer.slice(i + 1);
      events.push(`${e.type} ${e.object.metadata?.name ?? e.object.reason ?? ""}`);
    }
  }
  await reader.cancel();
  return events;
}

Deno.test("FakeApiServer lists with label and field selectors", async () => {
  await withApi(async (api) => {
    api.create("services", { metadata: { namespace: "a", name: "plain" } });
    api.create("services", {
      metadata: {
        namespace: "a",
        name: "headless",
        labels: { "service.kubernetes.io/headless": "" },
      },
    });
    api.create("services", { metadata: { namespace: "b", name: "tier", labels: { tier: "web" } } });
    api.create("nodes", { metadata: { name: "n1" } });
    api.create("nodes", { metadata: { name: "n2" } });
    const q = (s: string) => `/api/v1/services?labelSelector=${encodeURIComponent(s)}`;
    assert.deepEqual(await names(await get(api, q("!service.kubernetes.io/headless"))), [
      "plain",
      "tier",
    ]);
    assert.deepEqual(await names(await get(api, q("tier in (web,db)"))), ["tier"]);
    assert.deepEqual(await names(await get(api, q("tier!=web"))), ["headless", "plain"]);
    assert.deepEqual(
      await names(await get(api, "/api/v1/nodes?fieldSelector=metadata.name%3Dn2")),
      ["n2"],
    );
    const bad = await get(api, "/api/v1/nodes?fieldSelector=spec.unschedulable%3Dtrue");
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).message, "field label not supported: spec.unschedulable");
  });
});

Deno.test("FakeApiServer pages from a consistent snapshot and expires continue tokens on compaction", async () => {
  await withApi(async (api) => {
    for (const n of ["a", "b", "c"]) api.create("nodes", { metadata: { name: n } });
    const first = await (await get(api, "/api/v1/nodes?limit=2")).json();
    assert.deepEqual(first.items.map((i: { metadata: { name: string } }) => i.metadata.name), [
      "a",
      "b",
    ]);
    api.create("nodes", { metadata: { name: "bb" } });
    const rest = await get(api, `/api/v1/nodes?limit=2&continue=${first.metadata.continue}`);
    assert.deepEqual(await names(rest), ["c"], "objects created after the first page stay out");
    const again = await (await get(api, "/api/v1/nodes?limit=1")).json();
    api.compact();
    const expired = await get(api, `/api/v1/nodes?limit=1&continue=${again.metadata.continue}`);
    assert.equal(expired.status, 410);
    assert.equal((await expired.json()).reason, "Expired");
  });
});

Deno.test("FakeApiServer watches replay history, follow label changes and answer 410 after compaction", async () => {
  await withApi(async (api) => {
    const from = api.resourceVersion;
    api.create("services", { metadata: { namespace: "a", name: "s" } });
    api.update("services", {
      metadata: { namespace: "a", name: "s", labels: { "service.kubernetes.io/headless": "" } },
    });
    const selector = encodeURIComponent("!service.kubernetes.io/headless");
    const watch = await get(
      api,
      `/api/v1/services?watch=true&resourceVersion=${from}&labelSelector=${selector}`,
    );
    assert.deepEqual(await readEvents(watch, 2), ["ADDED s", "DELETED s"]);
    api.compact();
    const gone = await get(api, `/api/v1/services?watch=true&resourceVersion=${from}`);
    assert.equal(gone.status, 200);
    assert.deepEqual(await readEvents(gone, 1), ["ERROR Expired"]);
  });
});

Deno.test("FakeApiServer requires the bearer token and answers 401 like the API server", async () => {
  await withApi(async (api) => {
    const response = await get(api, "/api/v1/services", "nope");
    assert.equal(response.status, 401);
    assert.deepEqual(await response.json(), {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "Unauthorized",
      reason: "Unauthorized",
      code: 401,
    });
    assert.equal(api.requests[0]?.authorized, false);
  });
});

Deno.test("FakeApiServer serves HTTPS that verifies against its CA", async () => {
  await withApi(async (api) => {
    const client = Deno.createHttpClient({ caCerts: [api.caCert!] });
    try {
      const response = await fetch(`${api.url}/version`, {
        client,
        headers: { authorization: `Bearer ${api.token}` },
      });
      assert.equal((await response.json()).gitVersion, "v1.36.0-fake");
    } finally {
      client.close();
    }
  }, { tls: true });
});
