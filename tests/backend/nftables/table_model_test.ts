import assert from "node:assert/strict";
import type { V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import {
  deleteChainsTransaction,
  diffTransaction,
} from "../../../src/backend/nftables/incremental.ts";
import { replaceTransaction } from "../../../src/backend/nftables/render.ts";
import { TableModel } from "../../../src/backend/nftables/table_model.ts";
import type { EndpointTable, ProxySnapshot } from "../../../src/model/mod.ts";
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
import { Rng } from "../../fixtures/rng.ts";
import { applyTransaction, normalise, type SimKernel } from "./simulate.ts";

interface SvcState {
  kind: "ClusterIP" | "NodePort" | "LoadBalancer";
  local: boolean;
  itpLocal: boolean;
  affinity: boolean;
  nodePort: number;
  endpoints: { ip: string; local: boolean; ready: boolean }[];
}

function serviceOf(i: number, st: SvcState): V1Service {
  return makeService("ns", `svc${i}`, (s) => {
    s.spec.type = st.kind;
    setClusterIPs(s, `172.30.0.${10 + i}`);
    s.spec.ports = [
      servicePort("p80", 80, st.kind === "ClusterIP" ? {} : { nodePort: st.nodePort }),
      servicePort("dns", 53, { protocol: "UDP" }),
    ];
    if (st.kind === "LoadBalancer") {
      setLoadBalancerIngress(s, `1.2.3.${i}`);
      s.spec.loadBalancerSourceRanges = ["203.0.113.0/25", "192.168.0.0/24"];
    }
    if (st.kind !== "ClusterIP") s.spec.externalTrafficPolicy = st.local ? "Local" : "Cluster";
    if (i % 3 === 0) s.spec.externalIPs = ["192.168.99.11"]; // shared on purpose
    if (st.itpLocal) s.spec.internalTrafficPolicy = "Local";
    if (st.affinity) {
      s.spec.sessionAffinity = "ClientIP";
      s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 60 + i } };
    }
  });
}

function sliceOf(i: number, st: SvcState): V1EndpointSlice {
  return makeSlice("ns", `svc${i}`, 1, (es) => {
    es.ports = [slicePort("p80", 8080), slicePort("dns", 53, "UDP")];
    es.endpoints = st.endpoints.map((e) =>
      makeEndpoint(e.ip, { nodeName: e.local ? TEST_NODE_NAME : OTHER_NODE_NAME, ready: e.ready })
    );
  });
}

/** Checks that `model` and the simulated kernel both equal a fresh render of `snapshot`. */
function assertMatchesFresh(kernel: SimKernel, model: TableModel, snapshot: ProxySnapshot) {
  const fresh = TableModel.build(snapshot, DEFAULT_OPTIONS);
  const freshKernel: SimKernel = new Map();
  applyTransaction(freshKernel, replaceTransaction(fresh.toRuleset()));
  assert.deepEqual(normalise(kernel), normalise(freshKernel));
  const mine: SimKernel = new Map();
  applyTransaction(mine, replaceTransaction(model.toRuleset()));
  assert.deepEqual(normalise(mine), normalise(freshKernel));
}

