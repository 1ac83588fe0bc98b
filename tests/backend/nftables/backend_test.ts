import assert from "node:assert/strict";
import type { V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import { ApplyError } from "../../../src/backend/backend.ts";
import { NftablesBackend } from "../../../src/backend/nftables/backend.ts";
import { SILENT_LOGGER } from "../../../src/log.ts";
import type { EndpointTable } from "../../../src/model/mod.ts";
import {
  makeEndpoint,
  makeService,
  makeSlice,
  servicePort,
  setClusterIPs,
  slicePort,
} from "../../fixtures/k8s_builders.ts";
import { type RecordedCall, RecordingRunner } from "../../fixtures/recording_runner.ts";
import { DEFAULT_OPTIONS, tableOf } from "./clusters.ts";
import { applyTransaction, type SimKernel } from "./simulate.ts";

function service(name: string, ip: string, affinity = false): V1Service {
  return makeService("ns1", name, (s) => {
    setClusterIPs(s, ip);
    s.spec.ports = [servicePort("p80", 80)];
    if (affinity) s.spec.sessionAffinity = "ClientIP";
  });
}

function slice(name: string, ips: string[]): V1EndpointSlice {
  return makeSlice("ns1", name, 1, (es) => {
    es.ports = [slicePort("p80", 80)];
    es.endpoints = ips.map((ip) => makeEndpoint(ip));
  });
}

/** A backend whose nft is the simulated kernel; `failNext` makes the next nft call fail. */
function harness() {
  const kernel: SimKernel = new Map();
  let now = 0;
  let failNext: string | null = null;
  let otherModeCleanups = 0;
  const events: string[] = [];
  const runner = new RecordingRunner((call: RecordedCall) => {
    events.push(`nft ${(call.stdin ?? "").split("\n", 1)[0]}`);
    if (failNext !== null) {
      const stderr = failNext;
      failNext = null;
      return { code: 1, stderr };
    }
    try {
      applyTransaction(kernel, (call.stdin ?? "").split("\n"));
      return undefined;
    } catch (error) {
      return { code: 1, stderr: `/dev/stdin:1:1-3: Error: ${(error as Error).message}\n` };
    }
  });
  const backend = new NftablesBackend(
    { runner, log: SILENT_LOGGER, options: DEFAULT_OPTIONS },
    {
      now: () => now,
      cleanupOtherModes: () => {
        otherModeCleanups++;
        return Promise.resolve();
      },
      reclaim: () => void events.push("reclaim"),
      trim: () => void events.push("trim"),
    },
  );
  return {
    kernel,
    runner,
    backend,
    advance: (ms: number) => void (now += ms),
    fail: (stderr: string) => void (failNext = stderr),
    otherModeCleanups: () => otherModeCleanups,
    events,
    lastStdin: () => runner.calls.at(-1)?.stdin ?? "",
  };
}

function initialTable(): EndpointTable {
  return tableOf({
    services: [service("svc1", "172.30.0.41"), service("svc2", "172.30.0.42", true)],
    slices: [slice("svc1", ["10.180.0.1", "10.180.0.2"]), slice("svc2", ["10.180.0.3"])],
  });
}

Deno.test("NftablesBackend.sync() replaces the table on the first sync and cleans iptables mode once", async () => {
  const h = harness();
  const table = initialTable();
  const outcome = await h.backend.sync({ snapshot: table.snapshot(), full: false });
  assert.equal(outcome.kind, "full");
  assert.equal(h.runner.calls.length, 2); // IPv4 content, IPv6 leftover check
  const v4 = h.runner.calls.find((c) => c.stdin?.includes("ip kube-proxy\n"));
  const v6 = h.runner.calls.find((c) => c.stdin?.includes("ip6 kube-proxy"));
  assert.deepEqual([v4?.command, v4?.args], ["nft", ["-f", "-"]]);
  assert.ok(v4?.stdin?.startsWith("add table ip kube-proxy\ndelete table ip kube-proxy\n"));
  assert.equal(v6?.stdin, "add table ip6 kube-proxy\ndelete table ip6 kube-proxy\n");
  assert.ok(outcome.rulesWritten > 0 && outcome.bytesWritten > (v4?.stdin?.length ?? 0) - 1);
  await h.backend.sync({ snapshot: table.snapshot(), full: false });
  assert.equal(h.otherModeCleanups(), 1);
});

Deno.test("NftablesBackend.sync() writes only the changed elements after the first sync", async () => {
  const h = harness();
  const table = initialTable();
  await h.backend.sync({ snapshot: table.snapshot(), full: true });
  table.onEndpointSliceUpdate(
    slice("svc1", ["10.180.0.1", "10.180.0.2"]),
    slice("svc1", ["10.180.0.1", "10.180.0.9"]),
  );
  const outcome = await h.backend.sync({ snapshot: table.snapshot(), full: false });
  assert.equal(outcome.kind, "partial");
  assert.equal(
    h.lastStdin(),
    "delete element ip kube-proxy service-endpoints-2 { 172.30.0.41 . tcp . 80 . 1 }\n" +
      "add element ip kube-proxy service-endpoints-2 { 172.30.0.41 . tcp . 80 . 1 : 10.180.0.9 . 80 }\n",
  );
  assert.equal(outcome.rulesWritten, 2);
});

Deno.test("NftablesBackend.sync() reclaims garbage after building a whole model, not after a change", async () => {
  const h = harness();
  const table = initialTable();
  await h.backend.sync({ snapshot: table.snapshot(), full: true });
  // The IPv4 model is built, collected, then written (IPv6 has no address: its leftover table
  // is only deleted, without a model).
  assert.deepEqual(h.events.filter((e) => !e.includes(" ip6 ")), [
    "reclaim",
    "nft add table ip kube-proxy",
  ]);
  h.events.length = 0;
  table.onEndpointSliceUpdate(
    slice("svc1", ["10.180.0.1", "10.180.0.2"]),
    slice("svc1", ["10.180.0.1", "10.180.0.9"]),
  );
  await h.backend.sync({ snapshot: table.snapshot(), full: false });
  assert.deepEqual(h.events, [
    "nft delete element ip kube-proxy service-endpoints-2 { 172.30.0.41 . tcp . 80 . 1 }",
  ]);
});

Deno.test("NftablesBackend.sync() offers to trim the heap every 1024 ports of a model build", async () => {
  const h = harness();
  const count = 2100;
  const table = tableOf({
    services: Array.from(
      { length: count },
      (_, i) => service(`svc${i}`, `172.30.${i >> 8}.${i & 255}`),
    ),
    slices: Array.from(
      { length: count },
      (_, i) => slice(`svc${i}`, [`10.180.${i >> 8}.${i & 255}`]),
    ),
  });
  await h.backend.sync({ snapshot: table.snapshot(), full: true });
  assert.deepEqual(h.events.filter((e) => !e.includes(" ip6 ")), [
    "trim",
    "trim",
    "reclaim",
    "nft add table ip kube-proxy",
  ]);
});

Deno.test("NftablesBackend.sync() skips nft when nothing changed", async () => {
  const h = harness();
  const table = initialTable();
  await h.backend.sync({ snapshot: table.snapshot(), full: true });
  const calls = h.runner.calls.length;
  const outcome = await h.backend.sync({ snapshot: table.snapshot(), full: false });
  assert.deepEqual(outcome, { kind: "skipped", rulesWritten: 0, bytesWritten: 0 });
  assert.equal(h.runner.calls.length, calls);
});

Deno.test("NftablesBackend.sync() reports nft's message and line, then replaces the table", async () => {
  const h = harness();
  const table = initialTable();
  await h.backend.sync({ snapshot: table.snapshot(), full: true });
  table.onServiceDelete(service("svc1", "172.30.0.41"));
  h.fail(
    "/dev/stdin:1:49-62: Error: Could not process rule: No such file or directory\n" +
      "delete element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 }\n" +
      "                                                ^^^^^^^^^^^^^^\n",
  );
  await assert.rejects(
    h.backend.sync({ snapshot: table.snapshot(), full: false }),
    (error: unknown) => {
      assert.ok(error instanceof ApplyError);
      assert.equal(error.family, "IPv4");
      assert.match(error.message, /nft rejected the IPv4 transaction \(exit status 1\)/);
      assert.match(error.message, /Could not process rule: No such file or directory/);
      assert.match(error.message, /at line 1 of \d+: flush chain|at line 1 of \d+: delete element/);
      return true;
    },
  );
  assert.equal(h.backend.stats.syncFailures.IPv4, 1);
  const outcome = await h.backend.sync({ snapshot: table.snapshot(), full: false });
  assert.equal(outcome.kind, "full");
  assert.ok(
    h.lastStdin().includes("delete table ip kube-proxy") ||
      h.runner.calls.some((c) => c.stdin?.startsWith("add table ip kube-proxy\ndelete table")),
  );
});

Deno.test("NftablesBackend.sync() rewrites in place hourly on full syncs and keeps affinity entries", async () => {
  const h = harness();
  const table = initialTable();
  await h.backend.sync({ snapshot: table.snapshot(), full: true });
  // The kernel fills the affinity set by itself.
  h.kernel.get("ip kube-proxy")?.sets.get("affinity")?.elements.set("203.0.113.2 . 1", "");
  h.advance(60_000);
  const calls = h.runner.calls.length;
  const early = await h.backend.sync({ snapshot: table.snapshot(), full: true });
  assert.equal(early.kind, "skipped");
  assert.equal(h.runner.calls.length, calls);
  h.advance(3_600_000);
  const late = await h.backend.sync({ snapshot: table.snapshot(), full: true });
  assert.equal(late.kind, "full");
  assert.ok(h.lastStdin().startsWith("add table ip kube-proxy\nflush table ip kube-proxy\n"));
  assert.ok(!h.lastStdin().includes("flush set ip kube-proxy affinity"));
  assert.ok(h.kernel.get("ip kube-proxy")?.sets.get("affinity")?.elements.has("203.0.113.2 . 1"));
});

Deno.test("NftablesBackend.sync() deletes unused chains a second after flushing them", async () => {
  const h = harness();
  const table = initialTable();
  await h.backend.sync({ snapshot: table.snapshot(), full: true });
  table.onServiceDelete(service("svc2", "172.30.0.42", true));
  await h.backend.sync({ snapshot: table.snapshot(), full: false });
  assert.match(h.lastStdin(), /^flush chain ip kube-proxy service-\w{8}-ns1\/svc2\/tcp\/p80$/m);
  table.onEndpointSliceUpdate(
    slice("svc1", ["10.180.0.1", "10.180.0.2"]),
    slice("svc1", ["10.180.0.1"]),
  );
  h.advance(500);
  await h.backend.sync({ snapshot: table.snapshot(), full: false });
  assert.ok(h.runner.calls.every((c) => !c.stdin?.startsWith("delete chain")));
  h.advance(600);
  await h.backend.sync({ snapshot: table.snapshot(), full: false });
  assert.match(h.lastStdin(), /^delete chain ip kube-proxy service-\w{8}-ns1\/svc2\/tcp\/p80\n$/);
  assert.ok(
    !h.kernel.get("ip kube-proxy")?.chains.has("service-") &&
      [...(h.kernel.get("ip kube-proxy")?.chains.keys() ?? [])].every((c) => !c.includes("svc2")),
  );
});

Deno.test("NftablesBackend.renderFull() prints both families' start-up transactions, labelled", () => {
  const h = harness();
  const text = h.backend.renderFull(initialTable().snapshot());
  assert.match(text, /^# IPv4: table ip kube-proxy\nadd table ip kube-proxy\n/);
  assert.match(text, /\n# IPv6: table ip6 kube-proxy \(the node has no IPv6 address\)\n/);
  assert.equal(h.runner.calls.length, 0);
});

Deno.test("NftablesBackend.cleanup() deletes both tables and the next sync replaces again", async () => {
  const h = harness();
  const table = initialTable();
  await h.backend.sync({ snapshot: table.snapshot(), full: true });
  await h.backend.cleanup();
  assert.deepEqual(h.runner.calls.slice(-2).map((c) => c.stdin), [
    "add table ip kube-proxy\ndelete table ip kube-proxy\n",
    "add table ip6 kube-proxy\ndelete table ip6 kube-proxy\n",
  ]);
  assert.equal(h.kernel.size, 0);
  const outcome = await h.backend.sync({ snapshot: table.snapshot(), full: false });
  assert.equal(outcome.kind, "full");
  assert.ok(h.kernel.has("ip kube-proxy"));
});
