import assert from "node:assert/strict";
import type { V1EndpointSlice } from "@kubernetes/client-node";
import {
  buildServicePort,
  type CategorizeContext,
  categorizeEndpoints,
  mergeSlices,
  type ParsedSlice,
  parseEndpointSlice,
  portMatchKey,
  sameAddress,
  topologyModeFromHints,
} from "../../src/model/endpoints.ts";
import { joinHostPort } from "../../src/model/ip.ts";
import type { ServicePortBase } from "../../src/model/service_port.ts";
import type { Endpoint } from "../../src/model/types.ts";
import { plainFields } from "../fixtures/model_fields.ts";
import {
  makeEndpoint,
  makeSlice,
  OTHER_NODE_NAME,
  servingTerminating,
  slicePort,
  TEST_NODE_NAME,
  TEST_ZONE,
} from "../fixtures/k8s_builders.ts";

const CTX = { nodeName: TEST_NODE_NAME, preferSameNode: true };

function parse(slice: V1EndpointSlice, preferSameNode = true): ParsedSlice {
  const warnings: string[] = [];
  const parsed = parseEndpointSlice(slice, { nodeName: TEST_NODE_NAME, preferSameNode }, warnings);
  assert.ok(parsed !== null, `slice ignored: ${warnings.join("; ")}`);
  return parsed;
}

function ipPorts(list: readonly Endpoint[] | undefined): string[] {
  return (list ?? []).map((e) => e.ipPort);
}

Deno.test("parseEndpointSlice() reads conditions with upstream's nil defaults", () => {
  const parsed = parse(makeSlice("ns1", "svc1", 1, (es) => {
    es.ports = [slicePort("p80", 80)];
    es.endpoints = [
      makeEndpoint("10.180.0.1", { nodeName: TEST_NODE_NAME }),
      makeEndpoint("10.180.0.2", { ready: false, serving: true, terminating: true }),
      makeEndpoint("10.180.0.3", { ready: false, serving: false, terminating: true }),
      { addresses: ["10.180.0.4"] },
    ];
  }));
  assert.equal(parsed.serviceKey, "ns1/svc1");
  assert.equal(parsed.id, "ns1/svc1-1");
  assert.equal(parsed.family, "IPv4");
  assert.deepEqual(
    (parsed.byPort.get("p80/TCP") ?? []).map((e) => [
      e.ip,
      e.ready,
      e.serving,
      e.terminating,
      e.isLocal,
    ]),
    [
      ["10.180.0.1", true, true, false, true],
      ["10.180.0.2", false, true, true, false],
      ["10.180.0.3", false, false, true, false],
      ["10.180.0.4", true, true, false, false],
    ],
  );
});

Deno.test("parseEndpointSlice() gives every Endpoint field, IPv6 included", () => {
  const fields = (e: Endpoint | undefined) =>
    e === undefined ? undefined : {
      ip: e.ip,
      port: e.port,
      ipPort: e.ipPort,
      isLocal: e.isLocal,
      ready: e.ready,
      serving: e.serving,
      terminating: e.terminating,
      nodeName: e.nodeName,
      zone: e.zone,
      zoneHints: e.zoneHints,
      nodeHints: e.nodeHints,
    };
  const v6 = parse(makeSlice("ns1", "svc1", 1, (es) => {
    es.addressType = "IPv6";
    es.ports = [slicePort("p80", 8080)];
    es.endpoints = [
      makeEndpoint("fd00:10:0::0:7", {
        nodeName: TEST_NODE_NAME,
        zone: TEST_ZONE,
        ready: false,
        terminating: true,
        zoneHints: [TEST_ZONE],
        nodeHints: [TEST_NODE_NAME],
      }),
      { addresses: ["fd00:10::9"] },
    ];
  }));
  const [hinted, bare] = v6.byPort.get("p80/TCP") ?? [];
  assert.deepEqual(fields(hinted), {
    ip: "fd00:10::7",
    port: 8080,
    ipPort: "[fd00:10::7]:8080",
    isLocal: true,
    ready: false,
    serving: true,
    terminating: true,
    nodeName: TEST_NODE_NAME,
    zone: TEST_ZONE,
    zoneHints: [TEST_ZONE],
    nodeHints: [TEST_NODE_NAME],
  });
  assert.equal(bare?.ip, "fd00:10::9");
  assert.equal(bare?.ipPort, "[fd00:10::9]:8080");
  assert.equal(bare?.nodeName, null);
  assert.equal(bare?.zone, null);
  assert.ok(Object.isFrozen(hinted), "endpoints are immutable");
});

