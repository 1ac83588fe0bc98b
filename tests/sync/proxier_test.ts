import { textLog } from "../fixtures/text_log.ts";
import assert from "node:assert/strict";
import {
  ApplyError,
  type ProxyBackend,
  type SyncOutcome,
  type SyncRequest,
} from "../../src/backend/backend.ts";
import { ConntrackCleaner } from "../../src/backend/conntrack.ts";
import type { ImplementedProxyMode } from "../../src/config/types.ts";
import { EndpointTable } from "../../src/model/mod.ts";
import { ProxyHealth } from "../../src/server/healthz.ts";
import { KubeProxyMetrics } from "../../src/server/metrics.ts";
import { MetricsRegistry } from "../../src/server/prometheus.ts";
import { noLocalEndpoints, Proxier, SyncFailedError } from "../../src/sync/proxier.ts";
import {
  makeEndpoint,
  makeNode,
  makeService,
  makeSlice,
  makeTableOptions,
  OTHER_NODE_NAME,
  servicePort,
  setClusterIPs,
  slicePort,
  TEST_NODE_NAME,
} from "../fixtures/k8s_builders.ts";
import { RecordingRunner } from "../fixtures/recording_runner.ts";
import { service as numberedService } from "../fixtures/numbered_services.ts";

const T0 = Date.UTC(2025, 0, 1);
const SYNC_PERIOD = 30_000;
const FULL_SYNC_PERIOD = 3_600_000;

/** A backend that records requests and fails on demand. */
class FakeBackend implements ProxyBackend {
  readonly requests: { full: boolean; revision: number }[] = [];
  failures: Error[] = [];
  constructor(readonly mode: ImplementedProxyMode = "iptables") {}
  renderFull(): string {
    return "";
  }
  sync(request: SyncRequest): Promise<SyncOutcome> {
    this.requests.push({ full: request.full, revision: request.snapshot.revision });
    const failure = this.failures.shift();
    if (failure !== undefined) return Promise.reject(failure);
    return Promise.resolve({
      kind: request.full ? "full" : "partial",
      rulesWritten: 42,
      bytesWritten: 4200,
    });
  }
  cleanup(): Promise<void> {
    return Promise.resolve();
  }
}

function web(ips: string[] = ["10.180.0.1"]) {
  return {
    svc: makeService("ns1", "web", (s) => {
      setClusterIPs(s, "172.30.0.41");
      s.spec.ports = [servicePort("p80", 80)];
    }),
    slice: makeSlice("ns1", "web", 1, (es) => {
      es.ports = [slicePort("p80", 80)];
      es.endpoints = ips.map((ip) => makeEndpoint(ip, { nodeName: TEST_NODE_NAME }));
    }),
  };
}

function setup(
  opts: {
    mode?: ImplementedProxyMode;
    synced?: boolean;
    verbosity?: number;
    reclaim?: () => void;
    trim?: () => void;
  } = {},
) {
  let now = T0;
  const table = new EndpointTable(makeTableOptions());
  table.onNodeAdd(makeNode());
  if (opts.synced ?? true) {
    for (const s of ["services", "endpointSlices", "node"] as const) table.markSynced(s);
  }
  const backend = new FakeBackend(opts.mode);
  const registry = new MetricsRegistry();
  const metrics = new KubeProxyMetrics(registry, opts.mode ?? "iptables");
  const health = new ProxyHealth({
    now: () => now,
    healthTimeoutMs: 2 * SYNC_PERIOD,
    node: () => ({ known: true, deleting: false, toBeDeletedTaint: false }),
  });
  const { log, lines } = textLog({ verbosity: opts.verbosity ?? 2, now: () => new Date(now) });
  const runner = new RecordingRunner();
  const proxier = new Proxier({
    table,
    backend,
    log,
    metrics,
    health,
    now: () => now,
    fullSyncPeriodMs: FULL_SYNC_PERIOD,
    families: ["IPv4", "IPv6"],
    conntrack: new ConntrackCleaner(runner, log),
    ...(opts.reclaim === undefined ? {} : { reclaim: opts.reclaim }),
    ...(opts.trim === undefined ? {} : { trim: opts.trim }),
  });
  return {
    table,
    backend,
    metrics,
    health,
    lines,
    runner,
    proxier,
    advance: (ms: number) => (now += ms),
  };
}

