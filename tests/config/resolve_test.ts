import assert from "node:assert/strict";
import { ConfigError } from "../../src/config/errors.ts";
import { decodeConfig } from "../../src/config/load.ts";
import { resolveConfig } from "../../src/config/resolve.ts";
import type { ProxyConfig } from "../../src/config/types.ts";
import { expectedDefaults } from "./_expected.ts";

const HEADER = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n";

function resolveYaml(body: string, hostnameOverride?: string): ProxyConfig {
  const decoded = decodeConfig(HEADER + body);
  return resolveConfig(
    decoded.file,
    hostnameOverride === undefined
      ? { lineOf: decoded.lineOf }
      : { lineOf: decoded.lineOf, hostnameOverride },
  );
}

Deno.test("resolveConfig() gives upstream's defaults for a file that sets nothing", () => {
  assert.deepEqual(resolveYaml(""), expectedDefaults());
  assert.deepEqual(resolveConfig({}), expectedDefaults());
});

Deno.test("resolveConfig() defaults explicit zero values of non-pointer fields", () => {
  const config = resolveYaml(
    [
      'bindAddress: ""',
      'healthzBindAddress: ""',
      'metricsBindAddress: ""',
      "configSyncPeriod: 0s",
      "clientConnection:",
      "  qps: 0",
      "  burst: 0",
      '  contentType: ""',
      "iptables:",
      "  syncPeriod: 0m",
      "  minSyncPeriod: 0s",
      "logging:",
      "  flushFrequency: 0",
      '  format: ""',
      "",
    ].join("\n"),
  );
  assert.deepEqual(config, expectedDefaults());
});

Deno.test("resolveConfig() keeps explicit zero values of pointer fields", () => {
  const config = resolveYaml(
    "iptables:\n  masqueradeBit: 0\n  localhostNodePorts: false\noomScoreAdj: 0\nconntrack:\n" +
      "  maxPerCore: 0\n  min: 0\n  tcpEstablishedTimeout: 0s\n  tcpCloseWaitTimeout: 0s\n",
  );
  assert.equal(config.masqueradeBit, 0);
  assert.equal(config.localhostNodePorts, false);
  assert.equal(config.oomScoreAdj, 0);
  assert.deepEqual(config.conntrack, {
    ...expectedDefaults().conntrack,
    maxPerCore: 0,
    min: 0,
    tcpEstablishedTimeoutMs: 0,
    tcpCloseWaitTimeoutMs: 0,
  });
});

Deno.test("resolveConfig() defaults null pointer fields", () => {
  const config = resolveYaml(
    "iptables:\n  masqueradeBit: null\n  localhostNodePorts: null\noomScoreAdj: null\n" +
      "conntrack:\n  maxPerCore: null\n  tcpCloseWaitTimeout: null\n",
  );
  assert.deepEqual(config, expectedDefaults());
});

Deno.test("resolveConfig() switches the healthz and metrics defaults for an IPv6 bindAddress", () => {
  const config = resolveYaml('bindAddress: "::"\n');
  assert.equal(config.healthzBindAddress, "[::]:10256");
  assert.equal(config.metricsBindAddress, "[::1]:10249");
  assert.equal(resolveYaml("bindAddress: fd00::10\n").healthzBindAddress, "[::]:10256");
  // An IPv4-mapped address counts as IPv4, as Go's To4() says.
  assert.equal(resolveYaml("bindAddress: ::ffff:10.0.0.1\n").healthzBindAddress, "0.0.0.0:10256");
});

Deno.test("resolveConfig() appends the default port to a bare healthz or metrics IP", () => {
  const config = resolveYaml("healthzBindAddress: 10.0.0.5\nmetricsBindAddress: fd00::5\n");
  assert.equal(config.healthzBindAddress, "10.0.0.5:10256");
  assert.equal(config.metricsBindAddress, "[fd00::5]:10249");
  assert.equal(
    resolveYaml("metricsBindAddress: 0.0.0.0:9999\n").metricsBindAddress,
    "0.0.0.0:9999",
  );
});

Deno.test("resolveConfig() defaults nodePortAddresses to primary in nftables mode", () => {
  assert.deepEqual(resolveYaml("mode: nftables\n").nodePortAddresses, ["primary"]);
  assert.deepEqual(resolveYaml("mode: nftables\nnodePortAddresses: []\n").nodePortAddresses, [
    "primary",
  ]);
  assert.deepEqual(
    resolveYaml("mode: nftables\nnodePortAddresses: [10.0.0.0/8]\n").nodePortAddresses,
    ["10.0.0.0/8"],
  );
  assert.deepEqual(resolveYaml("mode: iptables\n").nodePortAddresses, []);
});