Deno.test("parseEndpointSlice() keeps IPv4 addresses exactly, across the whole address range", () => {
  const addresses = [
    "0.0.0.1",
    "10.0.1.2",
    "10.0.1.10",
    "127.255.255.255",
    "128.0.0.0",
    "198.51.100.7",
    "255.255.255.254",
    "010.000.001.009",
  ];
  const slice = parse(makeSlice("ns1", "svc1", 1, (es) => {
    es.ports = [slicePort("p80", 80), slicePort("p53", 53, "UDP")];
    es.endpoints = addresses.map((a) => makeEndpoint(a));
  }));
  const tcp = slice.byPort.get("p80/TCP") ?? [];
  // Sorted as upstream sorts `ip:port` strings; the leading zeros of the last one are dropped.
  const canonical = addresses.map((a) => a === "010.000.001.009" ? "10.0.1.9" : a);
  const expected = canonical.map((a) => `${a}:80`).sort();
  assert.deepEqual(tcp.map((e) => e.ipPort), expected);
  assert.deepEqual(tcp.map((e) => e.ip), expected.map((x) => x.slice(0, x.lastIndexOf(":"))));
  assert.ok(tcp.every((e) => e.port === 80));
  const udp = slice.byPort.get("p53/UDP") ?? [];
  assert.deepEqual(udp.map((e) => e.ipPort), canonical.map((a) => `${a}:53`).sort());
  // Same address, another port: not the same endpoint.
  assert.equal(sameAddress(tcp[0]!, udp[0]!), false);
  const again = parse(makeSlice("ns1", "svc2", 1, (es) => {
    es.ports = [slicePort("p80", 80)];
    es.endpoints = [makeEndpoint("198.51.100.7")];
  }));
  const twin = again.byPort.get("p80/TCP")![0]!;
  assert.equal(sameAddress(twin, tcp.find((e) => e.ip === "198.51.100.7")!), true);
  assert.equal(sameAddress(twin, tcp.find((e) => e.ip === "128.0.0.0")!), false);
  // A plain object (as tests and other sources build them) compares by its `ipPort`.
  assert.equal(sameAddress(twin, { ...plainFields(twin) }), true);
});

Deno.test("parseEndpointSlice() shares one copy of equal port lists, never another slice's", () => {
  const withPorts = (name: string, ports: NonNullable<V1EndpointSlice["ports"]>) =>
    parse(makeSlice("ns1", name, 1, (es) => {
      es.ports = ports;
      es.endpoints = [makeEndpoint("10.180.0.1")];
    }));
  const a = withPorts("a", [slicePort("p80", 80), slicePort("p53", 53, "UDP")]);
  const b = withPorts("b", [slicePort("p80", 80), slicePort("p53", 53, "UDP")]);
  assert.equal(a.ports, b.ports, "one list for both slices");
  assert.deepEqual([...b.byPort].map(([key, eps]) => [key, eps.map((e) => e.ipPort)]), [
    ["p80/TCP", ["10.180.0.1:80"]],
    ["p53/UDP", ["10.180.0.1:53"]],
  ]);
  // One port whose name spells the lookup key of `a`'s two ports.
  const odd = withPorts("odd", [slicePort("p80\u0000TCP\u000080\u0001p53", 53, "UDP")]);
  assert.deepEqual(odd.ports, [{
    portName: "p80\u0000TCP\u000080\u0001p53",
    protocol: "UDP",
    port: 53,
  }]);
  assert.deepEqual([...odd.byPort.values()].map((eps) => eps.map((e) => e.ipPort)), [[
    "10.180.0.1:53",
  ]]);
  assert.equal(withPorts("c", [slicePort("p80", 8080)]).ports[0]?.port, 8080);
});

Deno.test("parseEndpointSlice() keeps each endpoint's conditions when they share a node", () => {
  const parsed = parse(makeSlice("ns1", "svc1", 1, (es) => {
    es.ports = [slicePort("p80", 80)];
    es.endpoints = [
      makeEndpoint("10.180.0.1", { nodeName: TEST_NODE_NAME }),
      makeEndpoint("10.180.0.2", { nodeName: TEST_NODE_NAME, ready: false, terminating: true }),
      makeEndpoint("10.180.0.3", { nodeName: TEST_NODE_NAME, ready: false, serving: false }),
      makeEndpoint("10.180.0.4", { nodeName: TEST_NODE_NAME }),
    ];
  }));
  assert.deepEqual(
    (parsed.byPort.get("p80/TCP") ?? []).map((e) => [
      e.ipPort,
      e.ready,
      e.serving,
      e.terminating,
      e.isLocal,
    ]),
    [
      ["10.180.0.1:80", true, true, false, true],
      ["10.180.0.2:80", false, true, true, true],
      ["10.180.0.3:80", false, false, false, true],
      ["10.180.0.4:80", true, true, false, true],
    ],
  );
});

