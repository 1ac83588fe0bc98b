import assert from "node:assert/strict";
import { type FakeApiServer, withApi } from "../fixtures/fake_api_server.ts";
import { makeNode, OTHER_NODE_NAME, TEST_NODE_NAME } from "../fixtures/k8s_builders.ts";
import { seed, service, slice } from "../fixtures/numbered_services.ts";
import {
  kubeconfigFor,
  makeSource,
  REQUEST_TIMEOUT_MS,
  type TestSource,
} from "../fixtures/test_source.ts";
import { describeTable } from "./_describe_table.ts";

/** Starts `t` and waits until its three watches are open on both ends. */
async function started(t: TestSource, api: FakeApiServer): Promise<void> {
  await t.source.start();
  await Promise.all([
    api.waitForWatch("services"),
    api.waitForWatch("endpointslices"),
    api.waitForWatch("nodes"),
  ]);
  await t.clock.idle((ms) => ms === REQUEST_TIMEOUT_MS);
}

const BACKOFF_SLEEP = (ms: number) => ms < 1_000;

Deno.test("ClusterSource.start() lists Services, EndpointSlices and this Node with upstream's selectors and marks the table synced", async () => {
  await withApi(async (api) => {
    seed(api, 2);
    api.create("nodes", makeNode(OTHER_NODE_NAME));
    api.create("services", {
      ...service(3),
      metadata: {
        namespace: "ns1",
        name: "other-proxy",
        labels: { "service.kubernetes.io/service-proxy-name": "cilium" },
      },
    });
    api.create("endpointslices", {
      ...slice(4),
      metadata: {
        namespace: "ns1",
        name: "headless-1",
        labels: { "kubernetes.io/service-name": "headless", "service.kubernetes.io/headless": "" },
      },
    });
    const t = await makeSource(api);
    try {
      await t.source.start();
      const snapshot = t.table.snapshot();
      assert.equal(snapshot.synced, true);
      assert.deepEqual(describeTable(snapshot), [
        "ns1/svc1:p80/TCP 172.30.0.1:80 -> 10.180.0.1:8080",
        "ns1/svc2:p80/TCP 172.30.0.2:80 -> 10.180.0.2:8080",
      ]);
      assert.deepEqual(snapshot.v4.nodeIPs, ["192.168.0.2"]);
      assert.equal(t.table.events.includes(`add node ${OTHER_NODE_NAME}`), false);
      assert.equal(t.table.events.some((e) => e.includes("other-proxy")), false);
      assert.equal(t.table.events.some((e) => e.includes("headless")), false);
      const lists = api.requests.filter((r) => !r.watch);
      const services = lists.find((r) => r.resource === "services");
      assert.equal(
        services?.query.labelSelector,
        "!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name",
      );
      assert.equal(
        lists.find((r) => r.resource === "endpointslices")?.query.labelSelector,
        "!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name",
      );
      assert.equal(
        lists.find((r) => r.resource === "nodes")?.query.fieldSelector,
        `metadata.name=${TEST_NODE_NAME}`,
      );
      assert.equal(t.source.connected, true);
      assert.equal(t.source.servingFromStateSince, null);
      assert.equal(t.source.node?.metadata?.name, TEST_NODE_NAME);
      // One call per delivered change, plus one per source becoming synced.
      assert.deepEqual([...t.changeKinds].sort(), [
        "endpointSlice",
        "endpointSlice",
        "node",
        "service",
        "service",
        "synced",
        "synced",
        "synced",
      ]);
    } finally {
      await t.source.stop();
    }
  });
});

