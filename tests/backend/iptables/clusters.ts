/**
 * The clusters behind iptables mode's golden files (tests/fixtures/golden/iptables/<name>.txt),
 * modelled on upstream's pkg/proxy/iptables/proxier_test.go cases so each golden can be checked
 * against upstream's expected rules by hand. Unit-test address plan (no packets are sent).
 *
 * @module
 */

import type { V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node";
import type { RenderOptions } from "../../../src/backend/backend.ts";
import { IptablesBackend } from "../../../src/backend/iptables/backend.ts";
import { SILENT_LOGGER } from "../../../src/log.ts";
import { EndpointTable, type TableOptions, type TableSnapshot } from "../../../src/model/mod.ts";
import {
  makeEndpoint,
  makeNode,
  makeService,
  makeSlice,
  makeTableOptions,
  OTHER_NODE_NAME,
  servicePort,
  setClusterIPs,
  setLoadBalancerIngress,
  slicePort,
  TEST_EXTERNAL_IP,
  TEST_LB_IP,
  TEST_NODE_IPV6,
  TEST_NODE_NAME,
} from "../../fixtures/k8s_builders.ts";
import { RecordingRunner } from "../../fixtures/recording_runner.ts";

/** Upstream's defaults (and the fake proxier's): bit 14, localhost NodePorts, all addresses. */
export const DEFAULT_OPTIONS: RenderOptions = Object.freeze({
  masqueradeBit: 14,
  masqueradeAll: false,
  localhostNodePorts: true,
  nodePortAddresses: Object.freeze([]) as readonly string[],
});

/** One golden cluster. */
export interface GoldenCluster {
  /** File name without `.txt`. */
  readonly name: string;
  /** What it shows, and which upstream test it mirrors. */
  readonly about: string;
  readonly services: readonly V1Service[];
  readonly slices: readonly V1EndpointSlice[];
  readonly node?: V1Node;
  readonly table?: Partial<TableOptions>;
  readonly options?: Partial<RenderOptions>;
}

/** A synced table holding the objects; its snapshot is what the backend renders. */
export function tableOf(
  objects: {
    services: readonly V1Service[];
    slices: readonly V1EndpointSlice[];
    node?: V1Node;
    table?: Partial<TableOptions>;
  },
): EndpointTable {
  const table = new EndpointTable(makeTableOptions(objects.table));
  table.onNodeAdd(objects.node ?? makeNode());
  for (const s of objects.services) table.onServiceAdd(s);
  for (const s of objects.slices) table.onEndpointSliceAdd(s);
  table.markSynced("services");
  table.markSynced("endpointSlices");
  table.markSynced("node");
  return table;
}

/** The snapshot of a golden cluster. */
export function snapshotOf(cluster: GoldenCluster): TableSnapshot {
  return tableOf(cluster).snapshot();
}

/** The render options of a golden cluster. */
export function optionsOf(cluster: GoldenCluster): RenderOptions {
  return { ...DEFAULT_OPTIONS, ...cluster.options };
}

/**
 * What a golden file holds: a header naming the cluster, then `renderFull()` with the dry-run
 * host facts (node IPs as host addresses, modern iptables, strict conntrack).
 */
export function goldenText(cluster: GoldenCluster): string {
  const backend = new IptablesBackend(
    { runner: new RecordingRunner(), log: SILENT_LOGGER, options: optionsOf(cluster) },
    { hostAddresses: () => null },
  );
  const header = `# golden ${cluster.name}: ${cluster.about}\n` +
    `# options: ${JSON.stringify(optionsOf(cluster))}\n`;
  return header + backend.renderFull(snapshotOf(cluster));
}

function slice(
  ns: string,
  svc: string,
  ports: [string, number, string?][],
  endpoints: [string, string?][],
  family: "IPv4" | "IPv6" = "IPv4",
): V1EndpointSlice {
  return makeSlice(ns, svc, family === "IPv4" ? 1 : 2, (es) => {
    es.addressType = family;
    es.ports = ports.map(([name, port, protocol]) => slicePort(name, port, protocol));
    es.endpoints = endpoints.map(([ip, nodeName]) =>
      makeEndpoint(ip, nodeName === undefined ? {} : { nodeName })
    );
  });
}

/** Upstream TestOverallIPTablesRules, service for service. */
const overall: GoldenCluster = {
  name: "overall",
  about: "upstream TestOverallIPTablesRules: ClusterIP, LB eTP Local, NodePort, external IP, " +
    "LB with source ranges and affinity, no endpoints",
  services: [
    makeService("ns1", "svc1", (s) => {
      setClusterIPs(s, "172.30.0.41");
      s.spec.ports = [servicePort("p80", 80)];
    }),
    makeService("ns2", "svc2", (s) => {
      s.spec.type = "LoadBalancer";
      s.spec.externalTrafficPolicy = "Local";
      setClusterIPs(s, "172.30.0.42");
      s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
      setLoadBalancerIngress(s, "1.2.3.4");
      s.spec.externalIPs = ["192.168.99.22"];
      s.spec.healthCheckNodePort = 30000;
    }),
    makeService("ns3", "svc3", (s) => {
      s.spec.type = "NodePort";
      setClusterIPs(s, "172.30.0.43");
      s.spec.ports = [servicePort("p80", 80, { nodePort: 3003 })];
    }),
    makeService("ns4", "svc4", (s) => {
      s.spec.type = "NodePort";
      setClusterIPs(s, "172.30.0.44");
      s.spec.externalIPs = ["192.168.99.33"];
      s.spec.ports = [servicePort("p80", 80)];
    }),
    makeService("ns5", "svc5", (s) => {
      s.spec.type = "LoadBalancer";
      s.spec.externalTrafficPolicy = "Cluster";
      setClusterIPs(s, "172.30.0.45");
      s.spec.ports = [servicePort("p80", 80, { nodePort: 3002 })];
      setLoadBalancerIngress(s, "5.6.7.8");
      s.spec.healthCheckNodePort = 30000;
      s.spec.loadBalancerSourceRanges = [" 203.0.113.0/25"];
      s.spec.sessionAffinity = "ClientIP";
      s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10800 } };
    }),
    makeService("ns6", "svc6", (s) => {
      setClusterIPs(s, "172.30.0.46");
      s.spec.ports = [servicePort("p80", 80)];
    }),
  ],
  slices: [
    slice("ns1", "svc1", [["p80", 80]], [["10.180.0.1"]]),
    slice("ns2", "svc2", [["p80", 80]], [["10.180.0.2"]]),
    slice("ns3", "svc3", [["p80", 80]], [["10.180.0.3"]]),
    slice("ns4", "svc4", [["p80", 80]], [["10.180.0.4"], ["10.180.0.5", TEST_NODE_NAME]]),
    slice("ns5", "svc5", [["p80", 80]], [["10.180.0.3"]]),
  ],
};

