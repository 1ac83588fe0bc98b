import assert from "node:assert/strict";
import { ConfigError } from "../../src/config/errors.ts";
import { decodeConfig } from "../../src/config/load.ts";
import { resolveConfig } from "../../src/config/resolve.ts";
import type { ProxyConfig } from "../../src/config/types.ts";

const HEADER = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n";

/** Decodes `body` (starting at line 3) and resolves it with file lines. */
function resolveYaml(body: string): ProxyConfig {
  const decoded = decodeConfig(HEADER + body);
  return resolveConfig(decoded.file, { lineOf: decoded.lineOf });
}

/** The problems `body` is rejected with, rendered one per entry. */
function problemsOf(body: string): string[] {
  try {
    resolveYaml(body);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message.split("\n");
  }
  return [];
}

/** Every validation rule of reference/config.md §5: body (from line 3) → exact problems. */
const CASES: ReadonlyArray<readonly [string, string, readonly string[]]> = [
  [
    "unknown feature gate",
    "featureGates:\n  Foo: true\n",
    ["featureGates: unrecognized feature gate: Foo (line 4)"],
  ],
  [
    "locked feature gate",
    "featureGates:\n  NFTablesProxyMode: false\n",
    [
      "featureGates: cannot set feature gate NFTablesProxyMode to false, feature is locked to true (line 4)",
    ],
  ],
  [
    "iptables.masqueradeBit above 31",
    "iptables:\n  masqueradeBit: 40\n",
    ["iptables.masqueradeBit: must be within [0, 31], got 40 (line 4)"],
  ],
  [
    "iptables.masqueradeBit below 0, even in nftables mode",
    "mode: nftables\niptables:\n  masqueradeBit: -1\n",
    ["iptables.masqueradeBit: must be within [0, 31], got -1 (line 5)"],
  ],
  [
    "nftables.masqueradeBit in nftables mode",
    "mode: nftables\nnftables:\n  masqueradeBit: 32\n",
    ["nftables.masqueradeBit: must be within [0, 31], got 32 (line 5)"],
  ],
  [
    "ipvs timeouts and excludeCIDRs in ipvs mode",
    "mode: ipvs\nipvs:\n  tcpTimeout: -1s\n  tcpFinTimeout: -2s\n  udpTimeout: -3s\n" +
    "  excludeCIDRs: [192.168.0.0/16, invalid]\n",
    [
      "ipvs.tcpTimeout: must be greater than or equal to 0, got -1s (line 5)",
      "ipvs.tcpFinTimeout: must be greater than or equal to 0, got -2s (line 6)",
      "ipvs.udpTimeout: must be greater than or equal to 0, got -3s (line 7)",
      'ipvs.excludeCIDRs[1]: must be a valid CIDR, got "invalid" (line 8)',
      'mode: "ipvs" is a valid upstream mode but deno-kube-proxy implements only "iptables" and "nftables" (line 3)',
    ],
  ],
  [
    "conntrack values below 0",
    "conntrack:\n  maxPerCore: -1\n  min: -1\n  tcpEstablishedTimeout: -1s\n" +
    "  tcpCloseWaitTimeout: -1s\n  udpTimeout: -1s\n  udpStreamTimeout: -1ms\n",
    [
      "conntrack.maxPerCore: must be greater than or equal to 0, got -1 (line 4)",
      "conntrack.min: must be greater than or equal to 0, got -1 (line 5)",
      "conntrack.tcpEstablishedTimeout: must be greater than or equal to 0, got -1s (line 6)",
      "conntrack.tcpCloseWaitTimeout: must be greater than or equal to 0, got -1s (line 7)",
      "conntrack.udpTimeout: must be greater than or equal to 0, got -1s (line 8)",
      "conntrack.udpStreamTimeout: must be greater than or equal to 0, got -1ms (line 9)",
    ],
  ],
  [
    "oomScoreAdj above 1000",
    "oomScoreAdj: 1001\n",
    ["oomScoreAdj: must be within [-1000, 1000], got 1001 (line 3)"],
  ],
  [
    "oomScoreAdj below -1000",
    "oomScoreAdj: -1001\n",
    ["oomScoreAdj: must be within [-1000, 1000], got -1001 (line 3)"],
  ],
  [
    "removed userspace mode",
    "mode: userspace\n",
    [
      'mode: must be "iptables", "nftables" or blank (blank means iptables), got "userspace" (userspace mode was removed in Kubernetes 1.26) (line 3)',
    ],
  ],
  [
    "wrongly cased mode",
    "mode: IPTables\n",
    [
      'mode: must be "iptables", "nftables" or blank (blank means iptables), got "IPTables" (line 3)',
    ],
  ],
  [
    "Windows mode",
    "mode: kernelspace\n",
    [
      'mode: "kernelspace" is the Windows mode; deno-kube-proxy runs on Linux and implements only "iptables" and "nftables" (line 3)',
    ],
  ],
  [
    "negative clientConnection.burst",
    "clientConnection:\n  burst: -1\n",
    ["clientConnection.burst: must be greater than or equal to 0, got -1 (line 4)"],
  ],
  [
    "negative configSyncPeriod",
    "configSyncPeriod: -1s\n",
    ["configSyncPeriod: must be greater than 0, got -1s (line 3)"],
  ],
  [
    "negative iptables.syncPeriod",
    "iptables:\n  syncPeriod: -30s\n",
    [
      "iptables.syncPeriod: must be greater than 0, got -30s (line 4)",
      "iptables.syncPeriod: must be greater than or equal to iptables.minSyncPeriod (1s), got -30s (line 4)",
    ],
  ],
  [
    "negative iptables.minSyncPeriod",
    "iptables:\n  minSyncPeriod: -1s\n",
    ["iptables.minSyncPeriod: must be greater than or equal to 0, got -1s (line 4)"],
  ],
  [
    "iptables.minSyncPeriod above syncPeriod",
    "iptables:\n  syncPeriod: 10s\n  minSyncPeriod: 1m\n",
    [
      "iptables.syncPeriod: must be greater than or equal to iptables.minSyncPeriod (1m0s), got 10s (line 4)",
    ],
  ],
  [
    "nftables.minSyncPeriod above syncPeriod in nftables mode",
    "mode: nftables\nnftables:\n  minSyncPeriod: 45s\n",
    [
      "nftables.syncPeriod: must be greater than or equal to nftables.minSyncPeriod (45s), got 30s",
    ],
  ],
  [
    "bindAddress with a port",
    "bindAddress: 10.10.12.11:2000\n",
    [
      'bindAddress: must be a valid IP address (e.g. 10.9.8.7 or 2001:db8::ffff), got "10.10.12.11:2000" (line 3)',
    ],
  ],
  [
    "healthzBindAddress not IP:port",
    "healthzBindAddress: localhost\n",
    ['healthzBindAddress: must be IP:port, got "localhost" (line 3)'],
  ],
  [
    "healthzBindAddress with a host name",
    "healthzBindAddress: localhost:10256\n",
    ['healthzBindAddress: must be a valid IP, got "localhost" (line 3)'],
  ],
  [
    "healthzBindAddress with port 0",
    "healthzBindAddress: 0.0.0.0:0\n",
    ['healthzBindAddress: must be a valid port, got "0" (line 3)'],
  ],
  [
    "metricsBindAddress with a port out of range and a bad IP",
    "metricsBindAddress: 300.0.0.1:99999\n",
    [
      'metricsBindAddress: must be a valid IP, got "300.0.0.1" (line 3)',
      'metricsBindAddress: must be a valid port, got "99999" (line 3)',
    ],
  ],
  [
    "nodePortAddresses entry that is not a CIDR",
    "nodePortAddresses: [192.168.0.0/16, invalid, 10.0.0.1]\n",
    [
      'nodePortAddresses[1]: must be a valid CIDR, got "invalid" (line 3)',
      'nodePortAddresses[2]: must be a valid CIDR, got "10.0.0.1" (line 3)',
    ],
  ],
  [
    "nodePortAddresses primary first but not alone",
    "nodePortAddresses:\n  - primary\n  - 10.0.0.0/8\n",
    ["nodePortAddresses[0]: can't use both 'primary' and CIDRs, got \"primary\" (line 4)"],
  ],
  [
    "nodePortAddresses primary after a CIDR",
    "nodePortAddresses:\n  - 10.0.0.0/8\n  - primary\n",
    ["nodePortAddresses[1]: can't use both 'primary' and CIDRs, got \"primary\" (line 5)"],
  ],
  [
    "showHiddenMetricsForVersion other than the previous minor",
    'showHiddenMetricsForVersion: "1.30"\n',
    [
      'showHiddenMetricsForVersion: must be omitted or have the value "1.35" (only the previous minor version is allowed), got "1.30" (line 3)',
    ],
  ],
  [
    "unknown detectLocalMode",
    "detectLocalMode: PodCIDR\n",
    [
      'detectLocalMode: unsupported value "PodCIDR", supported values: "ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix", "" (line 3)',
    ],
  ],
  [
    "BridgeInterface without an interface",
    "detectLocalMode: BridgeInterface\n",
    ["detectLocal.bridgeInterface: must not be empty"],
  ],
  [
    "InterfaceNamePrefix with an empty prefix",
    'detectLocalMode: InterfaceNamePrefix\ndetectLocal:\n  interfaceNamePrefix: ""\n',
    ["detectLocal.interfaceNamePrefix: must not be empty (line 5)"],
  ],
  [
    "clusterCIDR that is not a CIDR",
    "clusterCIDR: 10.0.0.0/33\n",
    [
      'clusterCIDR: must be a valid CIDR block (e.g. 10.100.0.0/16 or fde4:8dba:82e1::/48), got "10.0.0.0/33" (line 3)',
    ],
  ],
  [
    "clusterCIDR with a space after the comma (not trimmed, as upstream)",
    'clusterCIDR: "10.0.0.0/8, fd00::/48"\n',
    [
      'clusterCIDR: must be a valid CIDR block (e.g. 10.100.0.0/16 or fde4:8dba:82e1::/48), got " fd00::/48" (line 3)',
    ],
  ],
  [
    "clusterCIDR pair of one family",
    "clusterCIDR: 192.168.0.0/16,10.0.0.0/8\n",
    [
      'clusterCIDR: must be either a single CIDR or a dual-stack pair of CIDRs (e.g. 10.100.0.0/16,fde4:8dba:82e1::/48), got "192.168.0.0/16,10.0.0.0/8" (line 3)',
    ],
  ],
  [
    "clusterCIDR with three entries",
    "clusterCIDR: 10.0.0.0/8,fd00::/48,10.1.0.0/16\n",
    [
      'clusterCIDR: must be either a single CIDR or a dual-stack pair of CIDRs (e.g. 10.100.0.0/16,fde4:8dba:82e1::/48), got "10.0.0.0/8,fd00::/48,10.1.0.0/16" (line 3)',
    ],
  ],
  [
    "unsupported logging.format",
    "logging:\n  format: xml\n",
    ['logging.format: unsupported log format, got "xml" (supported: "json", "text") (line 4)'],
  ],
  [
    "logging.vmodule with the json format",
    "logging:\n  format: json\n  vmodule:\n    - filePattern: proxier*\n      verbosity: 4\n",
    ["logging.vmodule: only supported for text log format (line 5)"],
  ],
  [
    "logging.vmodule item without a pattern or with a comma",
    "logging:\n  vmodule:\n    - verbosity: 4\n    - filePattern: a,b\n      verbosity: 2\n",
    [
      "logging.vmodule[0]: file pattern must not be empty (line 5)",
      'logging.vmodule[1]: file pattern must not contain equal sign or comma, got "a,b" (line 6)',
    ],
  ],
  [
    "alpha logging options without LoggingAlphaOptions",
    "logging:\n  options:\n    text:\n      splitStream: true\n      infoBufferSize: 1Mi\n",
    [
      "logging.options.text.splitStream: feature LoggingAlphaOptions is disabled (line 6)",
      "logging.options.text.infoBufferSize: feature LoggingAlphaOptions is disabled (line 7)",
    ],
  ],
  [
    "blank hostnameOverride",
    'hostnameOverride: "   "\n',
    ["hostnameOverride: empty hostname-override is invalid (line 3)"],
  ],
];