Deno.test("ClusterSource applies adds, updates and deletes from the watch to the table", async () => {
  await withApi(async (api) => {
    seed(api, 1);
    const t = await makeSource(api);
    try {
      await started(t, api);
      const watches = api.requests.filter((r) => r.watch);
      assert.equal(watches.length, 3);
      for (const w of watches) assert.equal(w.query.allowWatchBookmarks, "true");
      const changesBefore = t.changes();

      api.create("services", service(2));
      api.create("endpointslices", slice(2));
      await t.table.waitFor("add endpointSlices ns1/svc2-1");
      assert.deepEqual(describeTable(t.table.snapshot()), [
        "ns1/svc1:p80/TCP 172.30.0.1:80 -> 10.180.0.1:8080",
        "ns1/svc2:p80/TCP 172.30.0.2:80 -> 10.180.0.2:8080",
      ]);

      api.update("endpointslices", slice(1, "10.180.9.9"));
      await t.table.waitFor("update endpointSlices ns1/svc1-1");
      api.delete("services", "ns1", "svc2");
      await t.table.waitFor("delete services ns1/svc2");
      assert.deepEqual(describeTable(t.table.snapshot()), [
        "ns1/svc1:p80/TCP 172.30.0.1:80 -> 10.180.9.9:8080",
      ]);
      assert.ok(t.changes() >= changesBefore + 4, "onChange after every delivered event");
      // The watch never needed a relist.
      assert.equal(api.requests.filter((r) => !r.watch && r.resource === "services").length, 1);
    } finally {
      await t.source.stop();
    }
  });
});

Deno.test("ClusterSource relists after 410 Gone and turns objects that vanished meanwhile into deletes", async () => {
  await withApi(async (api) => {
    seed(api, 2);
    const t = await makeSource(api);
    try {
      await started(t, api);
      const backingOff = [1, 2, 3].map(() => t.clock.nextSleep(BACKOFF_SLEEP));
      assert.equal(api.dropWatches(), 3);
      await Promise.all(backingOff);

      // While the watches are down: changes, then compaction of the history they missed.
      api.delete("services", "ns1", "svc1");
      api.delete("endpointslices", "ns1", "svc1-1");
      api.create("services", service(3));
      api.create("endpointslices", slice(3));
      api.compact();

      const converged = t.table.waitFor("delete endpointSlices ns1/svc1-1");
      t.clock.jump(1_000);
      await converged;
      await t.table.waitFor("add endpointSlices ns1/svc3-1");
      assert.deepEqual(describeTable(t.table.snapshot()), [
        "ns1/svc2:p80/TCP 172.30.0.2:80 -> 10.180.0.2:8080",
        "ns1/svc3:p80/TCP 172.30.0.3:80 -> 10.180.0.3:8080",
      ]);
      assert.ok(t.table.events.includes("delete services ns1/svc1"));
      const lists = api.requests.filter((r) => !r.watch && r.resource === "services");
      assert.deepEqual(
        lists.map((r) => r.query.resourceVersion),
        ["0", undefined],
        "the first LIST may come from the cache, the relist after 410 must be consistent",
      );
      // svc2 did not change: the relist delivered nothing for it.
      assert.equal(t.table.events.filter((e) => e === "update services ns1/svc2").length, 0);
    } finally {
      await t.source.stop();
    }
  });
});

Deno.test("ClusterSource reopens a dropped watch from the last resourceVersion without relisting", async () => {
  await withApi(async (api) => {
    seed(api, 1);
    const t = await makeSource(api);
    try {
      await started(t, api);
      const stored = api.create("services", service(2));
      await t.table.waitFor("add services ns1/svc2");
      const backingOff = [1, 2, 3].map(() => t.clock.nextSleep(BACKOFF_SLEEP));
      api.dropWatches();
      await Promise.all(backingOff);
      const rewatch = api.nextRequest((r) => r.watch && r.resource === "services");
      t.clock.jump(1_000);
      assert.equal((await rewatch).query.resourceVersion, stored.metadata.resourceVersion);
      api.create("services", service(3));
      await t.table.waitFor("add services ns1/svc3");
      assert.equal(api.requests.filter((r) => !r.watch && r.resource === "services").length, 1);
    } finally {
      await t.source.stop();
    }
  });
});

Deno.test("ClusterSource resumes a watch the server ended from the resourceVersion of the last bookmark", async () => {
  await withApi(async (api) => {
    seed(api, 1);
    const t = await makeSource(api);
    try {
      await started(t, api);
      api.create("nodes", makeNode(OTHER_NODE_NAME)); // moves the global resourceVersion on
      api.bookmark();
      const bookmarkRV = String(api.resourceVersion);
      const rewatch = api.nextRequest((r) => r.watch && r.resource === "services");
      api.endWatches();
      assert.equal((await rewatch).query.resourceVersion, bookmarkRV);
      assert.equal(api.requests.filter((r) => !r.watch).length, 3, "no relist");
    } finally {
      await t.source.stop();
    }
  });
});

