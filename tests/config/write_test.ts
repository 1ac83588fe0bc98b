import assert from "node:assert/strict";
import { decodeConfig } from "../../src/config/load.ts";
import { resolveConfig } from "../../src/config/resolve.ts";
import type { ProxyConfig } from "../../src/config/types.ts";
import { configToFile, dumpConfigYaml } from "../../src/config/write.ts";
import { expectedDefaults } from "./_expected.ts";

const HEADER = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n";

function resolveYaml(text: string): ProxyConfig {
  const decoded = decodeConfig(text);
  assert.deepEqual(decoded.warnings, []);
  return resolveConfig(decoded.file, { lineOf: decoded.lineOf });
}

/** Configurations that together touch every field. */
const ROUND_TRIP_BODIES: readonly string[] = [
  "",
  "mode: nftables\nnftables:\n  masqueradeAll: true\n  masqueradeBit: 3\n  syncPeriod: 1m\n" +
  "  minSyncPeriod: 1.5s\nnodePortAddresses: [10.0.0.0/8, fd00::/64]\n",
  [
    'bindAddress: "::"',
    "bindAddressHardFail: true",
    "enableProfiling: true",
    'showHiddenMetricsForVersion: "1.35"',
    "hostnameOverride: Edge-1",
    "clusterCIDR: 10.244.0.0/16,fd00:10:244::/56",
    "detectLocalMode: InterfaceNamePrefix",
    "detectLocal:",
    "  interfaceNamePrefix: veth",
    "  bridgeInterface: cbr0",
    "featureGates:",
    "  LoggingAlphaOptions: true",
    "  StrictIPCIDRValidation: true",
    "clientConnection:",
    "  kubeconfig: /etc/kube-proxy/kubeconfig",
    "  acceptContentTypes: application/json",
    "  contentType: application/json",
    "  qps: 2.5",
    "  burst: 7",
    "iptables:",
    "  masqueradeAll: true",
    "  masqueradeBit: 0",
    "  localhostNodePorts: false",
    "  syncPeriod: 1h30m",
    "  minSyncPeriod: 250ms",
    "ipvs:",
    "  scheduler: wrr",
    "  excludeCIDRs: []",
    "  strictARP: true",
    "  tcpTimeout: 15m",
    "  tcpFinTimeout: 30s",
    "  udpTimeout: 1500us",
    "conntrack:",
    "  maxPerCore: 0",
    "  min: 10",
    "  tcpEstablishedTimeout: 0s",
    "  tcpCloseWaitTimeout: 2h",
    "  tcpBeLiberal: true",
    "  udpTimeout: 10s",
    "  udpStreamTimeout: 1m",
    "oomScoreAdj: 0",
    "configSyncPeriod: 1m",
    "logging:",
    "  format: text",
    "  flushFrequency: 1.5s",
    "  verbosity: 4",
    "  vmodule:",
    "    - filePattern: proxier*",
    "      verbosity: 5",
    "  options:",
    "    text:",
    "      splitStream: true",
    "      infoBufferSize: 1Mi",
    "    json:",
    '      infoBufferSize: "0"',
    "winkernel:",
    "  networkName: l2bridge",
    "  sourceVip: 10.0.0.2",
    "  enableDSR: true",
    "  rootHnsEndpointName: root",
    "  forwardHealthCheckVip: true",
    "windowsRunAsService: true",
    "",
  ].join("\n"),
  "ipvs:\n  excludeCIDRs: [10.0.0.0/8]\nnodePortAddresses: [primary]\n",
];

Deno.test("dumpConfigYaml() output loads back to a deep-equal ProxyConfig", () => {
  for (const body of ROUND_TRIP_BODIES) {
    const config = resolveYaml(HEADER + body);
    const again = resolveYaml(dumpConfigYaml(config));
    assert.deepEqual(again, config, body);
  }
});

Deno.test("dumpConfigYaml() writes every field with keys sorted and Go durations", () => {
  const yaml = dumpConfigYaml(expectedDefaults());
  const topLevelKeys = yaml.split("\n").filter((line) => /^[a-zA-Z]/.test(line)).map((line) =>
    line.split(":")[0]
  );
  assert.deepEqual(topLevelKeys, [...topLevelKeys].sort());
  assert.deepEqual(topLevelKeys, [
    "apiVersion",
    "bindAddress",
    "bindAddressHardFail",
    "clientConnection",
    "clusterCIDR",
    "configSyncPeriod",
    "conntrack",
    "detectLocal",
    "detectLocalMode",
    "enableProfiling",
    "healthzBindAddress",
    "hostnameOverride",
    "iptables",
    "ipvs",
    "kind",
    "logging",
    "metricsBindAddress",
    "mode",
    "nftables",
    "nodePortAddresses",
    "oomScoreAdj",
    "portRange",
    "showHiddenMetricsForVersion",
    "winkernel",
  ]);
  assert.match(yaml, /^configSyncPeriod: 15m0s$/m);
  assert.match(yaml, /^ {2}tcpEstablishedTimeout: 24h0m0s$/m);
  assert.match(yaml, /^nodePortAddresses: null$/m);
  assert.match(yaml, /^ {6}infoBufferSize: "0"$/m);
});

Deno.test("configToFile() writes sync periods into the current mode's section only", () => {
  const iptables = configToFile(expectedDefaults({ masqueradeAll: true }));
  assert.deepEqual(iptables.iptables, {
    localhostNodePorts: true,
    masqueradeAll: true,
    masqueradeBit: 14,
    minSyncPeriod: "1s",
    syncPeriod: "30s",
  });
  assert.deepEqual(iptables.nftables, {
    masqueradeAll: false,
    masqueradeBit: 14,
    minSyncPeriod: "0s",
    syncPeriod: "0s",
  });
  assert.equal(iptables.ipvs?.syncPeriod, "0s");
  assert.equal(iptables.ipvs?.minSyncPeriod, "0s");

  const nftables = configToFile(
    expectedDefaults({ mode: "nftables", masqueradeAll: true, nodePortAddresses: ["primary"] }),
  );
  assert.deepEqual(nftables.nftables, {
    masqueradeAll: true,
    masqueradeBit: 14,
    minSyncPeriod: "1s",
    syncPeriod: "30s",
  });
  assert.equal(nftables.iptables?.syncPeriod, "0s");
  assert.equal(nftables.iptables?.masqueradeAll, false);
  assert.deepEqual(nftables.nodePortAddresses, ["primary"]);
});

Deno.test("configToFile() writes null for unset lists and leaves out empty omitempty fields", () => {
  const file = configToFile(expectedDefaults());
  assert.equal(file.nodePortAddresses, null);
  assert.equal(file.ipvs?.excludeCIDRs, null);
  assert.equal("featureGates" in file, false);
  assert.equal("windowsRunAsService" in file, false);
  assert.equal(file.logging !== undefined && "vmodule" in file.logging, false);
  assert.equal(file.apiVersion, "kubeproxy.config.k8s.io/v1alpha1");
  assert.equal(file.kind, "KubeProxyConfiguration");
});
