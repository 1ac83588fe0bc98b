/**
 * Random but valid cluster states for the robustness fuzz tests, from a seeded PRNG so a failing
 * case can be replayed from the seed the test prints.
 *
 * Addresses follow the unit-test plan of tests/fixtures/k8s_builders.ts; rules are only checked
 * with `--test` / `nft -c` inside a throwaway namespace, so nothing is ever routed.
 *
 * @module
 */

import type { V1Endpoint, V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node";
import type { EndpointTable } from "../../src/model/mod.ts";
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
  TEST_NODE_IPV6,
  TEST_NODE_NAME,
  TEST_ZONE,
} from "../fixtures/k8s_builders.ts";
import { EndpointTable as Table } from "../../src/model/mod.ts";
import { Rng } from "../fixtures/rng.ts";

/** The objects of one random cluster. */
export interface RandomCluster {
  readonly seed: number;
  readonly node: V1Node;
  readonly services: readonly V1Service[];
  readonly slices: readonly V1EndpointSlice[];
}

const PROTOCOLS = ["TCP", "UDP", "SCTP"] as const;
const NAMESPACES = ["ns1", "ns2", "kube-system", "a-very-long-namespace-name-for-fuzzing"];

/** A random DNS-1035 label of 1..`max` characters. */
function label(rng: Rng, max: number): string {
  const letters = "abcdefghijklmnopqrstuvwxyz";
  const chars = letters + "0123456789-";
  const length = rng.int(1, max);
  let out = rng.pick([...letters]);
  for (let i = 1; i < length; i++) out += rng.pick([...chars]);
  return out.endsWith("-") ? out.slice(0, -1) + "x" : out;
}

/**
 * A random valid cluster: up to `maxServices` Services (ClusterIP, NodePort, LoadBalancer;
 * single- or dual-stack; TCP/UDP/SCTP; traffic policies, affinity, external IPs, LB source
 * ranges, health-check node ports) with EndpointSlices whose endpoints have random conditions,
 * nodes, zones and hints.
 */
