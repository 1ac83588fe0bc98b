import assert from "node:assert/strict";
import type { V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node";
import {
  compareServicePorts,
  EndpointTable,
  type ServicePort,
  type TableOptions,
  type TableSnapshot,
} from "../../src/model/mod.ts";
import {
  makeEndpoint,
  makeNode,
  makeService,
  makeSlice,
  makeTableOptions,
  NODE_POD_CIDR,
  NODE_POD_CIDR_V6,
  OTHER_NODE_NAME,
  POD_CIDR,
  POD_CIDR_V6,
  type ServiceDraft,
  servicePort,
  servingTerminating,
  setClusterIPs,
  setLoadBalancerIngress,
  slicePort,
  TEST_EXTERNAL_IP,
  TEST_LB_IP,
  TEST_NODE_IP,
  TEST_NODE_IPV6,
  TEST_NODE_NAME,
  TEST_ZONE,
} from "../fixtures/k8s_builders.ts";

function syncedTable(
  options: Partial<TableOptions> = {},
  node: V1Node = makeNode(),
): EndpointTable {
  const table = new EndpointTable(makeTableOptions(options));
  table.onNodeAdd(node);
  table.markSynced("services");
  table.markSynced("endpointSlices");
  table.markSynced("node");
  return table;
}

function clusterIPService(
  ns: string,
  name: string,
  ip: string,
  fn?: (s: ServiceDraft) => void,
): V1Service {
  return makeService(ns, name, (s) => {
    setClusterIPs(s, ip);
    s.spec.ports = [servicePort("p80", 80)];
    fn?.(s);
  });
}

function slice80(
  ns: string,
  svc: string,
  num: number,
  ...endpoints: ReturnType<typeof makeEndpoint>[]
): V1EndpointSlice {
  return makeSlice(ns, svc, num, (es) => {
    es.ports = [slicePort("p80", 80)];
    es.endpoints = endpoints;
  });
}

function port(snap: TableSnapshot, id: string, family: "v4" | "v6" = "v4"): ServicePort {
  const sp = snap[family].servicePorts.find((p) => p.id === id);
  assert.ok(sp !== undefined, `no service port ${id} in ${family}`);
  return sp;
}

function ipPorts(list: readonly { ipPort: string }[]): string[] {
  return list.map((e) => e.ipPort);
}

function local(ip: string) {
  return makeEndpoint(ip, { nodeName: TEST_NODE_NAME });
}

function remote(ip: string) {
  return makeEndpoint(ip, { nodeName: OTHER_NODE_NAME });
}

Deno.test("EndpointTable.snapshot() starts empty at revision 0", () => {
  const table = new EndpointTable(makeTableOptions());
  const snap = table.snapshot();
  assert.equal(snap.revision, 0);
  assert.equal(snap.synced, false);
  assert.deepEqual(snap.v4.servicePorts, []);
  assert.deepEqual(snap.v6.servicePorts, []);
  assert.deepEqual(snap.changed, []);
  assert.equal(snap.nodeChanged, false);
  assert.deepEqual(snap.node, { name: TEST_NODE_NAME, known: false, zone: "" });
  assert.deepEqual(snap.v4.localDetector, { kind: "cidr", cidrs: [POD_CIDR] });
  assert.deepEqual(snap.v6.localDetector, { kind: "cidr", cidrs: [POD_CIDR_V6] });
});

Deno.test("EndpointTable.synced is false until Services, EndpointSlices and the Node synced", () => {
  const table = new EndpointTable(makeTableOptions());
  assert.equal(table.synced, false);
  table.markSynced("services");
  table.markSynced("endpointSlices");
  assert.equal(table.synced, false);
  assert.equal(table.snapshot().synced, false);
  table.markSynced("node");
  assert.equal(table.synced, true);
  assert.equal(table.snapshot().synced, true);
});

Deno.test("EndpointTable.snapshot() resolves a Service with its endpoints", () => {
  const table = syncedTable();
  table.onServiceAdd(clusterIPService("ns1", "svc1", "172.30.0.41"));
  table.onEndpointSliceAdd(
    slice80("ns1", "svc1", 1, local("10.180.0.1"), remote("10.180.0.2"), {
      ...remote("10.180.0.3"),
      conditions: { ready: false, serving: false },
    }),
  );
  assert.equal(table.hasPendingChanges(), true);
  const snap = table.snapshot();
  assert.equal(snap.revision, 1); // one snapshot, however many events went into it
  assert.deepEqual(snap.changed, ["ns1/svc1:p80/TCP"]);
  assert.deepEqual(snap.changedServices, ["ns1/svc1"]);
  const sp = port(snap, "ns1/svc1:p80/TCP");
  assert.equal(sp.clusterIP, "172.30.0.41");
  assert.deepEqual(ipPorts(sp.endpoints), ["10.180.0.1:80", "10.180.0.2:80", "10.180.0.3:80"]);
  assert.deepEqual(ipPorts(sp.clusterEndpoints), ["10.180.0.1:80", "10.180.0.2:80"]);
  assert.deepEqual(ipPorts(sp.allReachableEndpoints), ["10.180.0.1:80", "10.180.0.2:80"]);
  assert.deepEqual(sp.localEndpoints, []);
  assert.equal(sp.endpoints[0]?.isLocal, true);
  assert.equal(sp.hasAnyEndpoints, true);
  assert.equal(sp.hasInternalEndpoints, true);
  assert.equal(sp.localReadyEndpointCount, 1);
  assert.deepEqual(snap.v6.servicePorts, []);
  assert.equal(snap.v4.reachableEndpointCount, 2);
  assert.equal(table.hasPendingChanges(), false);
});

Deno.test("EndpointTable.snapshot() counts the revision only when something changed", () => {
  const table = syncedTable();
  const first = table.snapshot();
  const again = table.snapshot();
  assert.equal(again.revision, first.revision);
  assert.deepEqual(again.changed, []);
  assert.equal(again.v4, first.v4);

  // A slice of a Service that does not exist changes nothing this node renders.
  table.onEndpointSliceAdd(slice80("ns1", "nosvc", 1, remote("10.180.0.1")));
  assert.equal(table.hasPendingChanges(), false);
  assert.equal(table.snapshot().revision, first.revision);

  // An FQDN slice is ignored outright.
  table.onServiceAdd(clusterIPService("ns1", "svc1", "172.30.0.41"));
  const withSvc = table.snapshot();
  assert.equal(withSvc.revision, first.revision + 1);
  table.onEndpointSliceAdd(makeSlice("ns1", "svc1", 9, (es) => {
    es.addressType = "FQDN";
    es.ports = [slicePort("p80", 80)];
    es.endpoints = [{ addresses: ["example.com"] }];
  }));
  assert.equal(table.snapshot().revision, withSvc.revision);

  // A remote endpoint changing condition changes the endpoint list: a new revision.
  table.onEndpointSliceAdd(slice80("ns1", "svc1", 1, remote("10.180.0.1")));
  const a = table.snapshot();
  assert.equal(a.revision, withSvc.revision + 1);
  table.onEndpointSliceUpdate(
    slice80("ns1", "svc1", 1, remote("10.180.0.1")),
    slice80("ns1", "svc1", 1, servingTerminating("10.180.0.1", { nodeName: OTHER_NODE_NAME })),
  );
  assert.equal(table.snapshot().revision, a.revision + 1);
});

Deno.test("EndpointTable drops a change that flaps back to the last snapshotted state", () => {
  const table = syncedTable();
  const svc = clusterIPService("ns1", "svc1", "172.30.0.41");
  const slice = slice80("ns1", "svc1", 1, local("10.180.0.1"), remote("10.180.0.2"));
  table.onServiceAdd(svc);
  table.onEndpointSliceAdd(slice);
  const before = table.snapshot();

  const flapped = slice80("ns1", "svc1", 1, local("10.180.0.1"));
  table.onEndpointSliceUpdate(slice, flapped);
  assert.equal(table.hasPendingChanges(), true);
  // The same content under a new resourceVersion is still the original state.
  const back = slice80("ns1", "svc1", 1, local("10.180.0.1"), remote("10.180.0.2"));
  back.metadata = { ...back.metadata, resourceVersion: "42" };
  table.onEndpointSliceUpdate(flapped, back);
  assert.equal(table.hasPendingChanges(), false);

  const svcChanged = clusterIPService("ns1", "svc1", "172.30.0.41", (s) => {
    s.spec.ports = [servicePort("p80", 8080)];
  });
  table.onServiceUpdate(svc, svcChanged);
  table.onServiceUpdate(svcChanged, svc);
  table.onServiceDelete(svc);
  table.onServiceAdd(svc);

  const after = table.snapshot();
  assert.equal(after.revision, before.revision);
  assert.deepEqual(after.changed, []);
  assert.equal(after.v4, before.v4);
  assert.equal(port(after, "ns1/svc1:p80/TCP"), port(before, "ns1/svc1:p80/TCP"));
});

Deno.test("EndpointTable.snapshot() reuses unchanged ServicePort objects and lists changes", () => {
  const table = syncedTable();
  for (let i = 1; i <= 3; i++) {
    table.onServiceAdd(clusterIPService(`ns${i}`, `svc${i}`, `172.30.0.${40 + i}`));
    table.onEndpointSliceAdd(slice80(`ns${i}`, `svc${i}`, 1, remote(`10.180.0.${i}`)));
  }
  const s1 = table.snapshot();
  table.onEndpointSliceUpdate(
    slice80("ns2", "svc2", 1, remote("10.180.0.2")),
    slice80("ns2", "svc2", 1, remote("10.180.0.2"), remote("10.180.0.22")),
  );
  const s2 = table.snapshot();
  assert.equal(s2.revision, s1.revision + 1);
  assert.deepEqual(s2.changed, ["ns2/svc2:p80/TCP"]);
  assert.equal(port(s2, "ns1/svc1:p80/TCP"), port(s1, "ns1/svc1:p80/TCP"));
  assert.equal(port(s2, "ns3/svc3:p80/TCP"), port(s1, "ns3/svc3:p80/TCP"));
  assert.notEqual(port(s2, "ns2/svc2:p80/TCP"), port(s1, "ns2/svc2:p80/TCP"));
  // String order: ":" sorts after "2".
  assert.deepEqual(ipPorts(port(s2, "ns2/svc2:p80/TCP").endpoints), [
    "10.180.0.22:80",
    "10.180.0.2:80",
  ]);
  // The previous snapshot is untouched.
  assert.deepEqual(ipPorts(port(s1, "ns2/svc2:p80/TCP").endpoints), ["10.180.0.2:80"]);
});

Deno.test("EndpointTable.snapshot() freezes everything it hands out", () => {
  const table = syncedTable();
  table.onServiceAdd(clusterIPService("ns1", "svc1", "172.30.0.41", (s) => {
    s.spec.type = "LoadBalancer";
    s.spec.externalIPs = [TEST_EXTERNAL_IP];
    s.spec.loadBalancerSourceRanges = ["203.0.113.0/25"];
    s.spec.sessionAffinity = "ClientIP";
    s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
    setLoadBalancerIngress(s, TEST_LB_IP);
  }));
  table.onEndpointSliceAdd(
    slice80("ns1", "svc1", 1, makeEndpoint("10.180.0.1", { zoneHints: [TEST_ZONE] })),
  );
  const snap = table.snapshot();
  const sp = port(snap, "ns1/svc1:p80/TCP");
  const ep = sp.endpoints[0];
  assert.ok(ep !== undefined);
  for (
    const o of [
      snap,
      snap.v4,
      snap.v4.servicePorts,
      snap.v4.nodeIPs,
      snap.v4.localDetector,
      snap.node,
      snap.changed,
      snap.warnings,
      sp,
      sp.externalIPs,
      sp.loadBalancerVIPs,
      sp.loadBalancerSourceRanges,
      sp.sessionAffinity,
      sp.endpoints,
      sp.clusterEndpoints,
      sp.localEndpoints,
      sp.allReachableEndpoints,
      ep,
      ep.zoneHints,
      ep.nodeHints,
    ]
  ) {
    assert.ok(Object.isFrozen(o), JSON.stringify(o));
  }
  assert.throws(() => {
    (snap.v4.servicePorts as ServicePort[]).push(sp);
  });
});

Deno.test("EndpointTable.snapshot() sorts service ports by key, then protocol", () => {
  const table = syncedTable();
  table.onServiceAdd(makeService("ns1", "svc-b", (s) => {
    setClusterIPs(s, "172.30.0.42");
    s.spec.ports = [servicePort("dns", 53, { protocol: "UDP" }), servicePort("dns", 53)];
  }));
  table.onServiceAdd(makeService("ns1", "svc", (s) => {
    setClusterIPs(s, "172.30.0.43");
    s.spec.ports = [servicePort("z", 1), servicePort("", 2)];
  }));
  table.onServiceAdd(clusterIPService("ns0", "svc", "172.30.0.44"));
  const ids = table.snapshot().v4.servicePorts.map((p) => p.id);
  assert.deepEqual(ids, [
    "ns0/svc:p80/TCP",
    "ns1/svc/TCP",
    "ns1/svc-b:dns/TCP",
    "ns1/svc-b:dns/UDP",
    "ns1/svc:z/TCP",
  ]);
});

Deno.test("EndpointTable keeps the sorted list right under incremental and bulk changes", () => {
  // A seeded generator keeps the test deterministic.
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const table = syncedTable();
  const live = new Map<number, V1Service>();
  const makeSvc = (i: number, variant: number) =>
    makeService(`ns${i % 7}`, `svc${i}`, (s) => {
      setClusterIPs(s, `172.30.${i >> 8}.${i & 255}`);
      s.spec.ports = variant % 2 === 0
        ? [servicePort("p80", 80)]
        : [servicePort("p80", 80), servicePort("", 53, { protocol: "UDP" })];
    });
  for (let round = 0; round < 30; round++) {
    // Alternate small rounds (spliced) with big ones (re-sorted).
    const ops = round % 5 === 0 ? 400 : 1 + rand(10);
    for (let k = 0; k < ops; k++) {
      const i = rand(600);
      if (live.has(i) && rand(3) === 0) {
        table.onServiceDelete(live.get(i)!);
        live.delete(i);
      } else {
        const svc = makeSvc(i, rand(2));
        if (live.has(i)) table.onServiceUpdate(live.get(i)!, svc);
        else table.onServiceAdd(svc);
        live.set(i, svc);
      }
    }
    const got = table.snapshot().v4.servicePorts;
    const fresh = syncedTable();
    for (const svc of live.values()) fresh.onServiceAdd(svc);
    const want = fresh.snapshot().v4.servicePorts;
    assert.deepEqual(got.map((p) => p.id), want.map((p) => p.id), `round ${round}`);
    assert.deepEqual(got, want, `round ${round}`);
    for (let j = 1; j < got.length; j++) {
      assert.ok(compareServicePorts(got[j - 1]!, got[j]!) < 0);
    }
  }
});

Deno.test("EndpointTable merges endpoints across slices and survives moves between slices", () => {
  const table = syncedTable();
  table.onServiceAdd(clusterIPService("ns1", "svc1", "172.30.0.41"));
  const a1 = slice80("ns1", "svc1", 1, remote("10.180.0.1"), remote("10.180.0.2"));
  const b1 = slice80("ns1", "svc1", 2, remote("10.180.0.3"));
  table.onEndpointSliceAdd(a1);
  table.onEndpointSliceAdd(b1);
  const s1 = table.snapshot();
  assert.deepEqual(ipPorts(port(s1, "ns1/svc1:p80/TCP").endpoints), [
    "10.180.0.1:80",
    "10.180.0.2:80",
    "10.180.0.3:80",
  ]);
  // 10.180.0.2 moves from slice 1 to slice 2; the add arrives before the removal.
  const b2 = slice80("ns1", "svc1", 2, remote("10.180.0.3"), remote("10.180.0.2"));
  const a2 = slice80("ns1", "svc1", 1, remote("10.180.0.1"));
  table.onEndpointSliceUpdate(b1, b2);
  table.onEndpointSliceUpdate(a1, a2);
  assert.equal(table.hasPendingChanges(), false);
  table.onEndpointSliceDelete(a2);
  const s2 = table.snapshot();
  assert.deepEqual(ipPorts(port(s2, "ns1/svc1:p80/TCP").endpoints), [
    "10.180.0.2:80",
    "10.180.0.3:80",
  ]);
});

Deno.test("EndpointTable follows a slice whose service-name label changes", () => {
  const table = syncedTable();
  table.onServiceAdd(clusterIPService("ns1", "svc1", "172.30.0.41"));
  table.onServiceAdd(clusterIPService("ns1", "svc2", "172.30.0.42"));
  const before = slice80("ns1", "svc1", 1, remote("10.180.0.1"));
  table.onEndpointSliceAdd(before);
  table.snapshot();
  const after = slice80("ns1", "svc1", 1, remote("10.180.0.1"));
  after.metadata!.labels = { "kubernetes.io/service-name": "svc2" };
  table.onEndpointSliceUpdate(before, after);
  const snap = table.snapshot();
  assert.deepEqual(snap.changed, ["ns1/svc1:p80/TCP", "ns1/svc2:p80/TCP"]);
  assert.deepEqual(port(snap, "ns1/svc1:p80/TCP").endpoints, []);
  assert.deepEqual(ipPorts(port(snap, "ns1/svc2:p80/TCP").endpoints), ["10.180.0.1:80"]);
});

Deno.test("EndpointTable attaches slices that arrive before their Service and outlive it", () => {
  const table = syncedTable();
  const svc = clusterIPService("ns1", "svc1", "172.30.0.41");
  table.onEndpointSliceAdd(slice80("ns1", "svc1", 1, remote("10.180.0.1")));
  table.onServiceAdd(svc);
  assert.deepEqual(ipPorts(port(table.snapshot(), "ns1/svc1:p80/TCP").endpoints), [
    "10.180.0.1:80",
  ]);
  table.onServiceDelete(svc);
  const gone = table.snapshot();
  assert.deepEqual(gone.v4.servicePorts, []);
  assert.deepEqual(gone.changed, ["ns1/svc1:p80/TCP"]);
  table.onServiceAdd(svc);
  assert.deepEqual(ipPorts(port(table.snapshot(), "ns1/svc1:p80/TCP").endpoints), [
    "10.180.0.1:80",
  ]);
});

Deno.test("EndpointTable.snapshot() splits a dual-stack Service by family", () => {
  const table = syncedTable(
    {},
    makeNode(TEST_NODE_NAME, (n) => {
      n.status.addresses.push({ type: "InternalIP", address: TEST_NODE_IPV6 });
      n.spec.podCIDRs = [NODE_POD_CIDR, NODE_POD_CIDR_V6];
    }),
  );
  table.onServiceAdd(makeService("ns1", "svc1", (s) => {
    setClusterIPs(s, "fd00:172:30::41", "172.30.0.41");
    s.spec.type = "NodePort";
    s.spec.externalIPs = [TEST_EXTERNAL_IP, "fd00:192:168:99::11"];
    s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
  }));
  table.onEndpointSliceAdd(slice80("ns1", "svc1", 1, local("10.0.1.5")));
  table.onEndpointSliceAdd(makeSlice("ns1", "svc1", 2, (es) => {
    es.addressType = "IPv6";
    es.ports = [slicePort("p80", 80)];
    es.endpoints = [local("fd00:10::105"), remote("fd00:10::0205")];
  }));
  const snap = table.snapshot();
  const v4 = port(snap, "ns1/svc1:p80/TCP", "v4");
  const v6 = port(snap, "ns1/svc1:p80/TCP", "v6");
  assert.equal(v4.clusterIP, "172.30.0.41");
  assert.deepEqual(v4.externalIPs, [TEST_EXTERNAL_IP]);
  assert.deepEqual(ipPorts(v4.endpoints), ["10.0.1.5:80"]);
  assert.equal(v6.clusterIP, "fd00:172:30::41");
  assert.deepEqual(v6.externalIPs, ["fd00:192:168:99::11"]);
  assert.deepEqual(ipPorts(v6.endpoints), ["[fd00:10::105]:80", "[fd00:10::205]:80"]);
  assert.equal(v6.endpoints[0]?.ip, "fd00:10::105");
  assert.deepEqual(snap.v4.nodeIPs, [TEST_NODE_IP]);
  assert.deepEqual(snap.v6.nodeIPs, [TEST_NODE_IPV6]);
  assert.deepEqual(snap.v4.podCIDRs, [NODE_POD_CIDR]);
  assert.deepEqual(snap.v6.podCIDRs, [NODE_POD_CIDR_V6]);
  assert.deepEqual(snap.changed, ["ns1/svc1:p80/TCP"]);
});

Deno.test("EndpointTable.snapshot() falls back to serving terminating endpoints when none are ready", () => {
  const cases: {
    name: string;
    fn: (s: ServiceDraft) => void;
    endpoints: ReturnType<typeof makeEndpoint>[];
    cluster: string[];
    local: string[];
    internal: boolean;
    external: boolean;
  }[] = [
    {
      name: "Cluster policy",
      fn: () => {},
      endpoints: [
        servingTerminating("10.180.0.1", { nodeName: OTHER_NODE_NAME }),
        makeEndpoint("10.180.0.2", { ready: false, serving: false, terminating: true }),
      ],
      cluster: ["10.180.0.1:80"],
      local: [],
      internal: true,
      external: false,
    },
    {
      name: "iTP Local",
      fn: (s) => (s.spec.internalTrafficPolicy = "Local"),
      endpoints: [
        servingTerminating("10.180.0.1", { nodeName: TEST_NODE_NAME }),
        remote("10.180.0.2"),
      ],
      cluster: [],
      local: ["10.180.0.1:80"],
      internal: true,
      external: false,
    },
    {
      name: "eTP Local",
      fn: (s) => {
        s.spec.type = "NodePort";
        s.spec.externalTrafficPolicy = "Local";
        s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
      },
      endpoints: [
        servingTerminating("10.180.0.1", { nodeName: TEST_NODE_NAME }),
        servingTerminating("10.180.0.2", { nodeName: OTHER_NODE_NAME }),
      ],
      cluster: ["10.180.0.1:80", "10.180.0.2:80"],
      local: ["10.180.0.1:80"],
      internal: true,
      external: true,
    },
    {
      name: "eTP Local, local endpoints gone, remote ones terminating",
      fn: (s) => {
        s.spec.type = "NodePort";
        s.spec.externalTrafficPolicy = "Local";
        s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
      },
      endpoints: [servingTerminating("10.180.0.2", { nodeName: OTHER_NODE_NAME })],
      cluster: ["10.180.0.2:80"],
      local: [],
      internal: true,
      external: false,
    },
  ];
  for (const c of cases) {
    const table = syncedTable();
    table.onServiceAdd(clusterIPService("ns1", "svc1", "172.30.0.41", c.fn));
    table.onEndpointSliceAdd(slice80("ns1", "svc1", 1, ...c.endpoints));
    const sp = port(table.snapshot(), "ns1/svc1:p80/TCP");
    assert.deepEqual(ipPorts(sp.clusterEndpoints), c.cluster, `${c.name}: cluster`);
    assert.deepEqual(ipPorts(sp.localEndpoints), c.local, `${c.name}: local`);
    assert.equal(sp.hasInternalEndpoints, c.internal, `${c.name}: internal`);
    if (sp.externallyAccessible) {
      assert.equal(sp.hasExternalEndpoints, c.external, `${c.name}: external`);
    }
    assert.equal(sp.hasAnyEndpoints, true, c.name);
  }
});

Deno.test("EndpointTable.snapshot() uses topology hints only when the node's zone matches", () => {
  const zonedNode = (zone: string | undefined) =>
    makeNode(TEST_NODE_NAME, (n) => {
      if (zone !== undefined) n.metadata.labels["topology.kubernetes.io/zone"] = zone;
    });
  const table = syncedTable({}, zonedNode(undefined));
  table.onServiceAdd(clusterIPService("ns1", "svc1", "172.30.0.41", (s) => {
    s.metadata.annotations = { "service.kubernetes.io/topology-mode": "Auto" };
  }));
  table.onServiceAdd(clusterIPService("ns1", "nohints", "172.30.0.42"));
  table.onEndpointSliceAdd(slice80(
    "ns1",
    "svc1",
    1,
    makeEndpoint("10.180.0.1", { zone: "zone-a", zoneHints: ["zone-a"] }),
    makeEndpoint("10.180.0.2", { zone: "zone-b", zoneHints: ["zone-b"] }),
  ));
  table.onEndpointSliceAdd(slice80("ns1", "nohints", 1, remote("10.180.0.3")));

  // Hints off: the node has no zone label.
  const off = table.snapshot();
  let sp = port(off, "ns1/svc1:p80/TCP");
  assert.equal(sp.topologyMode, "");
  assert.deepEqual(ipPorts(sp.clusterEndpoints), ["10.180.0.1:80", "10.180.0.2:80"]);

  // Hints on: the zone label appears; only the hinted Service changes.
  table.onNodeUpdate(zonedNode(undefined), zonedNode("zone-a"));
  const on = table.snapshot();
  sp = port(on, "ns1/svc1:p80/TCP");
  assert.equal(sp.topologyMode, "PreferSameZone");
  assert.deepEqual(ipPorts(sp.clusterEndpoints), ["10.180.0.1:80"]);
  assert.deepEqual(on.changed, ["ns1/svc1:p80/TCP"]);
  assert.equal(on.nodeChanged, true);
  assert.equal(on.node.zone, "zone-a");
  assert.equal(port(on, "ns1/nohints:p80/TCP"), port(off, "ns1/nohints:p80/TCP"));

  // A zone no endpoint is hinted for: hints off again.
  table.onNodeUpdate(zonedNode("zone-a"), zonedNode("zone-z"));
  sp = port(table.snapshot(), "ns1/svc1:p80/TCP");
  assert.equal(sp.topologyMode, "");
  assert.equal(sp.clusterEndpoints.length, 2);
});

Deno.test("EndpointTable.snapshot() ignores hints unless every ready endpoint has them", () => {
  const table = syncedTable(
    {},
    makeNode(TEST_NODE_NAME, (n) => {
      n.metadata.labels["topology.kubernetes.io/zone"] = "zone-a";
    }),
  );
  table.onServiceAdd(clusterIPService("ns1", "svc1", "172.30.0.41", (s) => {
    s.spec.trafficDistribution = "PreferClose";
  }));
  table.onEndpointSliceAdd(slice80(
    "ns1",
    "svc1",
    1,
    makeEndpoint("10.180.0.1", { zoneHints: ["zone-a"] }),
    makeEndpoint("10.180.0.2"),
  ));
  const sp = port(table.snapshot(), "ns1/svc1:p80/TCP");
  assert.equal(sp.topologyMode, "");
  assert.deepEqual(ipPorts(sp.clusterEndpoints), ["10.180.0.1:80", "10.180.0.2:80"]);
});

Deno.test("EndpointTable.snapshot() honours PreferSameNode hints behind the feature gate", () => {
  for (const gate of [true, false]) {
    const table = syncedTable({ featureGates: { PreferSameTrafficDistribution: gate } });
    table.onServiceAdd(clusterIPService("ns1", "svc1", "172.30.0.41", (s) => {
      s.spec.trafficDistribution = "PreferSameNode";
    }));
    table.onEndpointSliceAdd(slice80(
      "ns1",
      "svc1",
      1,
      makeEndpoint("10.180.0.1", { nodeName: TEST_NODE_NAME, nodeHints: [TEST_NODE_NAME] }),
      makeEndpoint("10.180.0.2", { nodeName: OTHER_NODE_NAME, nodeHints: [OTHER_NODE_NAME] }),
    ));
    const sp = port(table.snapshot(), "ns1/svc1:p80/TCP");
    assert.equal(sp.topologyMode, gate ? "PreferSameNode" : "", `gate ${gate}`);
    assert.deepEqual(
      ipPorts(sp.clusterEndpoints),
      gate ? ["10.180.0.1:80"] : ["10.180.0.1:80", "10.180.0.2:80"],
      `gate ${gate}`,
    );
  }
});

Deno.test("EndpointTable ignores Node updates that change nothing it renders", () => {
  const node = makeNode();
  const table = syncedTable({}, node);
  const before = table.snapshot();
  const heartbeat = makeNode(TEST_NODE_NAME, (n) => {
    n.metadata.resourceVersion = "999";
    n.metadata.labels["example.com/other"] = "x";
    n.status.conditions = [{ type: "Ready", status: "True" }];
  });
  table.onNodeUpdate(node, heartbeat);
  assert.equal(table.hasPendingChanges(), false);
  assert.equal(table.snapshot().revision, before.revision);
  // Events for other nodes are not ours.
  table.onNodeAdd(makeNode(OTHER_NODE_NAME, (n) => {
    n.metadata.labels["topology.kubernetes.io/zone"] = "zone-q";
  }));
  table.onNodeDelete(makeNode(OTHER_NODE_NAME));
  assert.equal(table.snapshot().revision, before.revision);
});

Deno.test("EndpointTable reports node IPs, pod CIDRs and NodeCIDR detectors from the Node", () => {
  const table = new EndpointTable(makeTableOptions({ detectLocalMode: "NodeCIDR" }));
  const empty = table.snapshot();
  assert.deepEqual(empty.v4.localDetector, { kind: "none" });
  const node = makeNode(TEST_NODE_NAME, (n) => {
    n.spec.podCIDRs = [NODE_POD_CIDR];
  });
  table.onNodeAdd(node);
  const s1 = table.snapshot();
  assert.equal(s1.revision, 1);
  assert.equal(s1.nodeChanged, true);
  assert.deepEqual(s1.node, { name: TEST_NODE_NAME, known: true, zone: "" });
  assert.deepEqual(s1.v4.localDetector, { kind: "cidr", cidrs: [NODE_POD_CIDR] });
  assert.deepEqual(s1.v6.localDetector, { kind: "none" });
  assert.deepEqual(s1.v4.nodeIPs, [TEST_NODE_IP]);
  assert.equal(table.snapshot().nodeChanged, false);

  table.onNodeDelete(node);
  const s2 = table.snapshot();
  assert.equal(s2.revision, 2);
  assert.equal(s2.node.known, false);
  assert.deepEqual(s2.v4.localDetector, { kind: "none" });
  assert.deepEqual(s2.v4.nodeIPs, []);
});

Deno.test("EndpointTable skips headless, ExternalName and foreign-proxy Services and their slices", () => {
  const table = syncedTable();
  table.onServiceAdd(makeService("ns1", "headless", (s) => {
    s.spec.clusterIP = "None";
    s.spec.clusterIPs = ["None"];
    s.spec.ports = [servicePort("p80", 80)];
  }));
  table.onEndpointSliceAdd(makeSlice("ns1", "headless", 1, (es) => {
    es.metadata.labels["service.kubernetes.io/headless"] = "";
    es.ports = [slicePort("p80", 80)];
    es.endpoints = [makeEndpoint("10.180.0.1")];
  }));
  table.onServiceAdd(makeService("ns1", "external", (s) => {
    s.spec.type = "ExternalName";
    s.spec.externalName = "example.com";
  }));
  const foreign = clusterIPService("ns1", "foreign", "172.30.0.43", (s) => {
    s.metadata.labels = { "service.kubernetes.io/service-proxy-name": "other-proxy" };
  });
  table.onServiceAdd(foreign);
  const snap = table.snapshot();
  assert.deepEqual(snap.v4.servicePorts, []);
  assert.deepEqual(snap.warnings, []);
  // Dropping the label hands the Service to us.
  table.onServiceUpdate(foreign, clusterIPService("ns1", "foreign", "172.30.0.43"));
  assert.deepEqual(table.snapshot().changed, ["ns1/foreign:p80/TCP"]);
});

Deno.test("EndpointTable.snapshot() exposes health-check ports and local ready counts", () => {
  const table = syncedTable();
  table.onServiceAdd(clusterIPService("ns1", "svc1", "172.30.0.41", (s) => {
    s.spec.type = "LoadBalancer";
    s.spec.externalTrafficPolicy = "Local";
    s.spec.healthCheckNodePort = 30000;
    s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
    setLoadBalancerIngress(s, TEST_LB_IP);
  }));
  table.onEndpointSliceAdd(slice80(
    "ns1",
    "svc1",
    1,
    local("10.180.0.1"),
    servingTerminating("10.180.0.2", { nodeName: TEST_NODE_NAME }),
    remote("10.180.0.3"),
  ));
  const sp = port(table.snapshot(), "ns1/svc1:p80/TCP");
  assert.equal(sp.healthCheckNodePort, 30000);
  assert.equal(sp.localReadyEndpointCount, 1);
  assert.deepEqual(sp.loadBalancerVIPs, [TEST_LB_IP]);
  assert.deepEqual(ipPorts(sp.localEndpoints), ["10.180.0.1:80"]);
  assert.deepEqual(ipPorts(sp.clusterEndpoints), ["10.180.0.1:80", "10.180.0.3:80"]);
});

Deno.test("EndpointTable records warnings for bad objects without affecting others", () => {
  const table = syncedTable();
  const bad = makeService("ns1", "bad", (s) => {
    setClusterIPs(s, "172.30.0.41");
    s.spec.ports = [servicePort("ok", 80), servicePort("nope", 81, { protocol: "ICMP" })];
  });
  table.onServiceAdd(bad);
  table.onServiceAdd(clusterIPService("ns1", "good", "172.30.0.42"));
  table.onEndpointSliceAdd(
    slice80("ns1", "good", 1, makeEndpoint("not-an-ip"), remote("10.180.0.1")),
  );
  const s1 = table.snapshot();
  assert.deepEqual(s1.v4.servicePorts.map((p) => p.id), ["ns1/bad:ok/TCP", "ns1/good:p80/TCP"]);
  assert.deepEqual(ipPorts(port(s1, "ns1/good:p80/TCP").endpoints), ["10.180.0.1:80"]);
  const expected = [
    {
      kind: "EndpointSlice",
      namespace: "ns1",
      name: "good-1",
      message: 'Skipping endpoint with invalid address "not-an-ip"',
    },
    {
      kind: "Service",
      namespace: "ns1",
      name: "bad",
      message: 'Skipping port "nope": unknown protocol "ICMP"',
    },
  ];
  assert.deepEqual(s1.warnings, expected);
  assert.deepEqual(s1.newWarnings, expected);

  // The same problem again is not new; it is still current.
  table.onServiceUpdate(bad, bad);
  const s2 = table.snapshot();
  assert.deepEqual(s2.warnings, expected);
  assert.deepEqual(s2.newWarnings, []);

  // Fixing the object clears its warnings.
  table.onServiceUpdate(
    bad,
    makeService("ns1", "bad", (s) => {
      setClusterIPs(s, "172.30.0.41");
      s.spec.ports = [servicePort("ok", 80)];
    }),
  );
  assert.deepEqual(table.snapshot().warnings, [expected[0]]);
});

Deno.test("EndpointTable never throws on malformed objects", () => {
  const table = syncedTable();
  const junk = [{}, { metadata: {} }, { spec: {} }, { metadata: { name: "x" } }] as V1Service[];
  for (const o of junk) {
    table.onServiceAdd(o);
    table.onServiceUpdate(o, o);
    table.onServiceDelete(o);
    table.onEndpointSliceAdd(o as unknown as V1EndpointSlice);
    table.onEndpointSliceDelete(o as unknown as V1EndpointSlice);
    table.onNodeAdd(o as V1Node);
  }
  table.onNodeAdd({ metadata: { name: TEST_NODE_NAME } });
  table.onEndpointSliceAdd({
    addressType: "IPv4",
    metadata: { name: "s", namespace: "ns1", labels: { "kubernetes.io/service-name": "svc" } },
    endpoints: [{ addresses: [] }, {} as never],
    ports: [{}],
  });
  assert.doesNotThrow(() => table.snapshot());

  // Structurally broken objects become warnings, not exceptions.
  const broken = makeSlice("ns1", "svc", 2, (es) => {
    es.endpoints = [null as never];
    es.ports = [slicePort("p80", 80)];
  });
  table.onEndpointSliceAdd(broken);
  table.onServiceAdd(makeService("ns1", "svc", (s) => {
    setClusterIPs(s, "172.30.0.41");
    s.spec.ports = [null as never];
  }));
  table.onNodeUpdate(
    makeNode(),
    makeNode(TEST_NODE_NAME, (n) => {
      n.status.addresses = [null as never];
    }),
  );
  const snap = table.snapshot();
  assert.deepEqual(
    snap.warnings.filter((w) => w.message.startsWith("Ignoring malformed object")).map((w) =>
      `${w.kind} ${w.namespace}/${w.name}`
    ),
    ["EndpointSlice ns1/svc-2", "Node /test-node", "Service ns1/svc"],
  );
});

Deno.test("EndpointTable drops a Service's ports when it turns ExternalName or headless", () => {
  const table = syncedTable();
  const svc = clusterIPService("ns1", "svc1", "172.30.0.41", (s) => {
    s.spec.sessionAffinity = "ClientIP";
    s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 60 } };
  });
  table.onServiceAdd(svc);
  const s1 = table.snapshot();
  assert.deepEqual(port(s1, "ns1/svc1:p80/TCP").sessionAffinity, { timeoutSeconds: 60 });

  const externalName = makeService("ns1", "svc1", (s) => {
    s.spec.type = "ExternalName";
    s.spec.externalName = "example.com";
    s.spec.ports = [servicePort("p80", 80)];
  });
  table.onServiceUpdate(svc, externalName);
  const s2 = table.snapshot();
  assert.deepEqual(s2.v4.servicePorts, []);
  assert.deepEqual(s2.changed, ["ns1/svc1:p80/TCP"]);
  assert.equal(s2.revision, s1.revision + 1);

  table.onServiceUpdate(externalName, svc);
  assert.equal(table.snapshot().v4.servicePorts.length, 1);
  const headless = makeService("ns1", "svc1", (s) => {
    s.spec.clusterIP = "None";
    s.spec.ports = [servicePort("p80", 80)];
  });
  table.onServiceUpdate(svc, headless);
  assert.deepEqual(table.snapshot().v4.servicePorts, []);
});

