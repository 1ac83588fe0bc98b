import assert from "node:assert/strict";
import type { V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import type { RenderOptions } from "../../../src/backend/backend.ts";
import {
  familyActive,
  renderNftables,
  renderRuleset,
  replaceTransaction,
} from "../../../src/backend/nftables/render.ts";
import { masqueradeMark, resolveNodePortAddresses } from "../../../src/backend/nftables/rules.ts";
import type { NftRuleset } from "../../../src/backend/nftables/ruleset.ts";
import type { TableOptions, TableSnapshot } from "../../../src/model/mod.ts";
import {
  makeEndpoint,
  makeNode,
  makeService,
  makeSlice,
  OTHER_NODE_NAME,
  servicePort,
  setClusterIPs,
  setLoadBalancerIngress,
  slicePort,
  TEST_NODE_NAME,
} from "../../fixtures/k8s_builders.ts";
import { DEFAULT_OPTIONS, tableOf } from "./clusters.ts";

function snapshot(
  services: V1Service[],
  slices: V1EndpointSlice[],
  table?: Partial<TableOptions>,
): TableSnapshot {
  return tableOf({ services, slices, ...(table === undefined ? {} : { table }) }).snapshot();
}

function v4(
  services: V1Service[],
  slices: V1EndpointSlice[],
  options: Partial<RenderOptions> = {},
  table?: Partial<TableOptions>,
): NftRuleset {
  return renderRuleset(snapshot(services, slices, table).v4, { ...DEFAULT_OPTIONS, ...options });
}

function rules(r: NftRuleset, chain: string): readonly string[] {
  const c = r.chains.get(chain);
  assert.ok(c !== undefined, `chain ${chain} missing`);
  return c.rules;
}

function elements(r: NftRuleset, set: string): Record<string, string> {
  const s = r.sets.get(set);
  assert.ok(s !== undefined, `set ${set} missing`);
  return Object.fromEntries(s.elements);
}

function clusterIPService(ns: string, name: string, ip: string, fn?: (s: V1Service) => void) {
  return makeService(ns, name, (s) => {
    setClusterIPs(s, ip);
    s.spec.ports = [servicePort("p80", 80)];
    fn?.(s);
  });
}

function sliceOf(ns: string, name: string, eps: [string, string?][], port = 80) {
  return makeSlice(ns, name, 1, (es) => {
    es.ports = [slicePort("p80", port)];
    es.endpoints = eps.map(([ip, node]) =>
      makeEndpoint(ip, node === undefined ? {} : { nodeName: node })
    );
  });
}

function lbService(ns: string, name: string, ip: string, fn?: (s: V1Service) => void) {
  return makeService(ns, name, (s) => {
    s.spec.type = "LoadBalancer";
    setClusterIPs(s, ip);
    s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
    setLoadBalancerIngress(s, "1.2.3.4");
    fn?.(s);
  });
}

Deno.test("renderRuleset() masquerades off-cluster traffic to a ClusterIP", () => {
  const r = v4([clusterIPService("ns1", "svc1", "172.30.0.41")], [
    sliceOf("ns1", "svc1", [["10.180.0.1"]]),
  ]);
  assert.equal(
    rules(r, "services")[0],
    "ip daddr @cluster-ips ip saddr != 10.0.0.0/8 meta mark set meta mark | 0x00004000 " +
      'comment "masquerade ClusterIP traffic from outside the cluster"',
  );
  assert.deepEqual(elements(r, "cluster-ips"), { "172.30.0.41": "" });
});

Deno.test("renderRuleset() with masqueradeAll marks every packet to a ClusterIP", () => {
  const r = v4([clusterIPService("ns1", "svc1", "172.30.0.41")], [
    sliceOf("ns1", "svc1", [["10.180.0.1"]]),
  ], { masqueradeAll: true, masqueradeBit: 0 });
  assert.equal(
    rules(r, "services")[0],
    'ip daddr @cluster-ips meta mark set meta mark | 0x00000001 comment "masquerade all ClusterIP traffic"',
  );
  assert.equal(
    rules(r, "masquerading")[0],
    "meta mark & 0x00000001 != 0 meta mark set meta mark ^ 0x00000001 masquerade fully-random",
  );
});

Deno.test("renderRuleset() with the no-op local detector marks no ClusterIP traffic", () => {
  const r = v4(
    [clusterIPService("ns1", "svc1", "172.30.0.41")],
    [sliceOf("ns1", "svc1", [["10.180.0.1"]])],
    {},
    { detectLocalMode: "ClusterCIDR", clusterCIDRs: [] },
  );
  assert.ok(rules(r, "services").every((rule) => !rule.includes("meta mark set")));
  // Without a detector there is no pod short-circuit either.
  assert.ok(rules(r, "external-local").every((rule) => !rule.includes("short-circuit pod")));
});

Deno.test("renderRuleset() recognises local pods by interface with the interface detectors", () => {
  const bridge = v4([], [], {}, { detectLocalMode: "BridgeInterface", bridgeInterface: "cbr0" });
  assert.match(rules(bridge, "services")[0] ?? "", /iifname != "cbr0" meta mark set/);
  assert.match(rules(bridge, "external-local")[0] ?? "", /^iifname "cbr0" goto pick-shortcircuit/);
  const prefix = v4([], [], {}, {
    detectLocalMode: "InterfaceNamePrefix",
    interfaceNamePrefix: "veth",
  });
  assert.match(rules(prefix, "services")[0] ?? "", /iifname != "veth\*" meta mark set/);
});

Deno.test("renderRuleset() sends a ClusterIP to a random endpoint through the map of its size", () => {
  const r = v4([clusterIPService("ns1", "svc1", "172.30.0.41")], [
    sliceOf("ns1", "svc1", [["10.180.0.2"], ["10.180.0.10"], ["10.180.0.1"]], 8080),
  ]);
  assert.deepEqual(elements(r, "service-ips"), {
    "172.30.0.41 . tcp . 80": " : goto pick-service",
  });
  // Upstream's order: a string sort of ip:port, so .10 (".10:") before .1 (".1:"), then .2.
  assert.deepEqual(elements(r, "service-endpoints-3"), {
    "172.30.0.41 . tcp . 80 . 0": " : 10.180.0.10 . 8080",
    "172.30.0.41 . tcp . 80 . 1": " : 10.180.0.1 . 8080",
    "172.30.0.41 . tcp . 80 . 2": " : 10.180.0.2 . 8080",
  });
  assert.ok(
    rules(r, "pick-service").includes(
      "dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 3 map @service-endpoints-3",
    ),
  );
});

Deno.test("renderRuleset() rejects a Service without endpoints and drops iTP Local without local ones", () => {
  const r = v4([
    clusterIPService("ns1", "none", "172.30.0.41"),
    clusterIPService("ns1", "itp", "172.30.0.42", (s) => {
      s.spec!.internalTrafficPolicy = "Local";
    }),
  ], [sliceOf("ns1", "itp", [["10.180.2.1", OTHER_NODE_NAME]])]);
  assert.deepEqual(elements(r, "no-endpoint-services"), {
    "172.30.0.41 . tcp . 80": ' comment "ns1/none:p80" : goto reject-chain',
    "172.30.0.42 . tcp . 80": ' comment "ns1/itp:p80" : drop',
  });
  assert.deepEqual(elements(r, "service-ips"), {});
  assert.deepEqual(rules(r, "reject-chain"), ["reject"]);
});

Deno.test("renderRuleset() masquerades external traffic with eTP Cluster", () => {
  const r = v4([lbService("ns1", "svc1", "172.30.0.41")], [
    sliceOf("ns1", "svc1", [["10.180.0.1"]]),
  ]);
  assert.equal(elements(r, "service-ips")["1.2.3.4 . tcp . 80"], " : goto external");
  assert.equal(elements(r, "service-nodeports")["tcp . 3001"], " : goto nodeport");
  assert.deepEqual(rules(r, "external"), [
    "meta mark set meta mark | 0x00004000 goto pick-service",
  ]);
  assert.deepEqual(rules(r, "nodeport"), [
    "meta mark set meta mark | 0x00004000 goto pick-nodeport",
  ]);
  assert.deepEqual(elements(r, "nodeport-endpoints-1"), {
    "tcp . 3001 . 0": " : 10.180.0.1 . 80",
  });
});

Deno.test("renderRuleset() with eTP Local short-circuits pods and the host and keeps sources of others", () => {
  const svc = lbService("ns1", "svc1", "172.30.0.41", (s) => {
    s.spec!.externalTrafficPolicy = "Local";
    s.spec!.healthCheckNodePort = 30000;
  });
  const r = v4([svc], [
    sliceOf("ns1", "svc1", [["10.180.0.1", TEST_NODE_NAME], ["10.180.2.1", OTHER_NODE_NAME]]),
  ]);
  assert.equal(elements(r, "service-ips")["1.2.3.4 . tcp . 80"], " : goto external-local");
  assert.deepEqual(rules(r, "external-local"), [
    'ip saddr 10.0.0.0/8 goto pick-shortcircuit comment "short-circuit pod traffic"',
    "fib saddr type local meta mark set meta mark | 0x00004000 goto pick-shortcircuit " +
    'comment "masquerade and short-circuit local traffic"',
    "goto pick-service",
  ]);
  // Others reach only the local endpoint; pods and the host reach both.
  assert.deepEqual(elements(r, "service-endpoints-1"), {
    "1.2.3.4 . tcp . 80 . 0": " : 10.180.0.1 . 80",
  });
  assert.deepEqual(elements(r, "shortcircuit-endpoints-2"), {
    "1.2.3.4 . tcp . 80 . 0": " : 10.180.0.1 . 80",
    "1.2.3.4 . tcp . 80 . 1": " : 10.180.2.1 . 80",
  });
  // The ClusterIP keeps Cluster policy and no drop is needed.
  assert.deepEqual(
    elements(r, "service-endpoints-2")["172.30.0.41 . tcp . 80 . 1"],
    " : 10.180.2.1 . 80",
  );
  assert.deepEqual(elements(r, "no-endpoint-services"), {});
});

Deno.test("renderRuleset() with eTP Local and no local endpoints drops outside traffic only", () => {
  const svc = lbService("ns1", "svc1", "172.30.0.41", (s) => {
    s.spec!.externalTrafficPolicy = "Local";
  });
  const r = v4([svc], [sliceOf("ns1", "svc1", [["10.180.2.1", OTHER_NODE_NAME]])]);
  assert.equal(elements(r, "service-ips")["1.2.3.4 . tcp . 80"], " : goto external-local");
  assert.equal(
    elements(r, "no-endpoint-services")["1.2.3.4 . tcp . 80"],
    ' comment "ns1/svc1:p80" : drop',
  );
  assert.equal(
    elements(r, "no-endpoint-nodeports")["tcp . 3001"],
    ' comment "ns1/svc1:p80" : drop',
  );
  assert.ok(!Object.keys(elements(r, "service-endpoints-1")).some((k) => k.startsWith("1.2.3.4")));
  assert.deepEqual(elements(r, "shortcircuit-endpoints-1"), {
    "1.2.3.4 . tcp . 80 . 0": " : 10.180.2.1 . 80",
  });
});

Deno.test("renderRuleset() firewalls LB IPs by source range and allows the LB IPs when a range holds the node", () => {
  const svc = lbService("ns1", "svc1", "172.30.0.41", (s) => {
    s.spec!.loadBalancerSourceRanges = ["192.168.0.0/16", "192.168.1.0/24", "203.0.113.0/25"];
  });
  const r = v4([svc], [sliceOf("ns1", "svc1", [["10.180.0.1"]])]);
  assert.deepEqual(elements(r, "firewall-ips"), { "1.2.3.4 . tcp . 80": "" });
  // 192.168.1.0/24 lies inside 192.168.0.0/16: the interval set takes the outer one only.
  assert.deepEqual(Object.keys(elements(r, "firewall-allow")), [
    "1.2.3.4 . tcp . 80 . 192.168.0.0/16",
    "1.2.3.4 . tcp . 80 . 203.0.113.0/25",
    "1.2.3.4 . tcp . 80 . 1.2.3.4",
  ]);
  assert.match(rules(r, "firewall-check")[0] ?? "", /!= @firewall-allow drop/);
  const far = v4([lbService("ns1", "svc1", "172.30.0.41", (s) => {
    s.spec!.loadBalancerSourceRanges = ["203.0.113.0/25"];
  })], [sliceOf("ns1", "svc1", [["10.180.0.1"]])]);
  assert.deepEqual(Object.keys(elements(far, "firewall-allow")), [
    "1.2.3.4 . tcp . 80 . 203.0.113.0/25",
  ]);
});

Deno.test("renderRuleset() masquerades hairpin traffic of local endpoints only", () => {
  const r = v4([clusterIPService("ns1", "svc1", "172.30.0.41")], [
    sliceOf("ns1", "svc1", [["10.180.0.1", TEST_NODE_NAME], ["10.180.2.1", OTHER_NODE_NAME]]),
  ]);
  assert.deepEqual(elements(r, "hairpin-ips"), { "10.180.0.1 . 10.180.0.1": "" });
  assert.equal(
    rules(r, "masquerading")[1],
    'ct status dnat ip saddr . ip daddr @hairpin-ips masquerade fully-random comment "hairpin: a pod reaching itself through a Service"',
  );
});

Deno.test("renderRuleset() keeps ClientIP affinity per endpoint in the shared affinity set", () => {
  const svc = clusterIPService("ns1", "svc1", "172.30.0.41", (s) => {
    s.spec!.sessionAffinity = "ClientIP";
    s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 300 } };
  });
  const r = v4([svc], [sliceOf("ns1", "svc1", [["10.180.0.1"], ["10.180.0.2"]])]);
  const chain = [...r.chains.keys()].find((n) => n.includes("/"));
  assert.equal(chain, "service-ULMVA6XW-ns1/svc1/tcp/p80");
  assert.equal(elements(r, "service-ips")["172.30.0.41 . tcp . 80"], ` : goto ${chain}`);
  const body = rules(r, chain);
  assert.equal(body.length, 4);
  assert.match(
    body[0] ?? "",
    /^ip saddr \. numgen random mod 1 offset (\d+) @affinity update @affinity \{ ip saddr \. numgen random mod 1 offset \1 timeout 300s \} meta l4proto tcp dnat ip to 10\.180\.0\.1:80$/,
  );
  assert.match(
    body[2] ?? "",
    /^numgen random mod 2 == 0 update @affinity .* dnat ip to 10\.180\.0\.1:80$/,
  );
  assert.match(body[3] ?? "", /^update @affinity .* dnat ip to 10\.180\.0\.2:80$/);
  assert.equal(r.sets.get("affinity")?.dynamic, true);
});

