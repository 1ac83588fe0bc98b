/**
 * A deterministic synthetic cluster for benchmarks: N Services × M endpoints, one slice each,
 * in the unit-test address plan (ClusterIPs 172.30.0.0/16, pods 10.0.0.0/8, LB 1.2.x.y).
 *
 * The mix per ten Services: six ClusterIP, two NodePort, two LoadBalancer; every third
 * externally reachable Service has externalTrafficPolicy Local (LoadBalancers with a
 * health-check port); every seventh has ClientIP affinity; every tenth carries zone hints.
 * Endpoints spread over `nodes` nodes, so about 1/nodes of them are local to `nodeName`.
 *
 * @module
 */

import type { V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node";
import { EndpointTable } from "../../src/model/mod.ts";

/** Shape of the generated cluster. */
export interface SyntheticClusterOptions {
  /** Number of Services. @default 10000 */
  services?: number;
  /** Endpoints per Service (one slice each). @default 10 */
  endpointsPerService?: number;
  /** Number of nodes endpoints are spread over. @default 100 */
  nodes?: number;
}

/** The generated objects, ready to feed to an informer consumer. */
export interface SyntheticCluster {
  /** The node the proxy runs on (`node-0`). */
  readonly nodeName: string;
  /** That node's Node object (zone `zone-0`, InternalIP 192.168.0.2). */
  readonly node: V1Node;
  /** All Services. */
  readonly services: readonly V1Service[];
  /** All EndpointSlices; `slices[i]` belongs to `services[i]`. */
  readonly slices: readonly V1EndpointSlice[];
  /** The pod CIDR to use as `clusterCIDRs`. */
  readonly clusterCIDR: string;
}

/** The IPv4 address `n` places after `base` (both as 32-bit numbers). */
function ipv4(base: number, n: number): string {
  const v = (base + n) >>> 0;
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** Builds the cluster; the same options always give the same objects. */
export function makeSyntheticCluster(opts: SyntheticClusterOptions = {}): SyntheticCluster {
  const count = opts.services ?? 10000;
  const perService = opts.endpointsPerService ?? 10;
  const nodes = opts.nodes ?? 100;
  const services: V1Service[] = [];
  const slices: V1EndpointSlice[] = [];
  for (let i = 0; i < count; i++) {
    const namespace = `ns${i % 100}`;
    const name = `svc${i}`;
    const kind = i % 10;
    const type = kind < 6 ? "ClusterIP" : kind < 8 ? "NodePort" : "LoadBalancer";
    const local = type !== "ClusterIP" && i % 3 === 0;
    const clusterIP = ipv4(0xac1e0000, i + 1); // 172.30.0.0/16
    const svc: V1Service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { namespace, name, resourceVersion: "1" },
      spec: {
        type,
        clusterIP,
        clusterIPs: [clusterIP],
        ipFamilies: ["IPv4"],
        ipFamilyPolicy: "SingleStack",
        sessionAffinity: i % 7 === 0 ? "ClientIP" : "None",
        ports: [{
          name: "http",
          port: 80,
          protocol: "TCP",
          targetPort: 8080,
          ...(type === "ClusterIP" ? {} : { nodePort: 30000 + (i % 2768) }),
        }],
        internalTrafficPolicy: "Cluster",
        ...(type === "ClusterIP" ? {} : { externalTrafficPolicy: local ? "Local" : "Cluster" }),
        ...(type === "LoadBalancer" && local ? { healthCheckNodePort: 32000 + (i % 700) } : {}),
        ...(i % 7 === 0 ? { sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } } } : {}),
      },
      status: type === "LoadBalancer"
        ? { loadBalancer: { ingress: [{ ip: ipv4(0x01020000, i), ipMode: "VIP" }] } }
        : {},
    };
    services.push(svc);

    const hinted = i % 10 === 9;
    const endpoints = [];
    for (let k = 0; k < perService; k++) {
      const j = i * perService + k;
      endpoints.push({
        addresses: [ipv4(0x0a000000, j + 1)], // 10.0.0.0/8
        conditions: { ready: true, serving: true, terminating: false },
        nodeName: `node-${j % nodes}`,
        zone: `zone-${j % 3}`,
        ...(hinted ? { hints: { forZones: [{ name: `zone-${j % 3}` }] } } : {}),
      });
    }
    slices.push({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        namespace,
        name: `${name}-abcde`,
        resourceVersion: "1",
        labels: { "kubernetes.io/service-name": name },
      },
      addressType: "IPv4",
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      endpoints,
    });
  }
  const node: V1Node = {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: "node-0",
      resourceVersion: "1",
      labels: { "kubernetes.io/hostname": "node-0", "topology.kubernetes.io/zone": "zone-0" },
    },
    spec: { podCIDR: "10.0.0.0/24", podCIDRs: ["10.0.0.0/24"] },
    status: { addresses: [{ type: "InternalIP", address: "192.168.0.2" }] },
  };
  return { nodeName: "node-0", node, services, slices, clusterCIDR: "10.0.0.0/8" };
}

/** A copy of `slice` with endpoint `k`'s readiness flipped (a typical single-endpoint event). */
export function withEndpointReadyFlipped(slice: V1EndpointSlice, k: number): V1EndpointSlice {
  const endpoints = (slice.endpoints ?? []).map((ep, idx) => {
    if (idx !== k) return ep;
    const ready = !(ep.conditions?.ready ?? true);
    return { ...ep, conditions: { ...ep.conditions, ready, serving: ready } };
  });
  const rv = Number(slice.metadata?.resourceVersion ?? "1") + 1;
  return { ...slice, metadata: { ...slice.metadata, resourceVersion: String(rv) }, endpoints };
}

/** An endpoint table holding all of `cluster`, seen from its node, with every source synced. */
export function syncedTableOf(cluster: SyntheticCluster): EndpointTable {
  const table = new EndpointTable({
    nodeName: cluster.nodeName,
    detectLocalMode: "ClusterCIDR",
    clusterCIDRs: [cluster.clusterCIDR],
    bridgeInterface: "",
    interfaceNamePrefix: "",
  });
  table.onNodeAdd(cluster.node);
  for (const s of cluster.services) table.onServiceAdd(s);
  for (const s of cluster.slices) table.onEndpointSliceAdd(s);
  table.markSynced("node");
  table.markSynced("services");
  table.markSynced("endpointSlices");
  return table;
}