Deno.test("resolveConfig() rejects every invalid value with its path, upstream's message and line", () => {
  for (const [name, body, expected] of CASES) {
    assert.deepEqual(problemsOf(body), expected, name);
  }
});

Deno.test("resolveConfig() collects every problem instead of stopping at the first", () => {
  const problems = problemsOf(
    "mode: nftables\noomScoreAdj: 2000\niptables:\n  masqueradeBit: 99\nnftables:\n" +
      "  masqueradeBit: 99\nbindAddress: nope\nclusterCIDR: nope\n",
  );
  assert.deepEqual(problems, [
    "iptables.masqueradeBit: must be within [0, 31], got 99 (line 6)",
    "nftables.masqueradeBit: must be within [0, 31], got 99 (line 8)",
    "oomScoreAdj: must be within [-1000, 1000], got 2000 (line 4)",
    'bindAddress: must be a valid IP address (e.g. 10.9.8.7 or 2001:db8::ffff), got "nope" (line 9)',
    'clusterCIDR: must be a valid CIDR block (e.g. 10.100.0.0/16 or fde4:8dba:82e1::/48), got "nope" (line 10)',
  ]);
});

Deno.test("resolveConfig() exposes the problems structurally on the ConfigError", () => {
  assert.throws(
    () => resolveYaml("iptables:\n  masqueradeBit: 40\n"),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.name, "ConfigError");
      assert.deepEqual(error.problems, [
        { path: "iptables.masqueradeBit", message: "must be within [0, 31], got 40", line: 4 },
      ]);
      return true;
    },
  );
});

