import assert from "node:assert/strict";
import type { V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import { EndpointTable } from "../../src/model/mod.ts";
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
} from "../fixtures/k8s_builders.ts";
import { randomCluster, tableFrom } from "../robustness/_random_cluster.ts";

/** A table fed with what `table` would write to the state file (same node object). */
function restoredFrom(table: EndpointTable, node = makeNode(TEST_NODE_NAME)): EndpointTable {
  const saved = table.objectsToSave();
  return tableFrom({ node, services: [...saved.services], slices: [...saved.endpointSlices] });
}

function assertSameRules(a: EndpointTable, b: EndpointTable, what: string): void {
  const x = a.snapshot();
  const y = b.snapshot();
  assert.deepEqual(y.v4.servicePorts, x.v4.servicePorts, `${what}: IPv4 service ports differ`);
  assert.deepEqual(y.v6.servicePorts, x.v6.servicePorts, `${what}: IPv6 service ports differ`);
}

Deno.test("objectsToSave(): a table fed the saved objects computes the same service ports (200 random clusters)", () => {
  for (let seed = 1; seed <= 200; seed++) {
    const cluster = randomCluster(seed);
    const table = tableFrom(cluster);
    assertSameRules(table, restoredFrom(table, cluster.node), `seed ${seed}`);
  }
});

Deno.test("objectsToSave(): objects come in namespace/name order with only what the model reads", () => {
  const table = tableFrom({
    node: makeNode(TEST_NODE_NAME),
    services: [
      makeService("ns2", "b", (s) => {
        setClusterIPs(s, "172.30.0.2");
        s.metadata.labels = { app: "b" };
        s.spec.ports = [servicePort("http", 80)];
      }),
      makeService("ns1", "a", (s) => {
        setClusterIPs(s, "172.30.0.1");
        s.spec.ports = [servicePort("", 53, { protocol: "UDP" })];
      }),
    ],
    slices: [
      makeSlice("ns1", "a", 1, (s) => {
        s.ports = [slicePort("", 5353, "UDP")];
        s.endpoints = [makeEndpoint("10.0.1.5", { nodeName: TEST_NODE_NAME, zone: "zone-a" })];
      }),
    ],
  });
  const saved = table.objectsToSave();
  const services = [...saved.services];
  assert.deepEqual(services.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`), [
    "ns1/a",
    "ns2/b",
  ]);
  assert.equal(services[1]?.metadata?.labels, undefined);
  assert.deepEqual([...saved.endpointSlices], [{
    metadata: {
      namespace: "ns1",
      name: "a-1",
      labels: { "kubernetes.io/service-name": "a" },
    },
    addressType: "IPv4",
    ports: [{ protocol: "UDP", port: 5353 }],
    endpoints: [{
      addresses: ["10.0.1.5"],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: TEST_NODE_NAME,
      zone: "zone-a",
    }],
  }]);
});

Deno.test("objectsToSave(): invalid parts are left out and edge cases still round-trip", () => {
  const services: V1Service[] = [
    // eTP Local on a ClusterIP Service whose only external IP is invalid.
    makeService("ns", "etp", (s) => {
      setClusterIPs(s, "172.30.0.3");
      s.spec.externalIPs = ["not-an-ip"];
      s.spec.externalTrafficPolicy = "Local";
      s.spec.ports = [servicePort("p", 80)];
    }),
    // Default affinity timeout, a duplicate port (the last wins) and an invalid one.
    makeService("ns", "affinity", (s) => {
      setClusterIPs(s, "172.30.0.4", "fd00:172:30::4");
      s.spec.sessionAffinity = "ClientIP";
      s.spec.ports = [
        servicePort("p", 80),
        servicePort("p", 81),
        servicePort("q", 70000),
      ];
    }),
  ];
  const slices: V1EndpointSlice[] = [
    // The same port name listed twice, a duplicate address and an invalid one.
    makeSlice("ns", "affinity", 1, (s) => {
      s.ports = [slicePort("p", 8080, "TCP"), slicePort("p", 8081, "TCP")];
      s.endpoints = [
        makeEndpoint("10.0.1.1", { ready: false }),
        makeEndpoint("10.0.1.1"),
        makeEndpoint("10.0.1.2", { nodeName: TEST_NODE_NAME }),
        makeEndpoint("999.0.0.1"),
      ];
    }),
    makeSlice("ns", "etp", 1, (s) => {
      s.ports = [slicePort("p", 8080, "TCP")];
      s.endpoints = [makeEndpoint("10.0.1.3", { nodeName: TEST_NODE_NAME })];
    }),
  ];
  const table = tableFrom({ node: makeNode(TEST_NODE_NAME), services, slices });
  assert.ok(table.snapshot().warnings.length > 0, "the fixture should hold invalid parts");
  const restored = restoredFrom(table);
  assertSameRules(table, restored, "edge cases");
  assert.deepEqual(restored.snapshot().warnings, []);
});

Deno.test("objectsToSave() of an empty table is empty", () => {
  const saved = new EndpointTable(makeTableOptions()).objectsToSave();
  assert.deepEqual([...saved.services], []);
  assert.deepEqual([...saved.endpointSlices], []);
});