Deno.test("Proxier.sync() programs nothing until the table is synced", async () => {
  const { proxier, backend, table } = setup({ synced: false });
  table.onServiceAdd(web().svc);
  await proxier.sync();
  assert.deepEqual(backend.requests, []);
  assert.deepEqual(proxier.lastResult, { kind: "not-synced" });
});

Deno.test("Proxier.sync() makes the first sync full and later ones partial", async () => {
  const { proxier, backend, table, advance } = setup();
  const { svc, slice } = web();
  table.onServiceAdd(svc);
  await proxier.sync();
  advance(1_000);
  table.onEndpointSliceAdd(slice);
  await proxier.sync();
  assert.deepEqual(backend.requests.map((r) => r.full), [true, false]);
});

Deno.test("Proxier.sync() reclaims garbage after a snapshot of 1000+ changed Services, before rendering", async () => {
  const events: string[] = [];
  const { proxier, backend, table, advance } = setup({
    reclaim: () => void events.push("reclaim"),
    trim: () => {},
  });
  const sync = backend.sync.bind(backend);
  backend.sync = (request) => {
    events.push(`sync ${request.snapshot.changedServices.length}`);
    return sync(request);
  };
  for (let i = 1; i <= 1000; i++) table.onServiceAdd(numberedService(i));
  await proxier.sync();
  advance(1_000);
  table.onServiceAdd(numberedService(1001));
  await proxier.sync();
  assert.deepEqual(events, ["reclaim", "sync 1000", "sync 1"]);
});

Deno.test("Proxier.sync() offers a trim before each snapshot and after each applied sync, once logged", async () => {
  const events: string[] = [];
  const { proxier, backend, table, advance, lines } = setup({
    trim: () => void events.push(`trim (${lines.length} log lines)`),
  });
  const sync = backend.sync.bind(backend);
  backend.sync = (request) => {
    events.push("sync");
    return sync(request);
  };
  table.onServiceAdd(web().svc);
  await proxier.sync();
  const logged = lines.length;
  advance(1_000);
  await proxier.sync(); // nothing changed: no backend call, no trim after it
  assert.deepEqual(events, [
    "trim (0 log lines)",
    "sync",
    `trim (${logged} log lines)`,
    `trim (${logged} log lines)`,
  ]);
});

Deno.test("Proxier.sync() skips the kernel when the revision is unchanged and no full sync is due", async () => {
  const { proxier, backend, table, advance, health } = setup();
  table.onServiceAdd(web().svc);
  await proxier.sync();
  advance(1_000);
  health.queuedUpdate("IPv4");
  await proxier.sync();
  assert.equal(backend.requests.length, 1);
  assert.equal(proxier.lastResult?.kind, "unchanged");
  advance(2 * SYNC_PERIOD);
  assert.equal(health.report().healthy, true, "an unchanged sync still counts as up to date");
});

Deno.test("Proxier.sync() goes full again once an hour has passed since the last full sync", async () => {
  const { proxier, backend, table, advance } = setup();
  table.onServiceAdd(web().svc);
  await proxier.sync();
  advance(FULL_SYNC_PERIOD - 1);
  await proxier.sync();
  assert.equal(backend.requests.length, 1, "nothing changed, not due yet");
  advance(1);
  await proxier.sync();
  assert.deepEqual(backend.requests.map((r) => r.full), [true, true]);
});