Deno.test("renderRuleset() gives a shared NodePort to the first Service in snapshot order", () => {
  const a = makeService("ns1", "a", (s) => {
    s.spec.type = "NodePort";
    setClusterIPs(s, "172.30.0.41");
    s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
  });
  const b = makeService("ns1", "b", (s) => {
    s.spec.type = "NodePort";
    setClusterIPs(s, "172.30.0.42");
    s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
  });
  const r = v4([b, a], [
    sliceOf("ns1", "a", [["10.180.0.1"]]),
    sliceOf("ns1", "b", [["10.180.0.2"], ["10.180.0.3"]]),
  ]);
  assert.deepEqual(elements(r, "nodeport-endpoints-1"), { "tcp . 3001 . 0": " : 10.180.0.1 . 80" });
});

Deno.test("renderRuleset() writes IPv6 tables with ip6 matches and bracketed DNAT targets", () => {
  const svc = clusterIPService("ns1", "svc1", "fd00:172:30::41", (s) => {
    s.spec!.sessionAffinity = "ClientIP";
  });
  const slice = makeSlice("ns1", "svc1", 1, (es) => {
    es.addressType = "IPv6";
    es.ports = [slicePort("p80", 80)];
    es.endpoints = [makeEndpoint("fd00:10::1")];
  });
  const r = renderRuleset(snapshot([svc], [slice]).v6, DEFAULT_OPTIONS);
  assert.equal(r.family, "IPv6");
  assert.match(
    rules(r, "services")[0] ?? "",
    /^ip6 daddr @cluster-ips ip6 saddr != fd00:10::\/64 /,
  );
  const chain = [...r.chains.keys()].find((n) => n.includes("/")) ?? "";
  assert.match(rules(r, chain)[0] ?? "", /dnat ip6 to \[fd00:10::1\]:80$/);
  assert.match(replaceTransaction(r)[0] ?? "", /^add table ip6 kube-proxy$/);
});