const clusterIP: GoldenCluster = {
  name: "cluster_ip",
  about: "upstream TestClusterIPGeneral: several endpoints, named ports, TCP/UDP/SCTP on one port",
  services: [
    makeService("ns1", "svc1", (s) => {
      setClusterIPs(s, "172.30.0.41");
      s.spec.ports = [servicePort("http", 80)];
    }),
    makeService("ns2", "svc2", (s) => {
      setClusterIPs(s, "172.30.0.42");
      s.spec.ports = [
        servicePort("http", 80),
        servicePort("https", 443, { targetPort: 8443 }),
        servicePort("dns-udp", 53, { protocol: "UDP" }),
        servicePort("dns-tcp", 53, { targetPort: 5353 }),
        servicePort("dns-sctp", 53, { protocol: "SCTP" }),
      ];
    }),
  ],
  slices: [
    slice("ns1", "svc1", [["http", 80]], [["10.180.0.1", TEST_NODE_NAME]]),
    slice(
      "ns2",
      "svc2",
      [["http", 80], ["https", 8443], ["dns-udp", 53, "UDP"], ["dns-tcp", 5353], [
        "dns-sctp",
        53,
        "SCTP",
      ]],
      [["10.180.0.1", TEST_NODE_NAME], ["10.180.2.1", OTHER_NODE_NAME], [
        "10.180.0.10",
        OTHER_NODE_NAME,
      ]],
    ),
  ],
};