Deno.test("parseEndpointSlice() never mixes up two endpoints' nodes, whatever their names", () => {
  // Shared placement records are looked up by a text key; a name holding the key's separator
  // characters (only possible in a hand-written file) must still get its own.
  const parsed = parse(makeSlice("ns1", "svc1", 1, (es) => {
    es.ports = [slicePort("p80", 80)];
    es.endpoints = [
      makeEndpoint("10.180.0.1", { nodeName: "\u0002" }),
      { addresses: ["10.180.0.2"] },
      makeEndpoint("10.180.0.3", { nodeName: TEST_NODE_NAME }),
      makeEndpoint("10.180.0.4", { nodeName: TEST_NODE_NAME }),
    ];
  }));
  assert.deepEqual(
    (parsed.byPort.get("p80/TCP") ?? []).map((e) => [e.ipPort, e.nodeName, e.isLocal]),
    [
      ["10.180.0.1:80", "\u0002", false],
      ["10.180.0.2:80", null, false],
      ["10.180.0.3:80", TEST_NODE_NAME, true],
      ["10.180.0.4:80", TEST_NODE_NAME, true],
    ],
  );
});

Deno.test("parseEndpointSlice() ignores slices kube-proxy does not watch", () => {
  const cases: { name: string; slice: V1EndpointSlice; warns: boolean }[] = [
    {
      name: "FQDN",
      slice: makeSlice("ns1", "svc1", 1, (es) => {
        es.addressType = "FQDN";
      }),
      warns: false,
    },
    {
      name: "headless label",
      slice: makeSlice("ns1", "svc1", 1, (es) => {
        es.metadata.labels["service.kubernetes.io/headless"] = "";
      }),
      warns: false,
    },
    {
      name: "service-proxy-name label",
      slice: makeSlice("ns1", "svc1", 1, (es) => {
        es.metadata.labels["service.kubernetes.io/service-proxy-name"] = "other";
      }),
      warns: false,
    },
    {
      name: "no service-name label",
      slice: makeSlice("ns1", "svc1", 1, (es) => {
        es.metadata.labels = {};
      }),
      warns: true,
    },
    {
      name: "unknown addressType",
      slice: makeSlice("ns1", "svc1", 1, (es) => {
        es.addressType = "IPv5";
      }),
      warns: true,
    },
  ];
  for (const c of cases) {
    const warnings: string[] = [];
    assert.equal(parseEndpointSlice(c.slice, CTX, warnings), null, c.name);
    assert.equal(warnings.length > 0, c.warns, c.name);
  }
});

Deno.test("parseEndpointSlice() skips only bad ports and endpoints, with warnings", () => {
  const warnings: string[] = [];
  const parsed = parseEndpointSlice(
    makeSlice("ns1", "svc1", 1, (es) => {
      es.ports = [
        slicePort("p80", 80),
        slicePort("bad", 0),
        slicePort("huge", 65536),
        slicePort("icmp", 80, "ICMP"),
        { name: "nil-port" },
      ];
      es.endpoints = [
        makeEndpoint("10.180.0.1"),
        makeEndpoint("10.180.0.999"),
        makeEndpoint("fd00:10::1"),
        { addresses: [] },
      ];
    }),
    CTX,
    warnings,
  );
  assert.deepEqual(parsed?.ports, [{ portName: "p80", protocol: "TCP", port: 80 }]);
  assert.deepEqual(ipPorts(parsed?.byPort.get("p80/TCP")), ["10.180.0.1:80"]);
  assert.deepEqual(warnings, [
    'Skipping port "bad": port 0 is invalid',
    'Skipping port "huge": port 65536 is invalid',
    'Skipping port "icmp": unknown protocol "ICMP"',
    'Skipping port "nil-port": port null is invalid',
    'Skipping endpoint with invalid address "10.180.0.999"',
    'Skipping endpoint "fd00:10::1": it is not IPv4',
    "Skipping endpoint without addresses",
  ]);
});

