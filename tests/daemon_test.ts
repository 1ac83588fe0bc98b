import { textLog } from "./fixtures/text_log.ts";
import assert from "node:assert/strict";
import type { ProxyBackend, SyncOutcome, SyncRequest } from "../src/backend/backend.ts";
import { type ProxyConfig, resolveConfig } from "../src/config/mod.ts";
import {
  CONFIG_CHANGED_MESSAGE,
  type DaemonServers,
  type DaemonSource,
  denoWatchFile,
  runDaemon,
  type SignalRegistry,
  type StopSignal,
} from "../src/daemon.ts";
import { createClusterSource } from "../src/kube/mod.ts";
import { SILENT_LOGGER } from "../src/log.ts";
import { EndpointTable } from "../src/model/mod.ts";
import type { ChangeKind } from "../src/sync/proxier.ts";
import type { KernelFiles } from "../src/sync/sysctl.ts";
import { FakeApiServer } from "./fixtures/fake_api_server.ts";
import {
  makeEndpoint,
  makeNode,
  makeService,
  makeSlice,
  makeTableOptions,
  servicePort,
  setClusterIPs,
  slicePort,
  TEST_NODE_NAME,
} from "./fixtures/k8s_builders.ts";
import { ManualClock, settle } from "./fixtures/manual_clock.ts";
import { parsePrometheusText } from "./fixtures/prometheus_text.ts";
import { RecordingRunner } from "./fixtures/recording_runner.ts";
import { TEST_SOURCE_OPTIONS } from "./fixtures/test_source.ts";

function testConfig(overrides: Partial<ProxyConfig> = {}): ProxyConfig {
  return {
    ...resolveConfig(
      { apiVersion: "kubeproxy.config.k8s.io/v1alpha1", kind: "KubeProxyConfiguration" },
      { hostnameOverride: TEST_NODE_NAME },
    ),
    healthzBindAddress: "127.0.0.1:0",
    metricsBindAddress: "127.0.0.1:0",
    ...overrides,
  };
}

