/**
 * Bad input: hostile API objects (invalid addresses, names that would break rule syntax, ports
 * out of range, duplicates, a Service with 10k ports) are skipped or sanitised with a warning and
 * never reach the rules text raw; every invalid config field and flag makes the command exit 1
 * naming it, with nothing applied.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { V1EndpointSlice, V1Service, V1ServicePort } from "@kubernetes/client-node";
import type { RenderOptions } from "../../src/backend/backend.ts";
import { IptablesBackend } from "../../src/backend/iptables/backend.ts";
import { NftablesBackend } from "../../src/backend/nftables/backend.ts";
import { type CliIO, runCli } from "../../src/cli/run.ts";
import { SILENT_LOGGER } from "../../src/log.ts";
import type { TableSnapshot } from "../../src/model/mod.ts";
import {
  makeEndpoint,
  makeNode,
  makeService,
  makeSlice,
  type ServiceDraft,
  servicePort,
  setClusterIPs,
  slicePort,
  TEST_NODE_NAME,
} from "../fixtures/k8s_builders.ts";
import { ignoreKernelTests, withNamespace } from "../fixtures/netns.ts";
import { RecordingRunner } from "../fixtures/recording_runner.ts";
import { rejections, toolChecks } from "./_kernel_tools.ts";
import { tableFrom } from "./_random_cluster.ts";

const ignore = await ignoreKernelTests();

const OPTIONS: RenderOptions = {
  masqueradeBit: 14,
  masqueradeAll: false,
  localhostNodePorts: true,
  nodePortAddresses: [],
};

function svc(
  ns: string,
  name: string,
  ip: string,
  ports: V1ServicePort[],
  fn?: (s: ServiceDraft) => void,
): V1Service {
  return makeService(ns, name, (s) => {
    setClusterIPs(s, ip);
    s.spec.ports = ports;
    fn?.(s);
  });
}

function endpoints(ns: string, name: string, port: string, ips: string[], n = 1) {
  return makeSlice(ns, name, n, (es) => {
    es.ports = [slicePort(port, 8080)];
    es.endpoints = ips.map((ip) => makeEndpoint(ip, { nodeName: TEST_NODE_NAME }));
  });
}

function snapshotOf(services: V1Service[], slices: V1EndpointSlice[] = []): TableSnapshot {
  return tableFrom({ node: makeNode(), services, slices }).snapshot();
}

function warnings(snapshot: TableSnapshot): string[] {
  return snapshot.warnings.map((w) => `${w.kind} ${w.namespace}/${w.name}: ${w.message}`);
}

function renders(snapshot: TableSnapshot): { iptables: string; nftables: string } {
  const deps = { runner: new RecordingRunner(), log: SILENT_LOGGER, options: OPTIONS };
  return {
    iptables: new IptablesBackend(deps, { hostAddresses: () => null }).renderFull(snapshot),
    nftables: new NftablesBackend(deps, { cleanupOtherModes: null }).renderFull(snapshot),
  };
}

/** Names a real API server would refuse, but a state or objects file could still carry. */
const HOSTILE_NAMES = [
  { ns: "ns1", name: 'quo"te', port: 'p"80', ip: "172.30.0.3", ep: "10.180.0.3" },
  { ns: "ns1", name: "new\nline", port: "p\n80", ip: "172.30.0.4", ep: "10.180.0.4" },
  { ns: "ns1", name: "semi;colon -j ACCEPT", port: "p'80", ip: "172.30.0.5", ep: "10.180.0.5" },
  { ns: 'n"s', name: "x".repeat(300), port: "y".repeat(300), ip: "172.30.0.6", ep: "10.180.0.6" },
  { ns: "ns1", name: "tab\there\r", port: "p\\80}", ip: "172.30.0.7", ep: "10.180.0.7" },
];

function hostileNameSnapshot(): TableSnapshot {
  return snapshotOf(
    HOSTILE_NAMES.map((h) => svc(h.ns, h.name, h.ip, [servicePort(h.port, 80)])),
    HOSTILE_NAMES.map((h) => endpoints(h.ns, h.name, h.port, [h.ep])),
  );
}