Deno.test("ClusterSource backs off exponentially with jitter up to the cap while the API server fails, then recovers", async () => {
  await withApi(async (api) => {
    seed(api, 1);
    api.failRequests(500, { resource: "services" });
    const t = await makeSource(api, { backoff: { initialMs: 100, capMs: 400 } });
    try {
      const starting = t.source.start();
      const delays: number[] = [];
      for (let i = 0; i < 5; i++) {
        if (i > 0) t.clock.jump(delays[i - 1] as number);
        delays.push(await t.clock.nextSleep(BACKOFF_SLEEP));
      }
      // random() = 0.5 puts each delay at 3/4 of 100, 200, 400 (cap), 400, 400.
      assert.deepEqual(delays, [75, 150, 300, 300, 300]);
      assert.equal(t.source.connected, false);
      const message = "Cannot list services: the API server answered 500 InternalError: " +
        "Internal error occurred: injected fault";
      assert.equal(t.source.lastError?.message, message);
      assert.equal(
        t.log.lines.filter((l) => l.startsWith(`E ${message}`)).length,
        1,
        "the same failure is logged as an error once",
      );

      api.clearFaults();
      t.clock.jump(300);
      await starting;
      assert.equal(t.table.snapshot().synced, true);
      assert.ok(t.log.lines.some((l) => l.startsWith("I Connection to the API server restored")));
    } finally {
      await t.source.stop();
    }
  });
});

Deno.test("ClusterSource starts the backoff over when the previous failure is two minutes old", async () => {
  await withApi(async (api) => {
    seed(api, 1);
    api.failRequests(500, { resource: "services" });
    const t = await makeSource(api, { backoff: { initialMs: 100, capMs: 400 } });
    try {
      void t.source.start();
      const delays = [await t.clock.nextSleep(BACKOFF_SLEEP)];
      t.clock.jump(delays[0] as number);
      delays.push(await t.clock.nextSleep(BACKOFF_SLEEP));
      await t.clock.idle((ms) => ms === REQUEST_TIMEOUT_MS);
      t.clock.jump(121_000);
      delays.push(await t.clock.nextSleep(BACKOFF_SLEEP));
      assert.deepEqual(delays, [75, 150, 75]);
    } finally {
      await t.source.stop();
    }
  });
});

Deno.test("ClusterSource reports an unreachable API server and reconnects when it returns", async () => {
  await withApi(async (api) => {
    seed(api, 1);
    const t = await makeSource(api);
    try {
      await started(t, api);
      assert.equal(t.source.connected, true);
      const backingOff = [1, 2, 3].map(() => t.clock.nextSleep(BACKOFF_SLEEP));
      api.setReachable(false);
      await Promise.all(backingOff);
      assert.equal(t.source.connected, false);
      assert.match(
        t.source.lastError?.message ?? "",
        new RegExp(
          `^Cannot watch (services|endpointslices|nodes): cannot reach the API server at ${api.url}: `,
        ),
      );

      api.setReachable(true);
      t.clock.jump(1_000);
      api.create("services", service(2));
      api.create("endpointslices", slice(2));
      api.update(
        "nodes",
        makeNode(TEST_NODE_NAME, (n) => {
          n.metadata.labels["topology.kubernetes.io/zone"] = "zone-b";
        }),
      );
      await t.table.waitFor("add services ns1/svc2");
      await t.table.waitFor("add endpointSlices ns1/svc2-1");
      await t.table.waitFor(`update node ${TEST_NODE_NAME}`);
      assert.equal(t.source.connected, true);
      assert.equal(t.source.lastError, null);
    } finally {
      await t.source.stop();
    }
  });
});