const nodePort: GoldenCluster = {
  name: "node_port",
  about: "upstream TestNodePorts (default nodePortAddresses): NodePort with two endpoints",
  services: [
    makeService("ns1", "svc1", (s) => {
      s.spec.type = "NodePort";
      setClusterIPs(s, "172.30.0.41");
      s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
    }),
  ],
  slices: [slice("ns1", "svc1", [["p80", 80]], [["10.180.0.1", TEST_NODE_NAME], ["10.180.2.1"]])],
};

const nodePortAddresses: GoldenCluster = {
  name: "node_port_addresses",
  about: "upstream TestNodePorts with nodePortAddresses CIDRs including 127.0.0.0/8: " +
    "per-address dispatch, localhost kept",
  services: nodePort.services,
  slices: nodePort.slices,
  options: { nodePortAddresses: ["192.168.0.0/24", "127.0.0.0/8"] },
};

const loadBalancer: GoldenCluster = {
  name: "load_balancer_source_ranges",
  about: "upstream TestLoadBalancer: two LB IPs, source ranges (one holds the node IP, so the " +
    "LB IPs are allowed as sources too)",
  services: [
    makeService("ns1", "svc1", (s) => {
      s.spec.type = "LoadBalancer";
      setClusterIPs(s, "172.30.0.41");
      s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
      setLoadBalancerIngress(s, TEST_LB_IP, "5.6.7.8");
      s.spec.loadBalancerSourceRanges = ["192.168.0.0/24", " 203.0.113.0/25"];
    }),
  ],
  slices: [slice("ns1", "svc1", [["p80", 80]], [["10.180.0.1"]])],
};

const externalIPs: GoldenCluster = {
  name: "external_ips",
  about: "upstream TestExternalIPsReject/TestOnlyLocalExternalIPs shape: a ClusterIP Service " +
    "with external IPs (one is a node address), eTP Cluster",
  services: [
    makeService("ns1", "svc1", (s) => {
      setClusterIPs(s, "172.30.0.41");
      s.spec.externalIPs = [TEST_EXTERNAL_IP, "192.168.99.22"];
      s.spec.ports = [servicePort("p80", 80)];
    }),
  ],
  slices: [slice("ns1", "svc1", [["p80", 80]], [["10.180.0.1"], ["10.180.0.2", TEST_NODE_NAME]])],
};

function localService(ns: string, name: string, ip: string) {
  return makeService(ns, name, (s) => {
    s.spec.type = "LoadBalancer";
    s.spec.externalTrafficPolicy = "Local";
    setClusterIPs(s, ip);
    s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
    setLoadBalancerIngress(s, TEST_LB_IP);
    s.spec.externalIPs = ["192.168.99.22"];
    s.spec.healthCheckNodePort = 30000;
  });
}

const etpLocal: GoldenCluster = {
  name: "etp_local_with_local_endpoints",
  about: "upstream TestOnlyLocalLoadBalancing/TestOnlyLocalNodePorts: eTP Local LB with one " +
    "local and one remote endpoint (SVC and SVL chains, pod/host short-circuits)",
  services: [localService("ns1", "svc1", "172.30.0.41")],
  slices: [
    slice("ns1", "svc1", [["p80", 80]], [["10.180.0.1", TEST_NODE_NAME], [
      "10.180.2.1",
      OTHER_NODE_NAME,
    ]]),
  ],
};

const etpLocalNone: GoldenCluster = {
  name: "etp_local_without_local_endpoints",
  about: "upstream TestOverallIPTablesRules ns2/svc2: eTP Local with only remote endpoints: " +
    "DROP in KUBE-EXTERNAL-SERVICES, EXT chain keeps the short-circuits",
  services: [localService("ns1", "svc1", "172.30.0.41")],
  slices: [slice("ns1", "svc1", [["p80", 80]], [["10.180.2.1", OTHER_NODE_NAME]])],
};