Deno.test("parseEndpointSlice() keeps node hints only with PreferSameTrafficDistribution", () => {
  const slice = makeSlice("ns1", "svc1", 1, (es) => {
    es.ports = [slicePort("p80", 80)];
    es.endpoints = [
      makeEndpoint("10.180.0.1", { zoneHints: ["zone-b", "zone-a"], nodeHints: [TEST_NODE_NAME] }),
    ];
  });
  const on = parse(slice, true).byPort.get("p80/TCP")?.[0];
  assert.deepEqual(on?.zoneHints, ["zone-a", "zone-b"]);
  assert.deepEqual(on?.nodeHints, [TEST_NODE_NAME]);
  assert.equal(parse(slice, true).hasZoneHints, true);
  const off = parse(slice, false).byPort.get("p80/TCP")?.[0];
  assert.deepEqual(off?.nodeHints, []);
});

Deno.test("mergeSlices() merges slices, matches ports by name and protocol, and sorts", () => {
  const a = parse(makeSlice("ns1", "svc1", 1, (es) => {
    es.ports = [slicePort("p80", 8080), slicePort("p53", 5353, "UDP")];
    es.endpoints = [makeEndpoint("10.180.0.8"), makeEndpoint("10.180.0.10")];
  }));
  const b = parse(makeSlice("ns1", "svc1", 2, (es) => {
    es.ports = [slicePort("p80", 8080)];
    es.endpoints = [makeEndpoint("10.180.0.9"), makeEndpoint("10.180.0.010")];
  }));
  const v6 = parse(makeSlice("ns1", "svc1", 3, (es) => {
    es.addressType = "IPv6";
    es.ports = [slicePort("p80", 8080)];
    es.endpoints = [makeEndpoint("fd00:10::1")];
  }));
  const merged = mergeSlices([a, b, v6], "IPv4");
  // Plain string order: "10.180.0.10:8080" sorts before "10.180.0.8:8080".
  assert.deepEqual(ipPorts(merged.byPort.get(portMatchKey("p80", "TCP"))), [
    "10.180.0.10:8080",
    "10.180.0.8:8080",
    "10.180.0.9:8080",
  ]);
  assert.deepEqual(ipPorts(merged.byPort.get(portMatchKey("p53", "UDP"))), [
    "10.180.0.10:5353",
    "10.180.0.8:5353",
  ]);
  assert.equal(merged.byPort.get(portMatchKey("p53", "TCP")), undefined);
  assert.deepEqual(ipPorts(mergeSlices([a, b, v6], "IPv6").byPort.get("p80/TCP")), [
    "[fd00:10::1]:8080",
  ]);
});

Deno.test("mergeSlices() deduplicates by address, preferring the non-terminating endpoint", () => {
  const terminating = parse(makeSlice("ns1", "svc1", 1, (es) => {
    es.ports = [slicePort("p80", 80)];
    es.endpoints = [servingTerminating("10.180.0.1")];
  }));
  const running = parse(makeSlice("ns1", "svc1", 2, (es) => {
    es.ports = [slicePort("p80", 80)];
    es.endpoints = [makeEndpoint("10.180.0.1", { nodeName: TEST_NODE_NAME })];
  }));
  for (const order of [[terminating, running], [running, terminating]]) {
    const eps = mergeSlices(order, "IPv4").byPort.get("p80/TCP") ?? [];
    assert.equal(eps.length, 1);
    assert.equal(eps[0]?.terminating, false);
    assert.equal(eps[0]?.isLocal, true);
  }
});

Deno.test("parseEndpointSlice() deduplicates within a slice like upstream's map", () => {
  const slice = parse(makeSlice("ns1", "svc1", 1, (es) => {
    es.ports = [slicePort("p80", 80)];
    es.endpoints = [
      servingTerminating("10.180.0.1", { zone: "first" }),
      makeEndpoint("10.180.0.1", { zone: "second" }),
      makeEndpoint("10.180.0.1", { zone: "third" }),
      servingTerminating("10.180.0.1", { zone: "fourth" }),
      servingTerminating("10.180.0.2", { zone: "first" }),
      servingTerminating("10.180.0.2", { zone: "second" }),
    ];
  }));
  const got = slice.byPort.get("p80/TCP") ?? [];
  assert.deepEqual(got.map((e) => [e.ipPort, e.zone]), [
    ["10.180.0.1:80", "third"],
    ["10.180.0.2:80", "first"],
  ]);
});