Deno.test("Proxier.sync() goes full when the node's data changed", async () => {
  const { proxier, backend, table, advance } = setup();
  table.onServiceAdd(web().svc);
  await proxier.sync();
  advance(1_000);
  table.onNodeUpdate(
    makeNode(),
    makeNode(TEST_NODE_NAME, (n) => {
      n.status.addresses = [{ type: "InternalIP", address: "192.168.0.3" }];
    }),
  );
  await proxier.sync();
  assert.deepEqual(backend.requests.map((r) => r.full), [true, true]);
});

Deno.test("Proxier.sync() logs every sync at -v=2 with kind, duration and rules count", async () => {
  const { proxier, table, lines } = setup({ verbosity: 2 });
  table.onServiceAdd(web().svc);
  await proxier.sync();
  assert.match(
    lines.at(-1) ?? "",
    /^I.* "SyncProxyRules complete" kind="full" full=true elapsed="0s" rules=42 bytes=4200 /,
  );
});

Deno.test("Proxier.sync() logs nothing at -v=0 for a successful sync", async () => {
  const { proxier, table, lines } = setup({ verbosity: 0 });
  table.onServiceAdd(web().svc);
  await proxier.sync();
  assert.deepEqual(lines, []);
});

Deno.test("Proxier.sync() on ApplyError: logs the cause once, counts it, throws, and goes full next", async () => {
  const { proxier, backend, table, metrics, lines, advance } = setup({ verbosity: 0 });
  table.onServiceAdd(web().svc);
  await proxier.sync();
  advance(1_000);
  table.onEndpointSliceAdd(web().slice);
  const cause = new ApplyError("iptables-restore: line 7 failed", "IPv4");
  backend.failures = [cause, cause];
  await assert.rejects(() => proxier.sync(), SyncFailedError);
  advance(1_000);
  await assert.rejects(() => proxier.sync(), SyncFailedError);
  advance(1_000);
  await proxier.sync();
  assert.deepEqual(backend.requests.map((r) => r.full), [true, false, true, true]);
  const errors = lines.filter((l) => l.startsWith("E"));
  assert.equal(errors.length, 1, "the same cause is logged once");
  assert.match(
    errors[0] ?? "",
    /Failed to apply proxy rules.*kind="partial" family="IPv4" err="iptables-restore: line 7 failed"/,
  );
  assert.match(lines.at(-1) ?? "", /Proxy rules applied again after failures.*failedAttempts=2/);
  assert.equal(metrics.iptablesRestoreFailures?.get({ ip_family: "IPv4" }), 2);
  assert.equal(metrics.iptablesPartialRestoreFailures?.get({ ip_family: "IPv4" }), 1);
});

Deno.test("Proxier.sync() logs a new cause again", async () => {
  const { proxier, backend, table, lines } = setup({ verbosity: 0 });
  table.onServiceAdd(web().svc);
  backend.failures = [new ApplyError("first", "IPv4"), new ApplyError("second", "IPv6")];
  await assert.rejects(() => proxier.sync());
  await assert.rejects(() => proxier.sync());
  assert.equal(lines.filter((l) => l.startsWith("E")).length, 2);
});

Deno.test("Proxier.sync() counts nftables failures in nftables_sync_failures_total", async () => {
  const { proxier, backend, table, metrics } = setup({ mode: "nftables" });
  table.onServiceAdd(web().svc);
  backend.failures = [new ApplyError("nft: syntax error", "IPv6")];
  await assert.rejects(() => proxier.sync());
  assert.equal(metrics.nftablesSyncFailures?.get({ ip_family: "IPv6" }), 1);
});

Deno.test("Proxier.sync() records duration histograms, timestamps and health per family", async () => {
  const { proxier, table, metrics, health, advance } = setup();
  table.onServiceAdd(web().svc);
  advance(5_000);
  await proxier.sync();
  for (const ip_family of ["IPv4", "IPv6"] as const) {
    assert.equal(metrics.syncDuration.count({ ip_family }), 1);
    assert.equal(metrics.syncFullDuration?.count({ ip_family }), 1);
    assert.equal(metrics.lastSyncTimestamp.get({ ip_family }), (T0 + 5_000) / 1000);
  }
  assert.deepEqual([...health.report().status.keys()], ["IPv4", "IPv6"]);
});