/** Every `--comment` argument of an iptables-restore input (quoted or bare). */
function iptablesComments(text: string): string[] {
  return text.split("\n").flatMap((line) =>
    [...line.matchAll(/--comment ("(?:[^"\\]|\\.)*"|\S+)/g)].map((m) => m[1] ?? "")
  );
}

// ---- hostile API objects ---------------------------------------------------------------------

Deno.test("EndpointTable skips a Service whose clusterIP is not an IP, with a warning", () => {
  const snapshot = snapshotOf([
    svc("ns1", "bad-ip", "999.1.1.1", [servicePort("p80", 80)]),
    svc("ns1", "text-ip", "not-an-ip", [servicePort("p80", 80)]),
    svc("ns1", "injected", "172.30.0.9 -j ACCEPT", [servicePort("p80", 80)]),
  ]);
  assert.deepEqual(snapshot.v4.servicePorts, []);
  const w = warnings(snapshot).join("\n");
  assert.match(w, /ns1\/bad-ip: .*"999\.1\.1\.1"/);
  assert.match(w, /ns1\/text-ip: .*"not-an-ip"/);
  assert.match(w, /ns1\/injected: .*"172\.30\.0\.9 -j ACCEPT"/);
  const { iptables, nftables } = renders(snapshot);
  assert.doesNotMatch(iptables + nftables, /999\.1\.1\.1|not-an-ip|172\.30\.0\.9/);
});

Deno.test("EndpointTable skips endpoints with invalid addresses (including injected rule text), with a warning", () => {
  const snapshot = snapshotOf(
    [svc("ns1", "web", "172.30.0.1", [servicePort("p80", 80)])],
    [endpoints("ns1", "web", "p80", [
      "10.180.0.1",
      "10.180.0.300",
      "10.180.0.2\n-A INPUT -j ACCEPT",
      "",
    ])],
  );
  assert.deepEqual(
    snapshot.v4.servicePorts[0]?.clusterEndpoints.map((e) => e.ipPort),
    ["10.180.0.1:8080"],
  );
  const w = warnings(snapshot).join("\n");
  assert.match(w, /invalid address "10\.180\.0\.300"/);
  assert.match(w, /invalid address "10\.180\.0\.2\\n-A INPUT -j ACCEPT"/);
  const { iptables, nftables } = renders(snapshot);
  assert.doesNotMatch(iptables + nftables, /INPUT -j ACCEPT|10\.180\.0\.300|10\.180\.0\.2\b/);
});

Deno.test("EndpointTable skips ports and nodePorts out of range and unknown protocols, with a warning", () => {
  const snapshot = snapshotOf([
    svc("ns1", "ports", "172.30.0.1", [
      servicePort("big", 70000),
      servicePort("zero", 0),
      servicePort("negative", -1),
      servicePort("np", 81, { nodePort: 99999 }),
      servicePort("icmp", 82, { protocol: "ICMP" }),
      servicePort("ok", 83),
    ], (s) => (s.spec.type = "NodePort")),
  ]);
  assert.deepEqual(snapshot.v4.servicePorts.map((p) => p.port), [83]);
  const w = warnings(snapshot).join("\n");
  for (const name of ["big", "zero", "negative", "np", "icmp"]) {
    assert.match(w, new RegExp(`Skipping port "${name}"`), w);
  }
  const { iptables } = renders(snapshot);
  assert.doesNotMatch(iptables, /70000|99999|--dport 0 |--dport -1|--dport 8[12] /);
});

Deno.test("EndpointTable skips invalid external IPs and loadBalancerSourceRanges, with a warning", () => {
  const snapshot = snapshotOf([
    svc("ns1", "ext", "172.30.0.1", [servicePort("p80", 80)], (s) => {
      s.spec.type = "LoadBalancer";
      s.spec.ports = [servicePort("p80", 80, { nodePort: 30080 })];
      s.spec.externalIPs = ["192.168.99.11; drop", "300.1.1.1", "192.168.99.12"];
      s.spec.loadBalancerSourceRanges = ["bogus/99", "203.0.113.0/24"];
      s.status.loadBalancer = { ingress: [{ ip: "1.2.3.4" }] };
    }),
  ]);
  assert.deepEqual(snapshot.v4.servicePorts[0]?.externalIPs, ["192.168.99.12"]);
  const w = warnings(snapshot).join("\n");
  assert.match(w, /invalid external IP "192\.168\.99\.11; drop"/);
  assert.match(w, /invalid external IP "300\.1\.1\.1"/);
  assert.match(w, /invalid loadBalancerSourceRange "bogus\/99"/);
  const { iptables, nftables } = renders(snapshot);
  assert.doesNotMatch(iptables + nftables, /drop"|300\.1\.1\.1|bogus/);
});

Deno.test("renderFull() of iptables mode never carries a raw quote, newline or control character from names into a comment", () => {
  const { iptables } = renders(hostileNameSnapshot());
  const comments = iptablesComments(iptables);
  assert.ok(comments.length > 10);
  for (const comment of comments) {
    const inner = comment.startsWith('"') ? comment.slice(1, -1) : comment;
    assert.doesNotMatch(inner, /["\n\r\t\\]/, `unescaped input in --comment ${comment}`);
    assert.ok(inner.length <= 256, `comment over iptables' 256-byte limit: ${inner.length}`);
  }
  // A newline in a name must not have split a rule: every line is restore syntax.
  for (const line of iptables.split("\n")) {
    assert.match(line, /^(|#.*|\*(filter|nat|mangle)|:KUBE-[A-Z0-9-]+ - \[0:0\]|-[AX] .*|COMMIT)$/);
  }
});

Deno.test("renderFull() of nftables mode never carries a raw quote, newline or control character from names into rules text", () => {
  const { nftables } = renders(hostileNameSnapshot());
  for (const line of nftables.split("\n")) {
    // Quotes in nft text come in pairs around a comment; nothing may sit in them unescaped.
    const quotes = (line.match(/"/g) ?? []).length;
    assert.equal(quotes % 2, 0, `unbalanced quote in: ${line}`);
    for (const m of line.matchAll(/comment "([^"]*)"/g)) {
      assert.doesNotMatch(m[1] ?? "", /['\r\t\\]/, `unescaped input in: ${line}`);
      assert.ok((m[1] ?? "").length <= 128, `nft comments are limited to 128 bytes: ${line}`);
    }
  }
  assert.doesNotMatch(nftables, /semi;colon -j|new\nline/);
});

Deno.test("EndpointTable collapses duplicate endpoints within and across slices to one", () => {
  const snapshot = snapshotOf(
    [svc("ns1", "dup", "172.30.0.7", [servicePort("p80", 80)])],
    [
      endpoints("ns1", "dup", "p80", ["10.180.0.7", "10.180.0.7"], 1),
      endpoints("ns1", "dup", "p80", ["10.180.0.7", "10.180.0.8"], 2),
    ],
  );
  assert.deepEqual(
    snapshot.v4.servicePorts[0]?.clusterEndpoints.map((e) => e.ipPort),
    ["10.180.0.7:8080", "10.180.0.8:8080"],
  );
  const { iptables } = renders(snapshot);
  assert.equal(iptables.match(/DNAT --to-destination 10\.180\.0\.7:8080/g)?.length, 1);
});

/** A Service with `count` TCP ports and one endpoint serving all of them. */
function manyPorts(count: number): TableSnapshot {
  const ports = Array.from({ length: count }, (_, i) => servicePort(`p${i}`, 1000 + i));
  return snapshotOf(
    [svc("ns1", "wide", "172.30.0.1", ports)],
    [makeSlice("ns1", "wide", 1, (es) => {
      es.ports = ports.map((p) => slicePort(p.name ?? "", p.port));
      es.endpoints = [makeEndpoint("10.180.0.1", { nodeName: TEST_NODE_NAME })];
    })],
  );
}

Deno.test("EndpointTable and both backends handle 10k ports on one Service", () => {
  const snapshot = manyPorts(10_000);
  assert.equal(snapshot.v4.servicePorts.length, 10_000);
  const { iptables, nftables } = renders(snapshot);
  assert.equal(iptables.match(/^:KUBE-SVC-/gm)?.length, 10_000);
  assert.ok(nftables.includes("172.30.0.1 . tcp . 10999"), "the last port's map element");
});

Deno.test({
  name:
    "renderFull() of hostile names and of 10k ports is accepted by iptables-restore --test, ip6tables-restore --test and nft -c -f",
  ignore,
  async fn() {
    await withNamespace("hostile", async (ns) => {
      for (
        const [what, snapshot] of [["hostile names", hostileNameSnapshot()], [
          "10k ports",
          manyPorts(10_000),
        ]] as const
      ) {
        const { iptables, nftables } = renders(snapshot);
        assert.deepEqual(await rejections(ns, await toolChecks(iptables, nftables)), [], what);
      }
    });
  },
});

// ---- invalid config and flags ------------------------------------------------------------------

function fakeIO(files: Record<string, string> = {}) {
  const err: string[] = [];
  const out: string[] = [];
  const runner = new RecordingRunner();
  const writes: string[] = [];
  const io: CliIO = {
    readTextFile: (path) =>
      files[path] === undefined
        ? Promise.reject(new Deno.errors.NotFound(`open ${path}: no such file or directory`))
        : Promise.resolve(files[path]),
    writeTextFile: (path) => {
      writes.push(path);
      return Promise.resolve();
    },
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    now: () => new Date(Date.UTC(2026, 10, 26)),
    pid: 1,
    hostname: () => "edge-1",
    env: () => undefined,
    runner,
    kernelFiles: {
      read: () => Promise.reject(new Deno.errors.NotFound("no /proc/sys here")),
      write: () => Promise.reject(new Deno.errors.PermissionDenied("read-only /proc/sys")),
    },
  };
  return { io, runner, writes, stderr: () => err.join(""), stdout: () => out.join("") };
}

const HEADER = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n";

/** `[field path named in the error, YAML]`: one invalid value each. */
const INVALID_FIELDS: readonly (readonly [string, string])[] = [
  ["mode", "mode: bogus\n"],
  ["iptables.masqueradeBit", "iptables:\n  masqueradeBit: 40\n"],
  ["iptables.masqueradeBit", "iptables:\n  masqueradeBit: -1\n"],
  ["iptables.masqueradeBit", 'iptables:\n  masqueradeBit: "abc"\n'],
  ["iptables.syncPeriod", "iptables:\n  syncPeriod: -1s\n"],
  ["iptables.syncPeriod", "iptables:\n  syncPeriod: soon\n"],
  ["iptables.minSyncPeriod", "iptables:\n  minSyncPeriod: -1s\n"],
  ["nftables.syncPeriod", "mode: nftables\nnftables:\n  syncPeriod: -1s\n"],
  ["healthzBindAddress", "healthzBindAddress: nonsense\n"],
  ["metricsBindAddress", "metricsBindAddress: 127.0.0.1:99999\n"],
  ["bindAddress", "bindAddress: not-an-ip\n"],
  ["nodePortAddresses[0]", "nodePortAddresses: [nope]\n"],
  ["clusterCIDR", "clusterCIDR: 10.0.0.0/99\n"],
  ["oomScoreAdj", "oomScoreAdj: 5000\n"],
  ["configSyncPeriod", "configSyncPeriod: -1s\n"],
  ["conntrack.maxPerCore", "conntrack:\n  maxPerCore: -1\n"],
  ["conntrack.min", "conntrack:\n  min: -1\n"],
  ["detectLocal.bridgeInterface", "detectLocalMode: BridgeInterface\n"],
  ["detectLocalMode", "detectLocalMode: Weird\n"],
  ["clientConnection.qps", 'clientConnection:\n  qps: "fast"\n'],
  ["logging.verbosity", "logging:\n  verbosity: 99999999999\n"],
  ["logging.format", "logging:\n  format: xml\n"],
];

Deno.test("runCli() exits 1 naming the field path of every invalid config value, applying nothing", async () => {
  const failures: string[] = [];
  for (const [path, yaml] of INVALID_FIELDS) {
    const f = fakeIO({ "/kp.yaml": HEADER + yaml });
    const code = await runCli(["--config=/kp.yaml", "--hostname-override=edge-1"], f.io);
    if (code !== 1 || !f.stderr().includes(path) || f.runner.calls.length > 0) {
      failures.push(
        `${JSON.stringify(yaml)} → exit ${code}, calls ${f.runner.calls.length}: ${f.stderr()}`,
      );
    }
  }
  assert.deepEqual(failures, []);
});

/**
 * `[flag, field path it sets, argument]`: one invalid value each. The error may name either
 * (values that parse are checked by config validation, which speaks in field paths).
 */
const INVALID_FLAGS: readonly (readonly [string, string, string])[] = [
  ["--iptables-sync-period", "iptables.syncPeriod", "--iptables-sync-period=soon"],
  ["--iptables-min-sync-period", "iptables.minSyncPeriod", "--iptables-min-sync-period=-5s"],
  ["--iptables-masquerade-bit", "iptables.masqueradeBit", "--iptables-masquerade-bit=abc"],
  ["--iptables-masquerade-bit", "iptables.masqueradeBit", "--iptables-masquerade-bit=40"],
  ["--proxy-mode", "mode", "--proxy-mode=bogus"],
  ["--healthz-bind-address", "healthzBindAddress", "--healthz-bind-address=nonsense"],
  ["--metrics-bind-address", "metricsBindAddress", "--metrics-bind-address=1.2.3.4:99999"],
  ["--bind-address", "bindAddress", "--bind-address=not-an-ip"],
  ["--oom-score-adj", "oomScoreAdj", "--oom-score-adj=5000"],
  ["--cluster-cidr", "clusterCIDR", "--cluster-cidr=10.0.0.0/99"],
  ["--nodeport-addresses", "nodePortAddresses[0]", "--nodeport-addresses=nope"],
  ["--v", "logging.verbosity", "--v=abc"],
  ["--conntrack-min", "conntrack.min", "--conntrack-min=-5"],
  ["--conntrack-max-per-core", "conntrack.maxPerCore", "--conntrack-max-per-core=lots"],
  ["--metrics-port", "metricsBindAddress", "--metrics-port=abc"],
  ["--healthz-port", "healthzBindAddress", "--healthz-port=70000"],
  ["--kube-api-qps", "clientConnection.qps", "--kube-api-qps=fast"],
  ["--kube-api-burst", "clientConnection.burst", "--kube-api-burst=1.5"],
  ["--detect-local-mode", "detectLocalMode", "--detect-local-mode=Weird"],
  ["--masquerade-all", "iptables.masqueradeAll", "--masquerade-all=maybe"],
  ["--config-sync-period", "configSyncPeriod", "--config-sync-period=-1s"],
  ["--api-mode", "apiMode", "--api-mode=sometimes"],
  ["--api-poll-interval", "apiPollInterval", "--api-poll-interval=never"],
  ["--logging-format", "logging.format", "--logging-format=xml"],
  ["--feature-gates", "featureGates", "--feature-gates=NoSuchGate=true"],
  ["--no-such-flag", "no-such-flag", "--no-such-flag=1"],
];

/** runCli, failing instead of hanging if a value is accepted and the daemon starts. */
async function boundedRunCli(args: string[], io: CliIO): Promise<number | "did not exit"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      runCli(args, io),
      new Promise<"did not exit">((resolve) => {
        timer = setTimeout(() => resolve("did not exit"), 10_000);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("runCli() exits 1 naming the flag (or its field path) of every invalid flag value, applying nothing", async () => {
  const failures: string[] = [];
  for (const [flag, path, arg] of INVALID_FLAGS) {
    const f = fakeIO();
    // No API server: a value that is wrongly accepted ends in "no API server" (exit 1, but
    // without naming the flag) instead of a running daemon.
    const code = await boundedRunCli(["--hostname-override=edge-1", "--state-file=", arg], f.io);
    const named = f.stderr().includes(flag) || f.stderr().includes(`${path}:`);
    if (code !== 1 || !named || f.runner.calls.length > 0) {
      failures.push(`${arg} → exit ${code}, calls ${f.runner.calls.length}: ${f.stderr()}`);
    }
  }
  assert.deepEqual(failures, []);
});