Deno.test("mergeSlices() counts local ready endpoint IPs once across ports", () => {
  const slice = parse(makeSlice("ns1", "svc1", 1, (es) => {
    es.ports = [slicePort("p80", 80), slicePort("p443", 443)];
    es.endpoints = [
      makeEndpoint("10.180.0.1", { nodeName: TEST_NODE_NAME }),
      makeEndpoint("10.180.0.2", { nodeName: TEST_NODE_NAME }),
      servingTerminating("10.180.0.3", { nodeName: TEST_NODE_NAME }),
      makeEndpoint("10.180.0.4", { nodeName: OTHER_NODE_NAME }),
    ];
  }));
  assert.equal(mergeSlices([slice], "IPv4").localReadyCount, 2);
});

interface EpSpec {
  ip: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  local?: boolean;
  zones?: string[];
  nodes?: string[];
}

function eps(...specs: EpSpec[]): Endpoint[] {
  return specs.map((s) => ({
    ip: s.ip,
    port: 80,
    ipPort: joinHostPort(s.ip, 80),
    isLocal: s.local ?? false,
    ready: s.ready ?? true,
    serving: s.serving ?? true,
    terminating: s.terminating ?? false,
    nodeName: s.local === true ? TEST_NODE_NAME : OTHER_NODE_NAME,
    zone: null,
    zoneHints: s.zones ?? [],
    nodeHints: s.nodes ?? [],
  })).sort((a, b) => (a.ipPort < b.ipPort ? -1 : 1));
}

function flags(itpLocal: boolean, etpLocal: boolean, externallyAccessible: boolean) {
  return {
    usesClusterEndpoints: !itpLocal || externallyAccessible,
    usesLocalEndpoints: itpLocal || (etpLocal && externallyAccessible),
  };
}

const TERM = { ready: false, serving: true, terminating: true };
const DEAD = { ready: false, serving: false, terminating: true };
const UNREADY = { ready: false, serving: false, terminating: false };