Deno.test("EndpointTable.snapshot() lists removed and added ports of an updated Service", () => {
  const table = syncedTable();
  const before = clusterIPService("ns1", "svc1", "172.30.0.41");
  table.onServiceAdd(before);
  table.snapshot();
  table.onServiceUpdate(
    before,
    clusterIPService("ns1", "svc1", "172.30.0.41", (s) => {
      s.spec.ports = [servicePort("p443", 443), servicePort("p80", 80, { protocol: "UDP" })];
    }),
  );
  const snap = table.snapshot();
  assert.deepEqual(snap.changed, ["ns1/svc1:p443/TCP", "ns1/svc1:p80/TCP", "ns1/svc1:p80/UDP"]);
  assert.deepEqual(snap.v4.servicePorts.map((p) => p.id), [
    "ns1/svc1:p443/TCP",
    "ns1/svc1:p80/UDP",
  ]);
});

Deno.test("EndpointTable.snapshot() keeps an unchanged family's ProxySnapshot object", () => {
  const table = syncedTable();
  table.onServiceAdd(makeService("ns1", "svc1", (s) => {
    setClusterIPs(s, "172.30.0.41", "fd00:172:30::41");
    s.spec.ports = [servicePort("p80", 80)];
  }));
  table.onEndpointSliceAdd(slice80("ns1", "svc1", 1, remote("10.180.0.1")));
  const v6slice = (...ips: string[]) =>
    makeSlice("ns1", "svc1", 2, (es) => {
      es.addressType = "IPv6";
      es.ports = [slicePort("p80", 80)];
      es.endpoints = ips.map(remote);
    });
  table.onEndpointSliceAdd(v6slice("fd00:10::1"));
  const s1 = table.snapshot();
  table.onEndpointSliceUpdate(v6slice("fd00:10::1"), v6slice("fd00:10::1", "fd00:10::2"));
  const s2 = table.snapshot();
  assert.equal(s2.revision, s1.revision + 1);
  assert.deepEqual(s2.changed, ["ns1/svc1:p80/TCP"]);
  assert.equal(s2.v4, s1.v4);
  assert.notEqual(s2.v6, s1.v6);
  assert.equal(s2.v6.servicePorts[0]?.endpoints.length, 2);
});