Deno.test("ClusterSource gives up on a LIST that gets no answer within the request timeout and retries", async () => {
  await withApi(async (api) => {
    seed(api, 1);
    api.hangRequests(true);
    const t = await makeSource(api, { requestTimeoutMs: 7_777 });
    try {
      const starting = t.source.start();
      await Promise.all([1, 2, 3].map(() => t.clock.nextSleep((ms) => ms === 7_777)));
      const backingOff = [1, 2, 3].map(() => t.clock.nextSleep(BACKOFF_SLEEP));
      t.clock.jump(7_777);
      await Promise.all(backingOff);
      assert.ok(t.log.lines.includes(
        `E Cannot list services: no answer from the API server at ${api.url} within 7777ms ` +
          "retryInMs=75",
      ));
      api.hangRequests(false);
      t.clock.jump(1_000);
      await starting;
      assert.equal(t.table.snapshot().synced, true);
    } finally {
      await t.source.stop();
    }
  });
});

Deno.test("ClusterSource relists every configSyncPeriod without events for unchanged objects", async () => {
  await withApi(async (api) => {
    seed(api, 2);
    const t = await makeSource(api, { configSyncPeriodMs: 900_000, minWatchTimeoutSeconds: 3_600 });
    try {
      await started(t, api);
      await Promise.all([1, 2, 3].map(() => t.clock.nextSleep((ms) => ms === 900_000)));
      const eventsBefore = t.table.events.length;
      const next = [1, 2, 3].map(() => t.clock.nextSleep((ms) => ms === 900_000));
      t.clock.jump(900_000);
      await Promise.all(next);
      assert.equal(api.requests.filter((r) => !r.watch && r.resource === "services").length, 2);
      assert.equal(api.requests.filter((r) => !r.watch && r.resource === "nodes").length, 2);
      assert.deepEqual(t.table.events.slice(eventsBefore), []);
    } finally {
      await t.source.stop();
    }
  });
});

Deno.test("ClusterSource pages through LISTs with limit and continue", async () => {
  await withApi(async (api) => {
    seed(api, 50);
    const t = await makeSource(api, { pageSize: 7 });
    try {
      await t.source.start();
      const pages = api.requests.filter((r) => !r.watch && r.resource === "services");
      assert.equal(pages.length, 8);
      assert.equal(pages[0]?.query.limit, "7");
      assert.equal(pages[0]?.query.resourceVersion, "0");
      assert.equal(pages[0]?.query.continue, undefined);
      assert.ok(
        pages.slice(1).every((p) => p.query.continue !== undefined && p.query.limit === "7"),
      );
      assert.ok(pages.slice(1).every((p) => p.query.resourceVersion === undefined));
      assert.equal(describeTable(t.table.snapshot()).length, 50);
      assert.equal(t.table.events.filter((e) => e.startsWith("add services")).length, 50);
    } finally {
      await t.source.stop();
    }
  });
});

Deno.test("ClusterSource asks for a heap trim after each LIST page it applied", async () => {
  await withApi(async (api) => {
    seed(api, 20);
    const t = await makeSource(api, { pageSize: 7 });
    try {
      await t.source.start();
      const lists = api.requests.filter((r) => !r.watch);
      // 20 Services and 20 slices in pages of 7, and the Node: 3 + 3 + 1 pages.
      assert.equal(lists.length, 7);
      assert.equal(t.trims.length, lists.length);
      // Each trim comes after its page's objects reached the table, never before any did.
      assert.ok(t.trims.every((n, i) => n > 0 && n >= (t.trims[i - 1] ?? 0)), `${t.trims}`);
      // The last one after the last page: every object was in the table by then.
      const adds = (events: readonly string[]) => events.filter((e) => e.startsWith("add ")).length;
      assert.equal(adds(t.table.events.slice(0, t.trims.at(-1))), 41);
      assert.equal(adds(t.table.events), 41);
    } finally {
      await t.source.stop();
    }
  });
});

Deno.test("ClusterSource lists again in one page when a continue token expires", async () => {
  await withApi(async (api) => {
    seed(api, 20);
    let compacted = false;
    const t = await makeSource(api, {
      pageSize: 7,
      wrapTransport: (inner) => ({
        close: () => inner.close(),
        async fetch(url, init) {
          const response = await inner.fetch(url, init);
          // Compaction right after the first page of Services expires its continue token.
          if (!compacted && url.includes("/api/v1/services?") && !url.includes("watch=")) {
            compacted = true;
            api.compact();
          }
          return response;
        },
      }),
    });
    try {
      await t.source.start();
      const lists = api.requests.filter((r) => !r.watch && r.resource === "services");
      assert.deepEqual(lists.map((r) => r.status), [200, 410, 200]);
      assert.equal(lists[2]?.query.limit, undefined);
      assert.equal(describeTable(t.table.snapshot()).length, 20);
    } finally {
      await t.source.stop();
    }
  });
});