Deno.test("resolveConfig() takes sync periods and masquerading from the mode's own section", () => {
  const body = [
    "iptables:",
    "  syncPeriod: 10s",
    "  minSyncPeriod: 2s",
    "  masqueradeAll: true",
    "  masqueradeBit: 10",
    "nftables:",
    "  syncPeriod: 20s",
    "  minSyncPeriod: 3s",
    "  masqueradeAll: false",
    "  masqueradeBit: 11",
    "ipvs:",
    "  syncPeriod: 40s",
    "",
  ].join("\n");
  const iptables = resolveYaml(body);
  assert.deepEqual(
    [
      iptables.syncPeriodMs,
      iptables.minSyncPeriodMs,
      iptables.masqueradeAll,
      iptables.masqueradeBit,
    ],
    [10_000, 2_000, true, 10],
  );
  const nftables = resolveYaml("mode: nftables\n" + body);
  assert.deepEqual(
    [
      nftables.syncPeriodMs,
      nftables.minSyncPeriodMs,
      nftables.masqueradeAll,
      nftables.masqueradeBit,
    ],
    [20_000, 3_000, false, 11],
  );
});

Deno.test("resolveConfig() applies the platform defaults for mode and detectLocalMode", () => {
  const config = resolveYaml('mode: ""\ndetectLocalMode: ""\n');
  assert.equal(config.mode, "iptables");
  assert.equal(config.detectLocalMode, "ClusterCIDR");
});

Deno.test("resolveConfig() splits clusterCIDR on commas", () => {
  assert.deepEqual(resolveYaml("clusterCIDR: 10.244.0.0/16,fd00:10:244::/56\n").clusterCIDRs, [
    "10.244.0.0/16",
    "fd00:10:244::/56",
  ]);
});

Deno.test("resolveConfig() lets --hostname-override win over the file, trimmed and lower-cased", () => {
  assert.equal(resolveYaml("hostnameOverride: File-Node\n").hostnameOverride, "file-node");
  assert.equal(
    resolveYaml("hostnameOverride: file-node\n", "  Edge-1 ").hostnameOverride,
    "edge-1",
  );
  // An empty flag value means the flag was not given.
  assert.equal(resolveYaml("hostnameOverride: file-node\n", "").hostnameOverride, "file-node");
});

Deno.test("resolveConfig() rejects an all-blank --hostname-override", () => {
  assert.throws(() => resolveYaml("", "   "), {
    name: "ConfigError",
    message: "hostname-override: empty hostname-override is invalid",
  });
});

Deno.test("resolveConfig() rejects ipvs mode as not implemented", () => {
  assert.throws(() => resolveYaml("mode: ipvs\n"), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(
      error.message,
      'mode: "ipvs" is a valid upstream mode but deno-kube-proxy implements only "iptables" and ' +
        '"nftables" (line 3)',
    );
    return true;
  });
});

Deno.test("resolveConfig() keeps feature gates and warns about GA and deprecated ones", () => {
  const warnings: string[] = [];
  const decoded = decodeConfig(
    HEADER +
      "featureGates:\n  NFTablesProxyMode: true\n  KMSv1: false\n  StrictIPCIDRValidation: true\n",
  );
  const config = resolveConfig(decoded.file, { warn: (message) => warnings.push(message) });
  assert.deepEqual(config.featureGates, {
    NFTablesProxyMode: true,
    KMSv1: false,
    StrictIPCIDRValidation: true,
  });
  assert.deepEqual(warnings, [
    "Setting GA feature gate NFTablesProxyMode=true. It will be removed in a future release.",
    "Setting deprecated feature gate KMSv1=false. It will be removed in a future release.",
  ]);
});

Deno.test("resolveConfig() returns a deeply frozen object", () => {
  const config = resolveYaml("nodePortAddresses: [10.0.0.0/8]\nfeatureGates:\n  AllAlpha: false\n");
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.nodePortAddresses));
  assert.ok(Object.isFrozen(config.featureGates));
  assert.ok(Object.isFrozen(config.conntrack));
  assert.ok(Object.isFrozen(config.logging.options.text));
  assert.throws(() => {
    (config.nodePortAddresses as string[]).push("x");
  }, TypeError);
});

Deno.test("resolveConfig() does not modify the file it is given", () => {
  const file = { mode: "nftables", nodePortAddresses: [] as string[] };
  resolveConfig(file);
  assert.deepEqual(file, { mode: "nftables", nodePortAddresses: [] });
});

Deno.test("resolveConfig() converts logging.flushFrequency nanoseconds to milliseconds", () => {
  assert.equal(
    resolveYaml("logging:\n  flushFrequency: 2500000000\n").logging.flushFrequencyMs,
    2_500,
  );
  assert.equal(resolveYaml("logging:\n  flushFrequency: 1m\n").logging.flushFrequencyMs, 60_000);
});