Deno.test("resolveConfig() validates only the sections the mode uses", () => {
  // nftables and ipvs values are ignored in iptables mode, as upstream ignores them.
  const config = resolveYaml(
    "nftables:\n  masqueradeBit: 99\n  minSyncPeriod: 5m\nipvs:\n  tcpTimeout: -1s\n" +
      "  excludeCIDRs: [bad]\n",
  );
  assert.equal(config.mode, "iptables");
  // ClusterCIDR is only checked when traffic is detected by cluster CIDR.
  assert.equal(
    resolveYaml("detectLocalMode: NodeCIDR\nclusterCIDR: nope\n").detectLocalMode,
    "NodeCIDR",
  );
});

Deno.test("resolveConfig() accepts sloppy IPv4 addresses and CIDRs with host bits, as upstream", () => {
  const config = resolveYaml(
    "bindAddress: 010.000.000.001\nnodePortAddresses: [10.0.0.1/8, 2001:db8::1/64]\n" +
      "clusterCIDR: 10.244.0.1/16,fd00::/48\n",
  );
  assert.equal(config.bindAddress, "010.000.000.001");
  assert.deepEqual(config.clusterCIDRs, ["10.244.0.1/16", "fd00::/48"]);
});

Deno.test("resolveConfig() accepts the beta json logging options by default", () => {
  const config = resolveYaml(
    "logging:\n  format: json\n  options:\n    json:\n      splitStream: true\n      infoBufferSize: 64Ki\n",
  );
  assert.deepEqual(config.logging.options.json, { splitStream: true, infoBufferSize: "64Ki" });
});

Deno.test("resolveConfig() allows alpha logging options once LoggingAlphaOptions is on", () => {
  const config = resolveYaml(
    "featureGates:\n  LoggingAlphaOptions: true\nlogging:\n  options:\n    text:\n      splitStream: true\n",
  );
  assert.equal(config.logging.options.text.splitStream, true);
});

Deno.test("resolveConfig() reports invalid duration text of a programmatic file", () => {
  assert.throws(() => resolveConfig({ iptables: { syncPeriod: "1d" } }), {
    name: "ConfigError",
    message: 'iptables.syncPeriod: time: unknown unit "d" in duration "1d"',
  });
});