Deno.test("categorizeEndpoints() matches upstream's CategorizeEndpoints table", () => {
  const BOTH = ["10.0.0.0:80", "10.0.0.1:80"];
  const cases: {
    name: string;
    itpLocal?: boolean;
    etpLocal?: boolean;
    external?: boolean;
    zone?: string;
    preferSameNode?: boolean;
    endpoints: Endpoint[];
    /**
     * `null` where the port does not use that set (it must come out empty); `all` defaults to
     * the set in use.
     */
    want: { cluster: string[] | null; local: string[] | null; all?: string[]; any: boolean };
  }[] = [
    {
      name: "hints used when all ready endpoints have them and one matches the zone",
      zone: "zone-a",
      endpoints: eps(
        { ip: "10.1.2.3", zones: ["zone-a"] },
        { ip: "10.1.2.4", zones: ["zone-b"] },
        { ip: "10.1.2.5", zones: ["zone-c"] },
        { ip: "10.1.2.6", zones: ["zone-a"] },
      ),
      want: { cluster: ["10.1.2.3:80", "10.1.2.6:80"], local: null, any: true },
    },
    {
      name: "hints ignored when the node has no zone label",
      zone: "",
      endpoints: eps({ ip: "10.1.2.3", zones: ["zone-a"] }, { ip: "10.1.2.4", zones: ["zone-b"] }),
      want: { cluster: ["10.1.2.3:80", "10.1.2.4:80"], local: null, any: true },
    },
    {
      name: "hints ignored when no endpoint is hinted for the node's zone",
      zone: "zone-z",
      endpoints: eps({ ip: "10.1.2.3", zones: ["zone-a"] }, { ip: "10.1.2.4", zones: ["zone-b"] }),
      want: { cluster: ["10.1.2.3:80", "10.1.2.4:80"], local: null, any: true },
    },
    {
      name: "hints ignored when a ready endpoint lacks hints",
      zone: "zone-a",
      endpoints: eps({ ip: "10.1.2.3", zones: ["zone-a"] }, { ip: "10.1.2.4" }),
      want: { cluster: ["10.1.2.3:80", "10.1.2.4:80"], local: null, any: true },
    },
    {
      name: "an unready endpoint without hints does not disable hints",
      zone: "zone-a",
      endpoints: eps(
        { ip: "10.1.2.3", zones: ["zone-a"] },
        { ip: "10.1.2.4", zones: ["zone-b"] },
        { ip: "10.1.2.5", ...UNREADY },
      ),
      want: { cluster: ["10.1.2.3:80"], local: null, any: true },
    },
    {
      name: "unready endpoints are never used",
      endpoints: eps({ ip: "10.1.2.3" }, { ip: "10.1.2.4", ...UNREADY }),
      want: { cluster: ["10.1.2.3:80"], local: null, any: true },
    },
    {
      name: "PreferSameNode hints select this node's endpoints",
      zone: "zone-a",
      endpoints: eps(
        { ip: "10.1.2.3", zones: ["zone-a"], nodes: [TEST_NODE_NAME], local: true },
        { ip: "10.1.2.4", zones: ["zone-a"], nodes: [OTHER_NODE_NAME] },
      ),
      want: { cluster: ["10.1.2.3:80"], local: null, any: true },
    },
    {
      name: "PreferSameNode hints ignored without the gate: zone hints apply instead",
      zone: "zone-a",
      preferSameNode: false,
      endpoints: eps(
        { ip: "10.1.2.3", zones: ["zone-a"], nodes: [TEST_NODE_NAME], local: true },
        { ip: "10.1.2.4", zones: ["zone-a"], nodes: [OTHER_NODE_NAME] },
        { ip: "10.1.2.5", zones: ["zone-b"], nodes: [OTHER_NODE_NAME] },
      ),
      want: { cluster: ["10.1.2.3:80", "10.1.2.4:80"], local: null, any: true },
    },
    {
      name: "PreferSameNode falls back to zone when no endpoint is hinted for this node",
      zone: "zone-a",
      endpoints: eps(
        { ip: "10.1.2.3", zones: ["zone-a"], nodes: [OTHER_NODE_NAME] },
        { ip: "10.1.2.4", zones: ["zone-b"], nodes: ["third-node"] },
      ),
      want: { cluster: ["10.1.2.3:80"], local: null, any: true },
    },
    {
      name: "Cluster: falls back to serving terminating endpoints when none are ready",
      endpoints: eps(
        { ip: "10.0.0.2", ...TERM },
        { ip: "10.0.0.3", ...DEAD },
        { ip: "10.0.0.4", ...UNREADY },
      ),
      want: { cluster: ["10.0.0.2:80"], local: null, any: true },
    },
    {
      name: "Cluster: no fallback while any endpoint is ready",
      endpoints: eps({ ip: "10.0.0.1" }, { ip: "10.0.0.2", ...TERM }),
      want: { cluster: ["10.0.0.1:80"], local: null, any: true },
    },
    {
      name: "Cluster: nothing usable means no endpoints at all",
      endpoints: eps({ ip: "10.0.0.3", ...DEAD }, { ip: "10.0.0.4", ...UNREADY }),
      want: { cluster: [], local: null, any: false },
    },
    {
      name: "iTP Local with no endpoints",
      itpLocal: true,
      endpoints: [],
      want: { cluster: null, local: [], any: false },
    },
    {
      name: "iTP Local, all endpoints remote: has endpoints but no local ones",
      itpLocal: true,
      endpoints: eps({ ip: "10.0.0.0" }, { ip: "10.0.0.1" }),
      want: { cluster: null, local: [], any: true },
    },
    {
      name: "iTP Local, some endpoints local",
      itpLocal: true,
      endpoints: eps({ ip: "10.0.0.0", local: true }, { ip: "10.0.0.1" }),
      want: { cluster: null, local: ["10.0.0.0:80"], any: true },
    },
    {
      name: "iTP Local: topology is ignored for Local endpoints",
      itpLocal: true,
      zone: "zone-a",
      endpoints: eps(
        { ip: "10.1.2.3", zones: ["zone-a"] },
        { ip: "10.1.2.4", zones: ["zone-b"], local: true },
      ),
      want: { cluster: null, local: ["10.1.2.4:80"], any: true },
    },
    {
      name: "iTP Local: falls back to local serving terminating endpoints",
      itpLocal: true,
      endpoints: eps(
        { ip: "10.0.0.0", ...TERM, local: true },
        { ip: "10.0.0.1", ...DEAD, local: true },
        { ip: "10.0.0.2" },
      ),
      want: { cluster: null, local: ["10.0.0.0:80"], any: true },
    },
    {
      name: "iTP Local: remote serving terminating endpoints still count as endpoints",
      itpLocal: true,
      endpoints: eps({ ip: "10.0.0.0", ...TERM }, { ip: "10.0.0.1", ...UNREADY, local: true }),
      want: { cluster: null, local: [], any: true },
    },
    {
      name: "eTP Local, externally accessible, some endpoints local",
      etpLocal: true,
      external: true,
      endpoints: eps({ ip: "10.0.0.0", local: true }, { ip: "10.0.0.1" }),
      want: { cluster: BOTH, local: ["10.0.0.0:80"], all: BOTH, any: true },
    },
    {
      name: "eTP Local ignored when not externally accessible",
      etpLocal: true,
      external: false,
      endpoints: eps({ ip: "10.0.0.0", local: true }, { ip: "10.0.0.1" }),
      want: { cluster: BOTH, local: null, any: true },
    },
    {
      name: "eTP Local: topology applies to Cluster but not Local endpoints",
      etpLocal: true,
      external: true,
      zone: "zone-a",
      endpoints: eps(
        { ip: "10.1.2.3", zones: ["zone-a"] },
        { ip: "10.1.2.4", zones: ["zone-b"], local: true },
      ),
      want: {
        cluster: ["10.1.2.3:80"],
        local: ["10.1.2.4:80"],
        all: ["10.1.2.3:80", "10.1.2.4:80"],
        any: true,
      },
    },
    {
      name: "eTP Local: Cluster and Local fall back to serving terminating independently",
      etpLocal: true,
      external: true,
      endpoints: eps(
        { ip: "10.0.0.0", ...TERM, local: true },
        { ip: "10.0.0.1" },
        { ip: "10.0.0.2", ...TERM },
      ),
      want: { cluster: ["10.0.0.1:80"], local: ["10.0.0.0:80"], all: BOTH, any: true },
    },
    {
      name: "eTP Local: all endpoints serving terminating",
      etpLocal: true,
      external: true,
      endpoints: eps({ ip: "10.0.0.0", ...TERM, local: true }, { ip: "10.0.0.1", ...TERM }),
      want: { cluster: BOTH, local: ["10.0.0.0:80"], all: BOTH, any: true },
    },
    {
      name: "iTP Local, eTP Cluster, externally accessible, some endpoints local",
      itpLocal: true,
      external: true,
      endpoints: eps({ ip: "10.0.0.0", local: true }, { ip: "10.0.0.1" }),
      want: { cluster: BOTH, local: ["10.0.0.0:80"], all: BOTH, any: true },
    },
    {
      name: "iTP Local, eTP Local, all endpoints remote",
      itpLocal: true,
      etpLocal: true,
      external: true,
      endpoints: eps({ ip: "10.0.0.0" }, { ip: "10.0.0.1" }),
      want: { cluster: BOTH, local: [], all: BOTH, any: true },
    },
    {
      name: "iTP Local, eTP Local, all endpoints remote and serving terminating",
      itpLocal: true,
      etpLocal: true,
      external: true,
      endpoints: eps({ ip: "10.0.0.0", ...TERM }, { ip: "10.0.0.1", ...TERM }),
      want: { cluster: BOTH, local: [], all: BOTH, any: true },
    },
    {
      name: "iTP Local, eTP Local, nothing usable",
      itpLocal: true,
      etpLocal: true,
      external: true,
      endpoints: eps({ ip: "10.0.0.0", ...DEAD, local: true }, { ip: "10.0.0.1", ...UNREADY }),
      want: { cluster: [], local: [], all: [], any: false },
    },
  ];

  for (const c of cases) {
    const ctx: CategorizeContext = {
      nodeName: TEST_NODE_NAME,
      zone: c.zone ?? "",
      preferSameNode: c.preferSameNode ?? true,
    };
    const got = categorizeEndpoints(
      c.endpoints,
      flags(c.itpLocal ?? false, c.etpLocal ?? false, c.external ?? false),
      ctx,
    );
    const { cluster, local, all = cluster ?? local ?? [], any } = c.want;
    assert.deepEqual(ipPorts(got.clusterEndpoints), cluster ?? [], `${c.name}: cluster`);
    assert.deepEqual(ipPorts(got.localEndpoints), local ?? [], `${c.name}: local`);
    assert.deepEqual(ipPorts(got.allReachableEndpoints), all, `${c.name}: allReachable`);
    assert.equal(got.hasAnyEndpoints, any, `${c.name}: hasAnyEndpoints`);
  }
});