class FakeBackend implements ProxyBackend {
  readonly mode = "iptables" as const;
  readonly requests: SyncRequest[] = [];
  cleanups = 0;
  #firstSync!: () => void;
  readonly firstSync = new Promise<void>((resolve) => (this.#firstSync = resolve));
  renderFull(): string {
    return "";
  }
  sync(request: SyncRequest): Promise<SyncOutcome> {
    this.requests.push(request);
    this.#firstSync();
    return Promise.resolve({
      kind: request.full ? "full" : "partial",
      rulesWritten: 7,
      bytesWritten: 70,
    });
  }
  cleanup(): Promise<void> {
    this.cleanups++;
    return Promise.resolve();
  }
}

/** Delivers one Service with an endpoint, then reports synced. */
class FakeSource implements DaemonSource {
  connected = true;
  servingFromStateSince: Date | null = null;
  stopped = false;
  hangOnStop = false;
  constructor(readonly table: EndpointTable, readonly onChange: (kind?: ChangeKind) => void) {}
  start(): Promise<void> {
    this.table.onNodeAdd(makeNode());
    this.table.onServiceAdd(makeService("ns1", "web", (s) => {
      setClusterIPs(s, "172.30.0.41");
      s.spec.ports = [servicePort("p80", 80)];
    }));
    this.table.onEndpointSliceAdd(makeSlice("ns1", "web", 1, (es) => {
      es.ports = [slicePort("p80", 80)];
      es.endpoints = [makeEndpoint("10.180.0.1", { nodeName: TEST_NODE_NAME })];
    }));
    for (const s of ["services", "endpointSlices", "node"] as const) this.table.markSynced(s);
    this.onChange("service");
    return Promise.resolve();
  }
  stop(): Promise<void> {
    this.stopped = true;
    return this.hangOnStop ? new Promise(() => {}) : Promise.resolve();
  }
}

class FakeSignals implements SignalRegistry {
  readonly handlers = new Map<StopSignal, Set<() => void>>();
  add(signal: StopSignal, handler: () => void) {
    if (!this.handlers.has(signal)) this.handlers.set(signal, new Set());
    this.handlers.get(signal)?.add(handler);
  }
  remove(signal: StopSignal, handler: () => void) {
    this.handlers.get(signal)?.delete(handler);
  }
  send(signal: StopSignal) {
    for (const h of this.handlers.get(signal) ?? []) h();
  }
  get count() {
    return [...this.handlers.values()].reduce((n, s) => n + s.size, 0);
  }
}

/** /proc/sys mounted read-only, as in many containers. */
const READ_ONLY_KERNEL: KernelFiles = {
  read: () => Promise.resolve("0\n"),
  write: (path) => Promise.reject(new Deno.errors.PermissionDenied(`Permission denied: ${path}`)),
};

function start(opts: {
  config?: Partial<ProxyConfig>;
  configPath?: string;
  sourceFactory?: () => DaemonSource;
  listenFails?: boolean;
  /** Runs while the daemon reads /proc/sys at start-up. */
  duringStartup?: (signals: FakeSignals) => void;
} = {}) {
  const clock = new ManualClock();
  const table = new EndpointTable(makeTableOptions());
  const backend = new FakeBackend();
  const signals = new FakeSignals();
  const { log, lines } = textLog({ verbosity: 2, now: () => new Date(clock.now()) });
  const exits: number[] = [];
  let source: FakeSource | undefined;
  let fileChanged: (() => void) | undefined;
  let watcherClosed = false;
  let resolveServing!: (s: DaemonServers) => void;
  const serving = new Promise<DaemonServers>((r) => (resolveServing = r));
  const code = runDaemon({
    config: testConfig(opts.config),
    table,
    source: (onChange) => {
      if (opts.sourceFactory) return opts.sourceFactory();
      source = new FakeSource(table, onChange);
      return source;
    },
    backend,
    runner: new RecordingRunner(),
    log,
    ...(opts.configPath === undefined ? {} : { configPath: opts.configPath }),
    clock,
    signals,
    watchFile: (_path, onChange) => {
      fileChanged = onChange;
      return { close: () => (watcherClosed = true) };
    },
    exit: (c) => exits.push(c),
    kernelFiles: {
      read: (path) => {
        opts.duringStartup?.(signals);
        return READ_ONLY_KERNEL.read(path);
      },
      write: READ_ONLY_KERNEL.write,
    },
    cpus: 2,
    readProc: () => undefined,
    localAddresses: () => [],
    ...(opts.listenFails
      ? { listen: () => Promise.reject(new Deno.errors.AddrInUse("Address in use")) }
      : {}),
    onServing: resolveServing,
  });
  return {
    code,
    clock,
    backend,
    signals,
    lines,
    exits,
    serving,
    source: () => source,
    changeConfigFile: () => fileChanged?.(),
    watcherClosed: () => watcherClosed,
  };
}

Deno.test("runDaemon() serves /healthz 200 and /metrics after the first sync, and exits 0 on SIGTERM leaving rules in place", async () => {
  const d = start();
  const { healthz, metrics } = await d.serving;
  assert.ok(healthz && metrics);
  await Promise.race([
    d.backend.firstSync,
    d.code.then((c) => Promise.reject(new Error(`runDaemon() returned ${c} before syncing`))),
  ]);

  const hz = await fetch(`http://127.0.0.1:${healthz.port}/healthz`);
  assert.equal(hz.status, 200);
  assert.equal((await hz.json()).nodeEligible, true);

  const scrape = parsePrometheusText(
    await (await fetch(`http://127.0.0.1:${metrics.port}/metrics`)).text(),
  );
  assert.equal(
    scrape.value("kubeproxy_sync_proxy_rules_duration_seconds_count", { ip_family: "IPv4" }),
    1,
  );
  assert.equal(scrape.value("kubeproxy_proxy_healthz_total", { code: "200" }), 1);
  assert.equal(scrape.value("deno_kube_proxy_api_connected"), 1);
  assert.equal(scrape.value("deno_kube_proxy_serving_from_state_file_since_seconds"), 0);
  assert.equal(scrape.value("kubeproxy_sync_proxy_rules_service_changes_total"), 1);
  assert.equal(
    await (await fetch(`http://127.0.0.1:${metrics.port}/proxyMode`)).text(),
    "iptables",
  );
  const configz = await (await fetch(`http://127.0.0.1:${metrics.port}/configz`)).json();
  assert.equal(configz["kubeproxy.config.k8s.io"].kind, "KubeProxyConfiguration");
  assert.equal(configz["kubeproxy.config.k8s.io"].mode, "iptables");

  d.signals.send("SIGTERM");
  assert.equal(await d.code, 0);
  assert.equal(d.backend.cleanups, 0, "rules stay in place");
  assert.equal(d.source()?.stopped, true);
  assert.equal(d.signals.count, 0, "signal handlers removed");
  await assert.rejects(() => fetch(`http://127.0.0.1:${healthz.port}/healthz`));
  assert.match(
    d.lines.join(""),
    /Received signal, shutting down; proxy rules stay in place.*signal="SIGTERM"/,
  );
  assert.match(
    d.lines.join(""),
    /W.*Cannot set net\/netfilter\/nf_conntrack_max/,
    "read-only /proc/sys only warns",
  );
});

Deno.test("runDaemon() exits 1 with upstream's message when the config file changes", async () => {
  const d = start({ configPath: "/etc/kube-proxy/config.yaml" });
  await d.serving;
  await d.backend.firstSync;
  d.changeConfigFile();
  assert.equal(await d.code, 1);
  assert.match(
    d.lines.join(""),
    new RegExp(
      `E.*"command failed" err="${CONFIG_CHANGED_MESSAGE}" file="/etc/kube-proxy/config.yaml"`,
    ),
  );
  assert.equal(d.watcherClosed(), true);
  assert.equal(d.backend.cleanups, 0);
});

Deno.test("runDaemon() returns within the shutdown bound when a component hangs", async () => {
  const d = start();
  await d.serving;
  await d.backend.firstSync;
  const source = d.source();
  assert.ok(source);
  source.hangOnStop = true;
  d.signals.send("SIGINT");
  let done = false;
  d.code.then(() => (done = true));
  await d.clock.advance(1_999);
  assert.equal(done, false);
  await d.clock.advance(1);
  assert.equal(await d.code, 0);
  assert.match(d.lines.join(""), /Shutdown did not finish in time/);
});

Deno.test("runDaemon() exits at once on a second signal", async () => {
  const d = start();
  await d.serving;
  await d.backend.firstSync;
  const source = d.source();
  assert.ok(source);
  source.hangOnStop = true;
  d.signals.send("SIGTERM");
  await settle();
  d.signals.send("SIGINT");
  assert.deepEqual(d.exits, [130]);
  await d.clock.advance(2_000);
  await d.code;
});

Deno.test("runDaemon() honours SIGTERM during start-up without starting the API source", async () => {
  let created = false;
  let sent = false;
  const d = start({
    duringStartup: (signals) => {
      if (!sent) signals.send("SIGTERM");
      sent = true;
    },
    sourceFactory: () => {
      created = true;
      throw new Error("must not be called");
    },
  });
  assert.equal(await d.code, 0);
  assert.equal(created, false);
  assert.deepEqual(d.exits, []);
});

Deno.test("runDaemon() returns 1 when the API source cannot be set up", async () => {
  const d = start({
    sourceFactory: () => {
      throw new Error("Neither kubeconfig file nor master URL was specified");
    },
  });
  assert.equal(await d.code, 1);
  assert.match(d.lines.join(""), /E.*Cannot start watching the API server.*Neither kubeconfig/);
});

Deno.test("runDaemon() returns 1 when a port is taken and bindAddressHardFail is set", async () => {
  const d = start({ config: { bindAddressHardFail: true }, listenFails: true });
  assert.equal(await d.code, 1);
  assert.match(d.lines.join(""), /E.*Cannot serve healthz.*Address in use/);
});

Deno.test("runDaemon() keeps running without the server when a port is taken and bindAddressHardFail is off", async () => {
  const d = start({ listenFails: true });
  assert.deepEqual(await d.serving, {});
  await d.backend.firstSync;
  d.signals.send("SIGTERM");
  assert.equal(await d.code, 0);
});

Deno.test("runDaemon() disables a server whose bind address is empty", async () => {
  const d = start({ config: { healthzBindAddress: "" } });
  const servers = await d.serving;
  assert.equal(servers.healthz, undefined);
  assert.ok(servers.metrics);
  d.signals.send("SIGTERM");
  assert.equal(await d.code, 0);
});

Deno.test("denoWatchFile() reports a write to the watched file", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/kube-proxy-config.yaml`;
  await Deno.writeTextFile(path, "kind: KubeProxyConfiguration\n");
  let changed!: () => void;
  const seen = new Promise<void>((resolve) => (changed = resolve));
  const watcher = denoWatchFile(path, () => changed());
  try {
    await Deno.writeTextFile(path, "kind: KubeProxyConfiguration\nmode: nftables\n");
    await seen;
  } finally {
    watcher.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runDaemon() with the real API source: /healthz 200 after the first sync from the fake API server", async () => {
  const api = await FakeApiServer.start({ token: null });
  api.create("nodes", makeNode());
  api.create(
    "services",
    makeService("ns1", "web", (s) => {
      setClusterIPs(s, "172.30.0.41");
      s.spec.ports = [servicePort("p80", 80)];
    }),
  );
  api.create(
    "endpointslices",
    makeSlice("ns1", "web", 1, (es) => {
      es.ports = [slicePort("p80", 80)];
      es.endpoints = [makeEndpoint("10.180.0.1", { nodeName: TEST_NODE_NAME })];
    }),
  );
  const clock = new ManualClock();
  const table = new EndpointTable(makeTableOptions());
  const backend = new FakeBackend();
  const signals = new FakeSignals();
  let resolveServing!: (s: DaemonServers) => void;
  const serving = new Promise<DaemonServers>((r) => (resolveServing = r));
  try {
    const code = runDaemon({
      config: testConfig(),
      table,
      source: (onChange) =>
        createClusterSource({ ...TEST_SOURCE_OPTIONS, kubeconfig: "", master: api.url }, {
          table,
          onChange,
          log: SILENT_LOGGER,
          env: () => undefined,
          readTextFile: (path) => Deno.readTextFile(path),
          clock,
        }),
      backend,
      runner: new RecordingRunner(),
      log: SILENT_LOGGER,
      clock,
      signals,
      exit: () => {},
      kernelFiles: READ_ONLY_KERNEL,
      cpus: 2,
      readProc: () => undefined,
      onServing: resolveServing,
    });
    const { healthz, metrics } = await serving;
    await Promise.race([
      backend.firstSync,
      code.then((c) => Promise.reject(new Error(`runDaemon() returned ${c} before syncing`))),
    ]);
    assert.equal(backend.requests[0]?.snapshot.v4.servicePorts[0]?.key, "ns1/web:p80");
    const hz = await fetch(`http://127.0.0.1:${healthz?.port}/healthz`);
    assert.equal(hz.status, 200);
    await hz.body?.cancel();
    const scrape = parsePrometheusText(
      await (await fetch(`http://127.0.0.1:${metrics?.port}/metrics`)).text(),
    );
    assert.ok(
      (scrape.value("kubeproxy_sync_proxy_rules_duration_seconds_count", { ip_family: "IPv4" }) ??
        0) > 0,
    );
    assert.equal(scrape.value("deno_kube_proxy_api_connected"), 1);
    signals.send("SIGTERM");
    assert.equal(await code, 0);
  } finally {
    await api.close();
  }
});