Deno.test("TableModel.advance() keeps the kernel equal to a fresh render through 300 random changes", () => {
  const rng = new Rng(20240611);
  const random = () => rng.next();
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)] as T;
  const states = new Map<number, SvcState>();
  const table: EndpointTable = tableOf({ services: [], slices: [] });
  let model = TableModel.build(table.snapshot().v4, DEFAULT_OPTIONS);
  const kernel: SimKernel = new Map();
  applyTransaction(kernel, replaceTransaction(model.toRuleset()));
  let nextIP = 1;
  let nodeIP = 2;
  const seen = { rebuilds: 0, staleChains: 0, bigMaps: 0, affinityChains: 0, moves: 0 };

  for (let step = 0; step < 300; step++) {
    const i = 1 + Math.floor(random() * 8);
    const st = states.get(i);
    const op = random();
    if (st === undefined) {
      const fresh: SvcState = {
        kind: pick(["ClusterIP", "NodePort", "LoadBalancer"] as const),
        local: random() < 0.4,
        itpLocal: random() < 0.2,
        affinity: random() < 0.3,
        nodePort: 30000 + Math.floor(random() * 3), // collisions on purpose
        endpoints: [],
      };
      states.set(i, fresh);
      table.onServiceAdd(serviceOf(i, fresh));
      table.onEndpointSliceAdd(sliceOf(i, fresh));
    } else if (op < 0.1) {
      states.delete(i);
      table.onServiceDelete(serviceOf(i, st));
      table.onEndpointSliceDelete(sliceOf(i, st));
    } else if (op < 0.25) {
      const before = serviceOf(i, st);
      const what = random();
      if (what < 0.4) st.local = !st.local;
      else if (what < 0.7) st.affinity = !st.affinity;
      else st.kind = pick(["ClusterIP", "NodePort", "LoadBalancer"] as const);
      table.onServiceUpdate(before, serviceOf(i, st));
    } else if (op < 0.3) {
      // A node address change rebuilds the model.
      nodeIP = nodeIP === 2 ? 3 : 2;
      table.onNodeUpdate(
        makeNode(),
        makeNode(TEST_NODE_NAME, (n) => {
          n.status.addresses = [{ type: "InternalIP", address: `192.168.0.${nodeIP}` }];
        }),
      );
    } else {
      const before = sliceOf(i, st);
      const r = random();
      if (r < 0.45 || st.endpoints.length === 0) {
        const count = random() < 0.1 ? 18 : 1; // sometimes more than the preset maps hold
        for (let k = 0; k < count; k++) {
          st.endpoints.push({
            ip: `10.180.${nextIP >> 8}.${nextIP & 255}`,
            local: random() < 0.3,
            ready: true,
          });
          nextIP++;
        }
      } else if (r < 0.75) {
        st.endpoints.splice(Math.floor(random() * st.endpoints.length), 1);
      } else if (r < 0.9) {
        const e = pick(st.endpoints);
        e.ready = !e.ready;
      } else {
        st.endpoints.splice(0, Math.max(0, st.endpoints.length - 2));
      }
      table.onEndpointSliceUpdate(before, sliceOf(i, st));
    }

    const snapshot = table.snapshot().v4;
    let tx = model.advance(snapshot, DEFAULT_OPTIONS);
    if (tx === null) {
      seen.rebuilds++;
      const rebuilt = TableModel.build(snapshot, DEFAULT_OPTIONS);
      tx = diffTransaction(model.toRuleset(), rebuilt.toRuleset());
      model = rebuilt;
    }
    assert.ok(tx !== null);
    applyTransaction(kernel, tx.lines);
    for (const line of tx.lines) {
      if (/^add map .*-endpoints-(1[7-9]|[2-9]\d)/.test(line)) seen.bigMaps++;
      if (/^add chain .*\/.*/.test(line)) seen.affinityChains++;
      if (line.startsWith("delete element") && line.includes("-endpoints-")) seen.moves++;
    }
    seen.staleChains += tx.staleChains.length;
    const stale = tx.staleChains.filter((c) => !model.hasChain(c));
    applyTransaction(kernel, deleteChainsTransaction("IPv4", stale));
    assertMatchesFresh(kernel, model, snapshot);
  }
  // Keep the scenario honest: it must have exercised every path.
  for (const [what, count] of Object.entries(seen)) assert.ok(count > 0, `never saw ${what}`);
});

Deno.test("TableModel.advance() writes nothing when no service port object changed", () => {
  const svc = makeService("ns1", "svc1", (s) => {
    setClusterIPs(s, "172.30.0.41");
    s.spec.ports = [servicePort("p80", 80)];
  });
  const table = tableOf({
    services: [svc],
    slices: [makeSlice("ns1", "svc1", 1, (es) => {
      es.ports = [slicePort("p80", 80)];
      es.endpoints = [makeEndpoint("10.180.0.1")];
    })],
  });
  const snapshot = table.snapshot().v4;
  const model = TableModel.build(snapshot, DEFAULT_OPTIONS);
  assert.deepEqual(model.advance(snapshot, DEFAULT_OPTIONS), {
    lines: [],
    objects: 0,
    staleChains: [],
  });
});

Deno.test("TableModel.advance() pairs each port with its previous object, also in lists out of order", () => {
  const st = (ip: string, ready: boolean): SvcState => ({
    kind: "NodePort",
    local: false,
    itpLocal: false,
    affinity: false,
    nodePort: 30001,
    endpoints: [{ ip, local: false, ready }],
  });
  const table = tableOf({
    services: [1, 2, 3].map((i) => serviceOf(i, st(`10.1.0.${i}`, true))),
    slices: [1, 2, 3].map((i) => sliceOf(i, st(`10.1.0.${i}`, true))),
  });
  const first = table.snapshot().v4;
  const model = TableModel.build(first, DEFAULT_OPTIONS);
  const kernel: SimKernel = new Map();
  applyTransaction(kernel, replaceTransaction(model.toRuleset()));
  // svc1 goes away, svc2's endpoint changes, svc3 stays, svc4 arrives.
  table.onServiceDelete(serviceOf(1, st("10.1.0.1", true)));
  table.onEndpointSliceDelete(sliceOf(1, st("10.1.0.1", true)));
  table.onEndpointSliceUpdate(sliceOf(2, st("10.1.0.2", true)), sliceOf(2, st("10.2.0.2", true)));
  table.onServiceAdd(serviceOf(4, st("10.1.0.4", true)));
  table.onEndpointSliceAdd(sliceOf(4, st("10.1.0.4", true)));
  const second = table.snapshot().v4;

  const sorted = TableModel.build(first, DEFAULT_OPTIONS);
  const tx = sorted.advance(second, DEFAULT_OPTIONS);
  assert.ok(tx !== null);
  // Only the ports that changed are written: nothing of svc3 (ClusterIP 172.30.0.13).
  const lines = [...tx.lines];
  assert.ok(lines.length > 0);
  assert.ok(lines.some((l) => l.includes("172.30.0.12 ")), lines.join("\n"));
  assert.ok(!lines.some((l) => l.includes("172.30.0.13 ")), lines.join("\n"));
  applyTransaction(kernel, lines);
  assertMatchesFresh(kernel, sorted, second);

  const shuffled = { ...second, servicePorts: [...second.servicePorts].reverse() };
  const unsortedKernel: SimKernel = new Map();
  applyTransaction(unsortedKernel, replaceTransaction(model.toRuleset()));
  const back = model.advance(shuffled, DEFAULT_OPTIONS);
  assert.ok(back !== null);
  applyTransaction(unsortedKernel, back.lines);
  assertMatchesFresh(unsortedKernel, model, second);
});