Deno.test("topologyModeFromHints() names the mode chosen", () => {
  const ctx = { nodeName: TEST_NODE_NAME, zone: TEST_ZONE, preferSameNode: true };
  const cases: { name: string; endpoints: Endpoint[]; want: string }[] = [
    { name: "no hints", endpoints: eps({ ip: "10.0.0.1" }), want: "" },
    {
      name: "zone hints",
      endpoints: eps({ ip: "10.0.0.1", zones: [TEST_ZONE] }),
      want: "PreferSameZone",
    },
    {
      name: "node hints",
      endpoints: eps({ ip: "10.0.0.1", zones: [TEST_ZONE], nodes: [TEST_NODE_NAME] }),
      want: "PreferSameNode",
    },
    { name: "no endpoints", endpoints: [], want: "" },
  ];
  for (const c of cases) assert.equal(topologyModeFromHints(c.endpoints, ctx), c.want, c.name);
});

function base(over: Partial<ServicePortBase>): ServicePortBase {
  const itp = over.internalPolicyLocal ?? false;
  const etp = over.externalPolicyLocal ?? false;
  const ea = over.externallyAccessible ?? false;
  return {
    id: "ns1/svc1:p80/TCP",
    key: "ns1/svc1:p80",
    serviceKey: "ns1/svc1",
    namespace: "ns1",
    name: "svc1",
    portName: "p80",
    protocol: "TCP",
    family: "IPv4",
    serviceType: "NodePort",
    clusterIP: "172.30.0.41",
    port: 80,
    nodePort: ea ? 3001 : 0,
    externalIPs: [],
    loadBalancerVIPs: [],
    loadBalancerSourceRanges: [],
    healthCheckNodePort: 0,
    sessionAffinity: null,
    internalPolicyLocal: itp,
    externalPolicyLocal: etp,
    externallyAccessible: ea,
    ...flags(itp, etp, ea),
    ...over,
  };
}