const affinity: GoldenCluster = {
  name: "affinity",
  about: "ClientIP session affinity (upstream TestOverallIPTablesRules ns5/svc5 shape) with " +
    "three endpoints: recent checks before the statistic split",
  services: [
    makeService("ns1", "svc1", (s) => {
      setClusterIPs(s, "172.30.0.41");
      s.spec.ports = [servicePort("p80", 80)];
      s.spec.sessionAffinity = "ClientIP";
      s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 300 } };
    }),
  ],
  slices: [slice("ns1", "svc1", [["p80", 80]], [["10.180.0.1"], ["10.180.0.2"], ["10.180.0.3"]])],
};

const noEndpoints: GoldenCluster = {
  name: "no_endpoints",
  about: "upstream TestNoEndpointsReject: LB with external IP and NodePort, no endpoints: " +
    "REJECT everywhere, no nat chains",
  services: [
    makeService("ns1", "svc1", (s) => {
      s.spec.type = "LoadBalancer";
      setClusterIPs(s, "172.30.0.41");
      s.spec.externalIPs = [TEST_EXTERNAL_IP];
      s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
      setLoadBalancerIngress(s, TEST_LB_IP);
    }),
  ],
  slices: [],
};

const internalLocal: GoldenCluster = {
  name: "itp_local",
  about: "upstream TestInternalTrafficPolicy: iTP Local with a local endpoint (SVL chain for " +
    "the ClusterIP) and without one (DROP)",
  services: [
    makeService("ns1", "svc1", (s) => {
      setClusterIPs(s, "172.30.0.41");
      s.spec.internalTrafficPolicy = "Local";
      s.spec.ports = [servicePort("p80", 80)];
    }),
    makeService("ns2", "svc2", (s) => {
      setClusterIPs(s, "172.30.0.42");
      s.spec.internalTrafficPolicy = "Local";
      s.spec.ports = [servicePort("p80", 80)];
    }),
  ],
  slices: [
    slice("ns1", "svc1", [["p80", 80]], [["10.180.0.1", TEST_NODE_NAME], [
      "10.180.2.1",
      OTHER_NODE_NAME,
    ]]),
    slice("ns2", "svc2", [["p80", 80]], [["10.180.2.2", OTHER_NODE_NAME]]),
  ],
};

const dualStack: GoldenCluster = {
  name: "dual_stack",
  about: "a dual-stack NodePort Service with endpoints in both families (IPv6: `! -d ::1/128`, " +
    "no KUBE-FIREWALL, bracketed endpoints)",
  node: makeNode(TEST_NODE_NAME, (n) => {
    n.status.addresses.push({ type: "InternalIP", address: TEST_NODE_IPV6 });
  }),
  services: [
    makeService("ns1", "svc1", (s) => {
      s.spec.type = "NodePort";
      setClusterIPs(s, "172.30.0.41", "fd00:172:30::41");
      s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
    }),
  ],
  slices: [
    slice("ns1", "svc1", [["p80", 80]], [["10.180.0.1", TEST_NODE_NAME], ["10.180.2.1"]]),
    slice("ns1", "svc1", [["p80", 80]], [["fd00:10::1", TEST_NODE_NAME], ["fd00:10::2"]], "IPv6"),
  ],
};

const masqueradeAll: GoldenCluster = {
  name: "masquerade_all",
  about: "upstream TestMasqueradeRule / masqueradeAll with masqueradeBit 0 and " +
    "localhostNodePorts off",
  services: clusterIP.services.slice(0, 1),
  slices: clusterIP.slices.slice(0, 1),
  options: { masqueradeAll: true, masqueradeBit: 0, localhostNodePorts: false },
};

/** Every golden cluster, in file-name order. */
export const GOLDEN_CLUSTERS: readonly GoldenCluster[] = [
  affinity,
  clusterIP,
  dualStack,
  etpLocal,
  etpLocalNone,
  externalIPs,
  internalLocal,
  loadBalancer,
  masqueradeAll,
  noEndpoints,
  nodePort,
  nodePortAddresses,
  overall,
];