Deno.test("Proxier.queueChange() counts changes, marks health queued once synced, and sync clears pending", async () => {
  const { proxier, table, metrics, health, advance } = setup();
  table.onServiceAdd(web().svc);
  proxier.queueChange("service");
  proxier.queueChange("endpointSlice");
  proxier.queueChange("endpointSlice");
  assert.equal(metrics.serviceChangesTotal.get(), 1);
  assert.equal(metrics.endpointChangesPending.get(), 2);
  assert.equal(metrics.lastQueuedTimestamp.get({ ip_family: "IPv4" }), T0 / 1000);
  health.updated("IPv4");
  proxier.queueChange();
  advance(2 * SYNC_PERIOD);
  assert.equal(health.report().healthy, false, "a queued change went unsynced too long");
  await proxier.sync();
  assert.equal(health.report().healthy, true);
  assert.equal(metrics.endpointChangesPending.get(), 0);
  assert.equal(metrics.endpointChangesTotal.get(), 2);
});

Deno.test("Proxier.queueChange() does not queue health before the table is synced", () => {
  const { proxier, health, advance } = setup({ synced: false });
  health.updated("IPv4");
  proxier.queueChange("service");
  advance(10 * SYNC_PERIOD);
  assert.equal(health.report().healthy, true);
});

Deno.test("Proxier.sync() clears stale UDP conntrack entries after applying", async () => {
  const { proxier, table, runner, advance } = setup();
  const svc = makeService("ns1", "dns", (s) => {
    setClusterIPs(s, "172.30.0.10");
    s.spec.ports = [servicePort("dns", 53, { protocol: "UDP" })];
  });
  const slice = (ips: string[]) =>
    makeSlice("ns1", "dns", 1, (es) => {
      es.ports = [slicePort("dns", 53, "UDP")];
      es.endpoints = ips.map((ip) => makeEndpoint(ip));
    });
  table.onServiceAdd(svc);
  await proxier.sync();
  assert.equal(runner.calls.length, 0, "no endpoints yet");
  advance(1_000);
  table.onEndpointSliceAdd(slice(["10.180.0.1", "10.180.0.2"]));
  await proxier.sync();
  advance(1_000);
  table.onEndpointSliceUpdate(slice(["10.180.0.1", "10.180.0.2"]), slice(["10.180.0.1"]));
  await proxier.sync();
  assert.deepEqual(runner.calls.map((c) => [c.command, ...c.args].join(" ")), [
    "conntrack -D -p udp --orig-dst 172.30.0.10 --dport 53",
    "conntrack -D -p udp --orig-dst 172.30.0.10 --dst-nat 10.180.0.2",
  ]);
});

Deno.test("noLocalEndpoints() counts Local-policy ports with endpoints elsewhere only", () => {
  const table = new EndpointTable(makeTableOptions());
  table.onNodeAdd(makeNode());
  table.onServiceAdd(makeService("ns1", "itp", (s) => {
    setClusterIPs(s, "172.30.0.41");
    s.spec.internalTrafficPolicy = "Local";
    s.spec.ports = [servicePort("p80", 80)];
  }));
  table.onEndpointSliceAdd(makeSlice("ns1", "itp", 1, (es) => {
    es.ports = [slicePort("p80", 80)];
    es.endpoints = [makeEndpoint("10.180.0.1", { nodeName: OTHER_NODE_NAME })];
  }));
  table.onServiceAdd(makeService("ns1", "empty", (s) => {
    setClusterIPs(s, "172.30.0.42");
    s.spec.internalTrafficPolicy = "Local";
    s.spec.ports = [servicePort("p80", 80)];
  }));
  assert.deepEqual(noLocalEndpoints(table.snapshot().v4), { internal: 1, external: 0 });
});