Deno.test("TableModel.advance() moves a list that changes size between plain maps only", () => {
  const svc = makeService("ns1", "svc1", (s) => {
    setClusterIPs(s, "172.30.0.41");
    s.spec.ports = [servicePort("p80", 80)];
  });
  const slice = (ips: string[]) =>
    makeSlice("ns1", "svc1", 1, (es) => {
      es.ports = [slicePort("p80", 80)];
      es.endpoints = ips.map((ip) => makeEndpoint(ip));
    });
  const table = tableOf({ services: [svc], slices: [slice(["10.180.0.1", "10.180.0.2"])] });
  const model = TableModel.build(table.snapshot().v4, DEFAULT_OPTIONS);
  table.onEndpointSliceUpdate(slice(["10.180.0.1", "10.180.0.2"]), slice(["10.180.0.1"]));
  const tx = model.advance(table.snapshot().v4, DEFAULT_OPTIONS);
  assert.deepEqual(tx?.lines, [
    "delete element ip kube-proxy service-endpoints-2 { 172.30.0.41 . tcp . 80 . 0, 172.30.0.41 . tcp . 80 . 1 }",
    "add element ip kube-proxy service-endpoints-1 { 172.30.0.41 . tcp . 80 . 0 : 10.180.0.1 . 80 }",
  ]);
});

Deno.test("TableModel.advance() returns null when node facts change", () => {
  const table = tableOf({ services: [], slices: [] });
  const model = TableModel.build(table.snapshot().v4, DEFAULT_OPTIONS);
  table.onNodeUpdate(
    makeNode(),
    makeNode(TEST_NODE_NAME, (n) => {
      n.status.addresses = [{ type: "InternalIP", address: "192.168.0.9" }];
    }),
  );
  assert.equal(model.advance(table.snapshot().v4, DEFAULT_OPTIONS), null);
});

Deno.test("TableModel.advance() keeps a ClusterIP in cluster-ips while one of its ports is left", () => {
  const svcWith = (...ports: ReturnType<typeof servicePort>[]) =>
    makeService("ns1", "svc1", (s) => {
      setClusterIPs(s, "172.30.0.41");
      s.spec.ports = ports;
    });
  const both = svcWith(servicePort("p80", 80), servicePort("dns", 53, { protocol: "UDP" }));
  const one = svcWith(servicePort("p80", 80));
  const table = tableOf({ services: [both], slices: [] });
  const model = TableModel.build(table.snapshot().v4, DEFAULT_OPTIONS);
  const kernel: SimKernel = new Map();
  applyTransaction(kernel, replaceTransaction(model.toRuleset()));
  const clusterIPLines = (lines: Iterable<string>) =>
    [...lines].filter((l) => l.includes("cluster-ips") && l.includes("element"));

  table.onServiceUpdate(both, one);
  let snapshot = table.snapshot().v4;
  let tx = model.advance(snapshot, DEFAULT_OPTIONS);
  assert.ok(tx !== null);
  assert.deepEqual(clusterIPLines(tx.lines), []);
  applyTransaction(kernel, tx.lines);
  assertMatchesFresh(kernel, model, snapshot);

  table.onServiceDelete(one);
  snapshot = table.snapshot().v4;
  tx = model.advance(snapshot, DEFAULT_OPTIONS);
  assert.ok(tx !== null);
  assert.deepEqual(clusterIPLines(tx.lines), [
    "delete element ip kube-proxy cluster-ips { 172.30.0.41 }",
  ]);
  applyTransaction(kernel, tx.lines);
  assertMatchesFresh(kernel, model, snapshot);
});