Deno.test("buildServicePort() derives hasInternalEndpoints and hasExternalEndpoints (§1.4)", () => {
  const ctx = { nodeName: TEST_NODE_NAME, zone: "", preferSameNode: true };
  const remoteOnly = eps({ ip: "10.0.0.1" });
  const withLocal = eps({ ip: "10.0.0.1" }, { ip: "10.0.0.2", local: true });
  const cases: {
    name: string;
    base: ServicePortBase;
    endpoints: Endpoint[];
    want: { internal: boolean; external: boolean };
  }[] = [
    {
      name: "no endpoints: REJECT both",
      base: base({ externallyAccessible: true }),
      endpoints: [],
      want: { internal: false, external: false },
    },
    {
      name: "Cluster policies with remote endpoints",
      base: base({ externallyAccessible: true }),
      endpoints: remoteOnly,
      want: { internal: true, external: true },
    },
    {
      name: "iTP Local without local endpoints: DROP internal",
      base: base({ internalPolicyLocal: true, externallyAccessible: true }),
      endpoints: remoteOnly,
      want: { internal: false, external: true },
    },
    {
      name: "eTP Local without local endpoints: DROP external",
      base: base({ externalPolicyLocal: true, externallyAccessible: true }),
      endpoints: remoteOnly,
      want: { internal: true, external: false },
    },
    {
      name: "eTP Local with a local endpoint",
      base: base({ externalPolicyLocal: true, externallyAccessible: true }),
      endpoints: withLocal,
      want: { internal: true, external: true },
    },
  ];
  for (const c of cases) {
    const sp = buildServicePort(c.base, c.endpoints, 0, ctx);
    assert.equal(sp.hasInternalEndpoints, c.want.internal, `${c.name}: internal`);
    assert.equal(sp.hasExternalEndpoints, c.want.external, `${c.name}: external`);
    assert.ok(Object.isFrozen(sp), c.name);
  }
});

Deno.test("parseEndpointSlice() lists every port's endpoints, also when there are none", () => {
  const twoPorts = parse(makeSlice("ns1", "svc1", 1, (es) => {
    es.ports = [slicePort("p80", 80), slicePort("p53", 53, "UDP"), slicePort("p81", 81)];
    es.endpoints = [];
  }));
  assert.equal(twoPorts.byPort.size, 3);
  assert.deepEqual([...twoPorts.byPort].map(([key, eps]) => [key, eps.length]), [
    ["p80/TCP", 0],
    ["p53/UDP", 0],
    ["p81/TCP", 0],
  ]);
  assert.deepEqual(twoPorts.byPort.get("p81/TCP"), []);
  assert.equal(twoPorts.byPort.get("p443/TCP"), undefined);
  const noPorts = parse(makeSlice("ns1", "svc2", 1, (es) => {
    es.ports = [];
    es.endpoints = [makeEndpoint("10.180.0.1")];
  }));
  assert.equal(noPorts.byPort.size, 0);
  assert.deepEqual([...noPorts.byPort.values()], []);
  assert.equal(noPorts.byPort.get(""), undefined);
});