Deno.test("renderNftables() replaces the tables of the node's families and only deletes the others", () => {
  const snap = snapshot([clusterIPService("ns1", "svc1", "172.30.0.41")], [
    sliceOf("ns1", "svc1", [["10.180.0.1"]]),
  ]);
  const text = renderNftables(snap, DEFAULT_OPTIONS);
  const lines = text.split("\n");
  assert.deepEqual(lines.slice(0, 4), [
    "# IPv4: table ip kube-proxy",
    "add table ip kube-proxy",
    "delete table ip kube-proxy",
    'add table ip kube-proxy { comment "rules for kube-proxy" ; }',
  ]);
  assert.ok(text.endsWith(
    "# IPv6: table ip6 kube-proxy (the node has no IPv6 address)\n" +
      "add table ip6 kube-proxy\ndelete table ip6 kube-proxy\n",
  ));
  assert.equal(familyActive(snap, "IPv6"), false);
  assert.equal(familyActive(snap, "IPv4"), true);
});

Deno.test("resolveNodePortAddresses() resolves primary, keeps outer CIDRs and matches all otherwise", () => {
  assert.deepEqual(resolveNodePortAddresses("IPv4", ["192.168.0.2"], ["primary"]), {
    kind: "cidrs",
    cidrs: ["192.168.0.2/32"],
    loopback: false,
  });
  assert.deepEqual(resolveNodePortAddresses("IPv4", [], ["primary"]), {
    kind: "cidrs",
    cidrs: [],
    loopback: false,
  });
  assert.deepEqual(
    resolveNodePortAddresses("IPv4", [], ["10.0.0.0/8", "10.1.0.0/16", "127.0.0.0/8", "fd00::/8"]),
    { kind: "cidrs", cidrs: ["10.0.0.0/8", "127.0.0.0/8"], loopback: true },
  );
  assert.deepEqual(resolveNodePortAddresses("IPv6", [], ["10.0.0.0/8"]), { kind: "all" });
  assert.deepEqual(resolveNodePortAddresses("IPv4", [], []), { kind: "all" });
  assert.deepEqual(resolveNodePortAddresses("IPv4", [], ["0.0.0.0/0", "10.0.0.0/8"]), {
    kind: "all",
  });
});

Deno.test("renderRuleset() accepts NodePorts on every local address but loopback when nodePortAddresses is empty", () => {
  const r = v4([], [], { nodePortAddresses: [] });
  assert.equal(
    rules(r, "services").at(-1),
    "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports",
  );
  assert.equal(r.sets.has("nodeport-ips"), false);
});

Deno.test("masqueradeMark() spells the mark like upstream", () => {
  assert.equal(masqueradeMark(14), "0x00004000");
  assert.equal(masqueradeMark(31), "0x80000000");
});

Deno.test("familyActive() serves the node's families and falls back to IPv4 without addresses", () => {
  const dual = tableOf({
    services: [],
    slices: [],
    node: makeNode(TEST_NODE_NAME, (n) => {
      n.status.addresses.push({ type: "InternalIP", address: "2001:db8::1" });
    }),
  }).snapshot();
  assert.deepEqual([familyActive(dual, "IPv4"), familyActive(dual, "IPv6")], [true, true]);
  const bare = tableOf({
    services: [],
    slices: [],
    node: makeNode(TEST_NODE_NAME, (n) => void (n.status.addresses = [])),
  }).snapshot();
  assert.deepEqual([familyActive(bare, "IPv4"), familyActive(bare, "IPv6")], [true, false]);
});
