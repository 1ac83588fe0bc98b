/**
 * The Kubernetes objects of the end-to-end cluster: one Service per case, each with its
 * EndpointSlice, and the Node the proxy runs as. Addresses come from `topology.ts`.
 *
 * @module
 */

import type { V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node";
import {
  makeEndpoint,
  makeNode,
  makeService,
  makeSlice,
  type ServiceDraft,
  servicePort,
  setClusterIPs,
  setLoadBalancerIngress,
  slicePort,
} from "../fixtures/k8s_builders.ts";
import { ECHO_TCP_PORT, ECHO_UDP_PORT, NODE1, NODE2, PODS } from "./topology.ts";

/** The Kubernetes namespace of every e2e Service. */
export const K8S_NAMESPACE = "e2e";

/** What one Service of the e2e cluster looks like. */
export interface E2eService {
  readonly name: string;
  /** IPv4 ClusterIP. */
  readonly clusterIP: string;
  /** IPv6 ClusterIP for dual-stack Services. */
  readonly clusterIPv6?: string;
  /** Service port. */
  readonly port: number;
  readonly protocol?: "TCP" | "UDP";
  readonly nodePort?: number;
  readonly type?: "ClusterIP" | "NodePort" | "LoadBalancer";
  /** Pod names (from `PODS`) behind the Service. */
  readonly endpoints: readonly string[];
  readonly externalTrafficPolicy?: "Local";
  readonly internalTrafficPolicy?: "Local";
  readonly sessionAffinity?: "ClientIP";
  readonly loadBalancerIP?: string;
  readonly loadBalancerSourceRanges?: readonly string[];
}

/** The Services; each case uses its own so cases cannot disturb each other. */
export const SERVICES = {
  /** Three endpoints (two local, one remote) and a NodePort. */
  multi: {
    name: "multi",
    clusterIP: "198.19.0.10",
    port: 80,
    type: "NodePort",
    nodePort: 30010,
    endpoints: ["pod-a", "pod-b", "pod-r"],
  },
  /** No endpoints at all: REJECT. */
  empty: { name: "empty", clusterIP: "198.19.0.11", port: 80, endpoints: [] },
  /** eTP Local with one local and one remote endpoint. */
  etpLocal: {
    name: "etp-local",
    clusterIP: "198.19.0.12",
    port: 80,
    type: "NodePort",
    nodePort: 30012,
    externalTrafficPolicy: "Local",
    endpoints: ["pod-a", "pod-r"],
  },
  /** eTP Local with remote endpoints only: external traffic to node1 is dropped. */
  etpLocalRemote: {
    name: "etp-local-remote",
    clusterIP: "198.19.0.13",
    port: 80,
    type: "NodePort",
    nodePort: 30013,
    externalTrafficPolicy: "Local",
    endpoints: ["pod-r", "pod-s"],
  },
  /** iTP Local with one local and one remote endpoint. */
  itpLocal: {
    name: "itp-local",
    clusterIP: "198.19.0.14",
    port: 80,
    internalTrafficPolicy: "Local",
    endpoints: ["pod-a", "pod-r"],
  },
  /** iTP Local with a remote endpoint only: ClusterIP traffic from node1 is dropped. */
  itpLocalRemote: {
    name: "itp-local-remote",
    clusterIP: "198.19.0.15",
    port: 80,
    internalTrafficPolicy: "Local",
    endpoints: ["pod-r"],
  },
  /** ClientIP session affinity over three endpoints. */
  affinity: {
    name: "affinity",
    clusterIP: "198.19.0.16",
    port: 80,
    sessionAffinity: "ClientIP",
    endpoints: ["pod-a", "pod-b", "pod-r"],
  },
  /** One endpoint, pod-a, which also calls it (hairpin). */
  hairpin: { name: "hairpin", clusterIP: "198.19.0.17", port: 80, endpoints: ["pod-a"] },
  /** A LoadBalancer open to the external client only. */
  lb: {
    name: "lb",
    clusterIP: "198.19.0.18",
    port: 80,
    type: "LoadBalancer",
    nodePort: 30018,
    loadBalancerIP: "198.51.100.10",
    loadBalancerSourceRanges: ["203.0.113.2/32"],
    endpoints: ["pod-a"],
  },
  /** UDP, whose endpoint the conntrack case replaces. */
  udp: {
    name: "udp",
    clusterIP: "198.19.0.19",
    port: 53,
    protocol: "UDP",
    endpoints: ["pod-a"],
  },
  /** Two endpoints, one of which the removal case takes away. */
  moving: { name: "moving", clusterIP: "198.19.0.20", port: 80, endpoints: ["pod-a", "pod-b"] },
  /** Dual-stack over the two dual-stack pods. */
  dual: {
    name: "dual",
    clusterIP: "198.19.0.21",
    clusterIPv6: "2001:db8:19::21",
    port: 80,
    endpoints: ["pod-a", "pod-b"],
  },
} as const satisfies Record<string, E2eService>;

function pod(name: string) {
  const found = PODS.find((p) => p.name === name);
  if (found === undefined) throw new Error(`no pod ${name}`);
  return found;
}

function nodeNameOf(podName: string): string {
  return pod(podName).node === "node1" ? NODE1.name : NODE2.name;
}

/** The Service object of `spec`. */
export function serviceObject(spec: E2eService): V1Service {
  return makeService(K8S_NAMESPACE, spec.name, (s: ServiceDraft) => {
    if (spec.clusterIPv6 === undefined) setClusterIPs(s, spec.clusterIP);
    else setClusterIPs(s, spec.clusterIP, spec.clusterIPv6);
    s.spec.type = spec.type ?? "ClusterIP";
    s.spec.ports = [
      servicePort("p", spec.port, {
        protocol: spec.protocol ?? "TCP",
        targetPort: targetPort(spec),
        ...(spec.nodePort === undefined ? {} : { nodePort: spec.nodePort }),
      }),
    ];
    if (spec.externalTrafficPolicy !== undefined) {
      s.spec.externalTrafficPolicy = spec.externalTrafficPolicy;
    }
    if (spec.internalTrafficPolicy !== undefined) {
      s.spec.internalTrafficPolicy = spec.internalTrafficPolicy;
    }
    if (spec.sessionAffinity !== undefined) s.spec.sessionAffinity = spec.sessionAffinity;
    if (spec.loadBalancerIP !== undefined) setLoadBalancerIngress(s, spec.loadBalancerIP);
    if (spec.loadBalancerSourceRanges !== undefined) {
      s.spec.loadBalancerSourceRanges = [...spec.loadBalancerSourceRanges];
    }
  });
}

function targetPort(spec: E2eService): number {
  return spec.protocol === "UDP" ? ECHO_UDP_PORT : ECHO_TCP_PORT;
}

/**
 * The EndpointSlices of `spec` (one per family), with `endpoints` overriding the spec's pods
 * (for cases that change them).
 */
export function sliceObjects(
  spec: E2eService,
  endpoints: readonly string[] = spec.endpoints,
): V1EndpointSlice[] {
  const port = slicePort("p", targetPort(spec), spec.protocol ?? "TCP");
  const slices = [
    makeSlice(K8S_NAMESPACE, spec.name, 1, (es) => {
      es.ports = [port];
      es.endpoints = endpoints.map((p) => makeEndpoint(pod(p).ip, { nodeName: nodeNameOf(p) }));
    }),
  ];
  if (spec.clusterIPv6 !== undefined) {
    slices.push(makeSlice(K8S_NAMESPACE, spec.name, 6, (es) => {
      es.addressType = "IPv6";
      es.ports = [port];
      es.endpoints = endpoints.map((p) => {
        const ip = pod(p).ipv6;
        if (ip === undefined) throw new Error(`${p} has no IPv6 address`);
        return makeEndpoint(ip, { nodeName: nodeNameOf(p) });
      });
    }));
  }
  return slices;
}

/** The Node object of node1, where the proxy runs. */
export function node1Object(): V1Node {
  return makeNode(NODE1.name, (n) => {
    n.status.addresses = [
      { type: "InternalIP", address: NODE1.ip },
      { type: "InternalIP", address: NODE1.ipv6 },
    ];
    n.spec.podCIDR = NODE1.podCIDR;
    n.spec.podCIDRs = [NODE1.podCIDR, NODE1.podCIDRv6];
  });
}

/** Every object of the e2e cluster, as `[resource, object]` pairs in creation order. */
export function clusterObjects(): [
  "nodes" | "services" | "endpointslices",
  V1Node | V1Service | V1EndpointSlice,
][] {
  const out: [
    "nodes" | "services" | "endpointslices",
    V1Node | V1Service | V1EndpointSlice,
  ][] = [["nodes", node1Object()]];
  for (const spec of Object.values(SERVICES) as E2eService[]) {
    out.push(["services", serviceObject(spec)]);
    for (const slice of sliceObjects(spec)) out.push(["endpointslices", slice]);
  }
  return out;
}