export function randomCluster(seed: number, maxServices = 12): RandomCluster {
  const rng = new Rng(seed);
  const dualStackNode = rng.chance(0.6);
  const node = makeNode(TEST_NODE_NAME, (n) => {
    if (dualStackNode) n.status.addresses.push({ type: "InternalIP", address: TEST_NODE_IPV6 });
    if (rng.chance(0.5)) n.metadata.labels["topology.kubernetes.io/zone"] = TEST_ZONE;
  });
  const services: V1Service[] = [];
  const slices: V1EndpointSlice[] = [];
  const usedNames = new Set<string>();
  const usedNodePorts = new Set<number>();
  const count = rng.int(0, maxServices);
  for (let i = 0; i < count; i++) {
    const ns = rng.pick(NAMESPACES);
    let name = `${label(rng, 20)}-${i}`;
    if (rng.chance(0.1)) name = `${label(rng, 40)}-${label(rng, 20)}-${i}`;
    if (usedNames.has(`${ns}/${name}`)) continue;
    usedNames.add(`${ns}/${name}`);
    const families = rng.pick(["v4", "v4", "v6", "dual"] as const);
    const ips: string[] = [];
    const v4 = `172.30.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    const v6 = `fd00:172:30::${(i + 1).toString(16)}`;
    if (families === "v4") ips.push(v4);
    else if (families === "v6") ips.push(v6);
    else ips.push(...rng.shuffle([v4, v6]));
    const type = rng.pick(["ClusterIP", "ClusterIP", "NodePort", "LoadBalancer"] as const);
    const portCount = rng.int(1, 4);
    const ports: { name: string; port: number; protocol: string; target: number }[] = [];
    const usedPorts = new Set<string>();
    for (let j = 0; j < portCount; j++) {
      const protocol = rng.pick(PROTOCOLS);
      const port = rng.chance(0.3) ? rng.pick([53, 80, 443, 8080]) : rng.int(1, 65535);
      if (usedPorts.has(`${protocol}/${port}`)) continue;
      usedPorts.add(`${protocol}/${port}`);
      ports.push({
        name: portCount === 1 && rng.chance(0.5) ? "" : `p${j}-${protocol.toLowerCase()}`,
        port,
        protocol,
        target: rng.int(1, 65535),
      });
    }
    const externalLocal = type !== "ClusterIP" && rng.chance(0.4);
    services.push(makeService(ns, name, (s) => {
      setClusterIPs(s, ...ips);
      s.spec.type = type;
      s.spec.ports = ports.map((p) => {
        const opts: { protocol: string; targetPort: number; nodePort?: number } = {
          protocol: p.protocol,
          targetPort: p.target,
        };
        if (type !== "ClusterIP") {
          let np = rng.int(30000, 32767);
          while (usedNodePorts.has(np)) np = rng.int(30000, 32767);
          usedNodePorts.add(np);
          opts.nodePort = np;
        }
        return servicePort(p.name, p.port, opts);
      });
      if (externalLocal) {
        s.spec.externalTrafficPolicy = "Local";
        if (type === "LoadBalancer") s.spec.healthCheckNodePort = 32000 + (i % 700);
      }
      if (rng.chance(0.2)) s.spec.internalTrafficPolicy = "Local";
      if (rng.chance(0.2)) {
        s.spec.sessionAffinity = "ClientIP";
        s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: rng.int(1, 86400) } };
      }
      if (rng.chance(0.2)) {
        s.spec.externalIPs = ips.map((ip) =>
          ip.includes(":") ? `2001:db8:99::${i + 1}` : `192.168.99.${(i % 250) + 1}`
        );
      }
      if (type === "LoadBalancer") {
        setLoadBalancerIngress(
          s,
          ...ips.map((ip) => ip.includes(":") ? `2001:db8:1b::${i + 1}` : `1.2.3.${(i % 250) + 1}`),
        );
        if (rng.chance(0.3)) {
          s.spec.loadBalancerSourceRanges = ips.map((ip) =>
            ip.includes(":") ? "2001:db8:c::/64" : "203.0.113.0/25"
          );
        }
      }
    }));
    for (const family of families === "dual" ? ["v4", "v6"] : [families]) {
      const sliceCount = rng.int(0, 2);
      for (let k = 1; k <= sliceCount; k++) {
        slices.push(makeSlice(ns, name, k + (family === "v6" ? 10 : 0), (es) => {
          if (family === "v6") es.addressType = "IPv6";
          es.ports = ports.map((p) => slicePort(p.name, p.target, p.protocol));
          const n = rng.int(0, 5);
          const endpoints: V1Endpoint[] = [];
          for (let e = 0; e < n; e++) {
            const host = i * 16 + k * 6 + e + 1;
            const ip = family === "v6"
              ? `fd00:10::${host.toString(16)}`
              : `10.180.${Math.floor(host / 250)}.${(host % 250) + 1}`;
            const conditions = rng.pick([
              {},
              { ready: true },
              { ready: false },
              { ready: false, serving: true, terminating: true },
              { ready: false, serving: false, terminating: true },
            ]);
            const hints = rng.chance(0.2) ? { zoneHints: [rng.pick([TEST_ZONE, "zone-b"])] } : {};
            const zone = rng.chance(0.5) ? { zone: rng.pick([TEST_ZONE, "zone-b"]) } : {};
            endpoints.push(makeEndpoint(ip, {
              ...conditions,
              ...hints,
              ...zone,
              nodeName: rng.pick([TEST_NODE_NAME, OTHER_NODE_NAME]),
            }));
          }
          es.endpoints = endpoints;
        }));
      }
    }
  }
  return { seed, node, services, slices };
}

/** A synced table fed with the cluster's objects in the given order. */
export function tableFrom(
  objects: { node: V1Node; services: readonly V1Service[]; slices: readonly V1EndpointSlice[] },
  order: "as-is" | "slices-first" = "as-is",
): EndpointTable {
  const table = new Table(makeTableOptions());
  if (order === "slices-first") {
    for (const s of objects.slices) table.onEndpointSliceAdd(s);
    for (const s of objects.services) table.onServiceAdd(s);
    table.onNodeAdd(objects.node);
  } else {
    table.onNodeAdd(objects.node);
    for (const s of objects.services) table.onServiceAdd(s);
    for (const s of objects.slices) table.onEndpointSliceAdd(s);
  }
  table.markSynced("services");
  table.markSynced("endpointSlices");
  table.markSynced("node");
  return table;
}