Deno.test("ClusterSource explains rejected credentials (401) and keeps retrying", async () => {
  await withApi(async (api) => {
    seed(api, 1);
    const t = await makeSource(api, { token: "wrong-token" });
    try {
      void t.source.start();
      await t.clock.nextSleep(BACKOFF_SLEEP);
      const message = "Cannot list services: the API server rejected the credentials " +
        "(401 Unauthorized); check the token or client certificate from the token of kubeconfig " +
        '"/etc/kube-proxy/kubeconfig" user "kube-proxy"';
      assert.ok(t.log.lines.includes(`E ${message} retryInMs=75`), t.log.text);
      assert.equal(t.log.text.includes("wrong-token"), false, "the token is never logged");
      assert.equal(t.source.lastError?.unauthorized, true);
    } finally {
      await t.source.stop();
    }
  });
});

Deno.test("ClusterSource names the RBAC permission kube-proxy lacks on 403", async () => {
  await withApi(async (api) => {
    seed(api, 1);
    api.forbid("endpointslices");
    const t = await makeSource(api);
    try {
      void t.source.start();
      await t.clock.nextSleep(BACKOFF_SLEEP);
      assert.ok(
        t.log.lines.some((l) =>
          l.startsWith(
            "E Cannot list endpointslices: forbidden (403): endpointslices is forbidden: User " +
              '"system:serviceaccount:kube-system:kube-proxy" cannot list resource ' +
              '"endpointslices" in API group "discovery.k8s.io" at the cluster scope; kube-proxy ' +
              "needs list and watch on services, nodes and endpointslices.discovery.k8s.io " +
              "(the system:node-proxier ClusterRole grants them)",
          )
        ),
        t.log.text,
      );
    } finally {
      await t.source.stop();
    }
  });
});

Deno.test("ClusterSource connects over TLS, trusting the CA from the kubeconfig", async () => {
  await withApi(async (api) => {
    seed(api, 1);
    assert.ok(api.url.startsWith("https://"));
    const t = await makeSource(api);
    try {
      await t.source.start();
      assert.equal(describeTable(t.table.snapshot()).length, 1);
    } finally {
      await t.source.stop();
    }
  }, { tls: true });
});

Deno.test("ClusterSource refuses a server certificate the kubeconfig's CA did not sign", async () => {
  await withApi(async (api) => {
    seed(api, 1);
    const t = await makeSource(api, {
      kubeconfigText: kubeconfigFor(api, { caCert: null }),
    });
    try {
      void t.source.start();
      await t.clock.nextSleep(BACKOFF_SLEEP);
      const error = t.log.lines.find((l) => l.startsWith("E Cannot list"));
      assert.match(
        error ?? "",
        /cannot reach the API server at https:\/\/127\.0\.0\.1:\d+: .*certificate/,
      );
      assert.match(error ?? "", /not signed by the configured certificate authority/);
      assert.equal(api.requests.length, 0, "no request got through");
    } finally {
      await t.source.stop();
    }
  }, { tls: true });
});

Deno.test("ClusterSource applies clientConnection.qps and burst to its requests", async () => {
  await withApi(async (api) => {
    seed(api, 1);
    const t = await makeSource(api, { qps: 2, burst: 1 });
    try {
      const starting = t.source.start();
      // One token at once; the other two LISTs wait 1/qps and 2/qps.
      assert.equal(await t.clock.nextSleep((ms) => ms === 500), 500);
      assert.equal(await t.clock.nextSleep((ms) => ms === 1_000), 1_000);
      t.clock.jump(1_000);
      await starting;
      assert.equal(t.table.snapshot().synced, true);
    } finally {
      await t.source.stop();
    }
  });
});
