import assert from "node:assert/strict";
import type { V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node";
import { decodeState, encodeState } from "../../src/state/state_file.ts";
import { type FakeApiServer, withApi } from "../fixtures/fake_api_server.ts";
import { TEST_NODE_NAME } from "../fixtures/k8s_builders.ts";
import { MemoryFiles } from "../fixtures/memory_files.ts";
import { seed, service, slice } from "../fixtures/numbered_services.ts";
import { makeSource } from "../fixtures/test_source.ts";
import { describeTable } from "./_describe_table.ts";

const STATE = "/var/lib/kube-proxy/state.json";

/** The state file a node would have saved from `api` as it is now. */
function savedState(api: FakeApiServer, nodeName = TEST_NODE_NAME): string {
  return encodeState({
    nodeName,
    savedAt: "2026-01-01T00:00:00.000Z",
    services: api.objects<V1Service>("services"),
    endpointSlices: api.objects<V1EndpointSlice>("endpointslices"),
    node: api.objects<V1Node>("nodes")[0] ?? null,
  });
}

Deno.test("ClusterSource restores the table from the state file when the API server is unreachable, then converges when it returns", async () => {
  await withApi(async (api) => {
    seed(api, 2);
    const files = new MemoryFiles({ [STATE]: savedState(api) });
    // What changed while the node was offline.
    api.delete("services", "ns1", "svc2");
    api.delete("endpointslices", "ns1", "svc2-1");
    api.create("services", service(3));
    api.create("endpointslices", slice(3));
    api.setReachable(false);

    const t = await makeSource(api, { stateFile: STATE, files });
    try {
      await t.source.start();
      assert.deepEqual(t.source.servingFromStateSince, new Date(t.clock.now()));
      assert.equal(t.source.connected, false);
      const restored = t.table.snapshot();
      assert.equal(restored.synced, true);
      assert.deepEqual(describeTable(restored), [
        "ns1/svc1:p80/TCP 172.30.0.1:80 -> 10.180.0.1:8080",
        "ns1/svc2:p80/TCP 172.30.0.2:80 -> 10.180.0.2:8080",
      ]);
      assert.ok(
        t.log.lines.some((l) =>
          l.startsWith(
            "W Cannot reach the API server; serving the cluster state saved in the state file " +
              `path=${STATE} savedAt=2026-01-01T00:00:00.000Z services=2 endpointSlices=2`,
          )
        ),
        t.log.text,
      );
      assert.equal(files.renames, 0, "a restore is never written back");

      await Promise.all([1, 2, 3].map(() => t.clock.nextSleep((ms) => ms < 1_000)));
      api.setReachable(true);
      const converged = t.log.waitFor("I Listed everything from the API server again");
      t.clock.jump(1_000);
      await converged;
      assert.equal(t.source.servingFromStateSince, null);
      assert.deepEqual(describeTable(t.table.snapshot()), [
        "ns1/svc1:p80/TCP 172.30.0.1:80 -> 10.180.0.1:8080",
        "ns1/svc3:p80/TCP 172.30.0.3:80 -> 10.180.0.3:8080",
      ]);
      assert.ok(t.table.events.includes("delete services ns1/svc2"));
      assert.ok(t.table.events.includes("delete endpointSlices ns1/svc2-1"));
      assert.equal(
        t.table.events.filter((e) => e.includes("svc1") || e.startsWith("update node")).length,
        2,
        "unchanged objects (same uid and resourceVersion) produce only their restore events",
      );

      await t.source.stop();
      const saved = decodeState(files.files.get(STATE) ?? "", STATE);
      assert.deepEqual(saved.services.map((s) => s.metadata?.name), ["svc1", "svc3"]);
      assert.deepEqual(saved.endpointSlices.map((s) => s.metadata?.name), ["svc1-1", "svc3-1"]);
      assert.equal(saved.node?.metadata?.name, TEST_NODE_NAME);
    } finally {
      await t.source.stop();
    }
  });
});

Deno.test("ClusterSource ignores a corrupt state file with a warning and waits for the API server", async () => {
  await withApi(async (api) => {
    seed(api, 1);
    const truncated = savedState(api).slice(0, 120);
    const files = new MemoryFiles({ [STATE]: truncated });
    api.setReachable(false);
    const t = await makeSource(api, { stateFile: STATE, files });
    try {
      let ready = false;
      const starting = t.source.start().then(() => {
        ready = true;
      });
      assert.equal(
        await t.log.waitFor("W State file"),
        `W State file "${STATE}" is not valid JSON (corrupt or truncated); not restoring from ` +
          "it (rules wait for the API server)",
      );
      assert.equal(ready, false);
      assert.equal(t.table.snapshot().synced, false);

      api.setReachable(true);
      await t.clock.nextSleep((ms) => ms < 1_000);
      t.clock.jump(1_000);
      await starting;
      assert.equal(t.source.servingFromStateSince, null);
      assert.deepEqual(describeTable(t.table.snapshot()), [
        "ns1/svc1:p80/TCP 172.30.0.1:80 -> 10.180.0.1:8080",
      ]);
      // The first save comes one interval after the LIST.
      t.clock.jump(await t.clock.nextSleep((ms) => ms === 5_000));
      await files.waitForRenames(1);
      assert.equal(decodeState(files.files.get(STATE) ?? "", STATE).services.length, 1);
    } finally {
      await t.source.stop();
    }
  });
});

Deno.test("ClusterSource ignores a state file saved by another node", async () => {
  await withApi(async (api) => {
    seed(api, 1);
    const files = new MemoryFiles({ [STATE]: savedState(api, "some-other-node") });
    api.setReachable(false);
    const t = await makeSource(api, { stateFile: STATE, files });
    try {
      void t.source.start();
      assert.equal(
        await t.log.waitFor("W The state file belongs"),
        `W The state file belongs to another node; not restoring from it path=${STATE} ` +
          `stateNode=some-other-node node=${TEST_NODE_NAME}`,
      );
      assert.equal(t.table.snapshot().synced, false);
    } finally {
      await t.source.stop();
    }
  });
});

Deno.test("ClusterSource restores from the state file when the API server does not answer within initialSyncTimeout", async () => {
  await withApi(async (api) => {
    seed(api, 1);
    const files = new MemoryFiles({ [STATE]: savedState(api) });
    api.hangRequests(true);
    const t = await makeSource(api, {
      stateFile: STATE,
      files,
      initialSyncTimeoutMs: 10_000,
      requestTimeoutMs: 60_000,
    });
    try {
      const starting = t.source.start();
      await t.clock.nextSleep((ms) => ms === 10_000);
      t.clock.jump(10_000);
      await starting;
      assert.notEqual(t.source.servingFromStateSince, null);
      assert.equal(describeTable(t.table.snapshot()).length, 1);
    } finally {
      api.hangRequests(false);
      await t.source.stop();
    }
  });
});

Deno.test("ClusterSource saves the state file after changes, at most once per interval", async () => {
  await withApi(async (api) => {
    seed(api, 1);
    const files = new MemoryFiles();
    const t = await makeSource(api, { stateFile: STATE, files, stateSaveIntervalMs: 5_000 });
    try {
      await t.source.start();
      assert.equal(files.renames, 0, "the first save waits one interval (the first sync runs now)");
      t.clock.jump(await t.clock.nextSleep((ms) => ms === 5_000));
      await files.waitForRenames(1);
      assert.deepEqual(files.log.slice(0, 3), [
        "mkdir /var/lib/kube-proxy",
        "write /var/lib/kube-proxy/.state.json.tmp",
        `rename /var/lib/kube-proxy/.state.json.tmp ${STATE}`,
      ]);
      await Promise.all(
        (["services", "endpointslices", "nodes"] as const).map((r) => api.waitForWatch(r)),
      );
      const waiting = t.clock.nextSleep((ms) => ms === 5_000);
      api.create("services", service(2));
      api.create("endpointslices", slice(2));
      await t.table.waitFor("add endpointSlices ns1/svc2-1");
      await waiting;
      assert.equal(files.renames, 1, "changes within the interval wait for it");
      t.clock.jump(5_000);
      await files.waitForRenames(2);
      const saved = decodeState(files.files.get(STATE) ?? "", STATE);
      assert.deepEqual(saved.services.map((s) => s.metadata?.name), ["svc1", "svc2"]);
      assert.equal(files.renames, 2, "both changes in one write");
    } finally {
      await t.source.stop();
    }
  });
});

Deno.test("ClusterSource's own state file restores the same table, and the next LIST finds every object unchanged", async () => {
  await withApi(async (api) => {
    seed(api, 3);
    const files = new MemoryFiles();
    const first = await makeSource(api, { stateFile: STATE, files });
    let before: string[];
    try {
      await first.source.start();
      before = describeTable(first.table.snapshot());
    } finally {
      await first.source.stop();
    }
    const saved = decodeState(files.files.get(STATE) ?? "", STATE);
    const inApi = api.objects<V1Service>("services")[0]?.metadata;
    assert.deepEqual(
      {
        uid: saved.services[0]?.metadata?.uid,
        resourceVersion: saved.services[0]?.metadata?.resourceVersion,
      },
      { uid: inApi?.uid, resourceVersion: inApi?.resourceVersion },
      "saved objects carry the API's uid and resourceVersion",
    );

    api.setReachable(false);
    const second = await makeSource(api, { stateFile: STATE, files });
    try {
      await second.source.start();
      assert.notEqual(second.source.servingFromStateSince, null);
      assert.deepEqual(describeTable(second.table.snapshot()), before);
      const restoreEvents = second.table.events.length;
      await Promise.all([1, 2, 3].map(() => second.clock.nextSleep((ms) => ms < 1_000)));
      api.setReachable(true);
      const converged = second.log.waitFor("I Listed everything from the API server again");
      second.clock.jump(1_000);
      await converged;
      assert.deepEqual(
        second.table.events.slice(restoreEvents).filter((e) => !e.startsWith("synced")),
        [],
        "no object changed, so the LIST delivers nothing",
      );
    } finally {
      await second.source.stop();
    }
  });
});
