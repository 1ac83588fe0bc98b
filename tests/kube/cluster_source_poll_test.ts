import assert from "node:assert/strict";
import { withApi } from "../fixtures/fake_api_server.ts";
import { makeNode, TEST_NODE_NAME } from "../fixtures/k8s_builders.ts";
import { seed, service, slice } from "../fixtures/numbered_services.ts";
import { makeSource, REQUEST_TIMEOUT_MS, type TestSource } from "../fixtures/test_source.ts";
import { describeTable } from "./_describe_table.ts";

const POLL_MS = 10_000;

/** Claims the poll sleeps already pending (one per resource after each round). */
async function pollsDone(t: TestSource): Promise<void> {
  await Promise.all([1, 2, 3].map(() => t.clock.nextSleep((ms) => ms === POLL_MS)));
}

/** Runs one poll round: advance the interval, wait until all three polls have slept again. */
async function pollRound(t: TestSource): Promise<void> {
  const done = pollsDone(t);
  t.clock.jump(POLL_MS);
  await done;
}

Deno.test("ClusterSource in poll mode builds the same table as watch mode through adds, updates and deletes", async () => {
  await withApi(async (api) => {
    seed(api, 3);
    const watch = await makeSource(api);
    const poll = await makeSource(api, { apiMode: "poll", pollIntervalMs: POLL_MS });
    try {
      await watch.source.start();
      await poll.source.start();
      await pollsDone(poll);
      assert.deepEqual(describeTable(poll.table.snapshot()), describeTable(watch.table.snapshot()));
      await Promise.all(
        (["services", "endpointslices", "nodes"] as const).map((r) => api.waitForWatch(r)),
      );

      api.create("services", service(4));
      api.create("endpointslices", slice(4));
      api.update("endpointslices", slice(1, "10.180.7.7"));
      api.delete("services", "ns1", "svc2");
      api.delete("endpointslices", "ns1", "svc2-1");
      api.update(
        "nodes",
        makeNode(TEST_NODE_NAME, (n) => {
          n.status.addresses = [{ type: "InternalIP", address: "192.168.0.3" }];
        }),
      );
      await watch.table.waitFor(`update node ${TEST_NODE_NAME}`);
      await pollRound(poll);

      const polled = poll.table.snapshot();
      const watched = watch.table.snapshot();
      assert.deepEqual(describeTable(polled), [
        "ns1/svc1:p80/TCP 172.30.0.1:80 -> 10.180.7.7:8080",
        "ns1/svc3:p80/TCP 172.30.0.3:80 -> 10.180.0.3:8080",
        "ns1/svc4:p80/TCP 172.30.0.4:80 -> 10.180.0.4:8080",
      ]);
      assert.deepEqual(polled.v4, watched.v4);
      assert.deepEqual(polled.v6, watched.v6);
      assert.deepEqual(polled.v4.nodeIPs, ["192.168.0.3"]);

      const lists = api.requests.filter((r) => !r.watch);
      assert.equal(
        lists.length,
        3 + 6,
        "one LIST per resource for watch mode, two rounds for poll",
      );
      assert.ok(lists.every((r) => r.query.resourceVersion === "0"));
      assert.equal(api.requests.filter((r) => r.watch).length, 3, "only the watch source watches");
    } finally {
      await watch.source.stop();
      await poll.source.stop();
    }
  });
});

Deno.test("ClusterSource in poll mode delivers no events when nothing changed", async () => {
  await withApi(async (api) => {
    seed(api, 2);
    const t = await makeSource(api, { apiMode: "poll", pollIntervalMs: POLL_MS });
    try {
      await t.source.start();
      await pollsDone(t);
      const events = t.table.events.length;
      const changes = t.changes();
      await pollRound(t);
      await pollRound(t);
      assert.equal(api.requests.filter((r) => !r.watch && r.resource === "services").length, 3);
      assert.equal(t.table.events.length, events);
      assert.equal(t.changes(), changes);
    } finally {
      await t.source.stop();
    }
  });
});

Deno.test("ClusterSource in poll mode retries a failed poll after a backoff delay", async () => {
  await withApi(async (api) => {
    seed(api, 1);
    const t = await makeSource(api, { apiMode: "poll", pollIntervalMs: POLL_MS });
    try {
      await t.source.start();
      await pollsDone(t);
      api.failRequests(503, { resource: "nodes", count: 1 });
      const retry = t.clock.nextSleep((ms) => ms < 1_000);
      const others = [1, 2].map(() => t.clock.nextSleep((ms) => ms === POLL_MS));
      t.clock.jump(POLL_MS);
      assert.equal(await retry, 75);
      await Promise.all(others);
      assert.ok(
        t.log.lines.includes(
          "E Cannot list nodes: the API server answered 503 ServiceUnavailable: the server is " +
            "currently unable to handle the request retryInMs=75",
        ),
        t.log.text,
      );
      const back = t.clock.nextSleep((ms) => ms === POLL_MS);
      await t.clock.idle((ms) => ms === REQUEST_TIMEOUT_MS);
      t.clock.jump(75);
      await back;
      assert.equal(t.source.connected, true);
    } finally {
      await t.source.stop();
    }
  });
});
