import assert from "node:assert/strict";
import type { V1Service } from "@kubernetes/client-node";
import {
  parseService,
  serviceNameOf,
  type ServicePortBase,
  servicePortBases,
  servicePortKey,
} from "../../src/model/service_port.ts";
import { plainFields } from "../fixtures/model_fields.ts";
import {
  makeService,
  type ServiceDraft,
  servicePort,
  setClusterIPs,
  setLoadBalancerIngress,
  TEST_EXTERNAL_IP,
  TEST_LB_IP,
} from "../fixtures/k8s_builders.ts";

function bases(svc: V1Service, family: "IPv4" | "IPv6" = "IPv4"): ServicePortBase[] {
  const warnings: string[] = [];
  const parsed = parseService(svc, warnings);
  return parsed === null ? [] : servicePortBases(parsed, family);
}

function warningsOf(svc: V1Service): string[] {
  const warnings: string[] = [];
  parseService(svc, warnings);
  return warnings;
}

function only(list: ServicePortBase[], label: string): ServicePortBase {
  assert.equal(list.length, 1, `${label}: expected exactly one service port`);
  const first = list[0];
  assert.ok(first !== undefined);
  return first;
}

/** Asserts each field `want` names, so a case states only what it is about. */
function assertFields(got: ServicePortBase, want: Partial<ServicePortBase>, label: string): void {
  for (const [field, value] of Object.entries(want)) {
    assert.deepEqual(got[field as keyof ServicePortBase], value, `${label}: ${field}`);
  }
}

/** Service ns1/svc1 on ClusterIP 172.30.0.41 with port p80 (80/TCP), then `edit`. */
function svc1(edit: (s: ServiceDraft) => void = () => {}): V1Service {
  return makeService("ns1", "svc1", (s) => {
    setClusterIPs(s, "172.30.0.41");
    s.spec.ports = [servicePort("p80", 80)];
    edit(s);
  });
}

/** {@linkcode svc1} of `type`, its port on nodePort 3001, then `edit`. */
function exposed(
  type: "NodePort" | "LoadBalancer",
  edit: (s: ServiceDraft) => void = () => {},
): V1Service {
  return svc1((s) => {
    s.spec.type = type;
    s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
    edit(s);
  });
}

Deno.test("servicePortKey() formats upstream's ServicePortName.String()", () => {
  assert.equal(servicePortKey("ns1", "svc1", "p80"), "ns1/svc1:p80");
  assert.equal(servicePortKey("ns1", "svc1", ""), "ns1/svc1");
});

Deno.test("parseService() skips Services kube-proxy does not proxy", () => {
  const cases: { name: string; svc: V1Service; warnings: string[] }[] = [
    {
      name: "ExternalName",
      svc: svc1((s) => {
        s.spec.type = "ExternalName";
        s.spec.externalName = "example.com";
      }),
      warnings: [],
    },
    {
      name: "headless",
      svc: makeService("ns1", "svc1", (s) => {
        s.spec.clusterIP = "None";
        s.spec.clusterIPs = ["None"];
        s.spec.ports = [servicePort("p80", 80)];
      }),
      warnings: [],
    },
    {
      name: "no clusterIP",
      svc: makeService("ns1", "svc1", (s) => {
        s.spec.ports = [servicePort("p80", 80)];
      }),
      warnings: [],
    },
    {
      name: "service-proxy-name label",
      svc: svc1((s) => {
        s.metadata.labels = { "service.kubernetes.io/service-proxy-name": "other-proxy" };
      }),
      warnings: [],
    },
    {
      name: "invalid clusterIP",
      svc: svc1((s) => setClusterIPs(s, "172.30.0.300")),
      warnings: ['Ignoring invalid IPv4 clusterIP "172.30.0.300"'],
    },
  ];
  for (const c of cases) {
    assert.deepEqual(bases(c.svc), [], `${c.name}: IPv4`);
    assert.deepEqual(bases(c.svc, "IPv6"), [], `${c.name}: IPv6`);
    assert.deepEqual(warningsOf(c.svc), c.warnings, `${c.name}: warnings`);
  }
});

Deno.test("servicePortBases() reads a ClusterIP Service port", () => {
  const svc = makeService("ns1", "svc1", (s) => {
    setClusterIPs(s, "172.30.0.041");
    s.spec.ports = [servicePort("p80", 80), servicePort("", 53, { protocol: "UDP" })];
  });
  const got = bases(svc);
  assert.equal(got.length, 2);
  assert.deepEqual(plainFields(got[0]!), {
    id: "ns1/svc1:p80/TCP",
    key: "ns1/svc1:p80",
    serviceKey: "ns1/svc1",
    namespace: "ns1",
    name: "svc1",
    portName: "p80",
    protocol: "TCP",
    family: "IPv4",
    serviceType: "ClusterIP",
    clusterIP: "172.30.0.41",
    port: 80,
    nodePort: 0,
    externalIPs: [],
    loadBalancerVIPs: [],
    loadBalancerSourceRanges: [],
    healthCheckNodePort: 0,
    sessionAffinity: null,
    internalPolicyLocal: false,
    externalPolicyLocal: false,
    externallyAccessible: false,
    usesClusterEndpoints: true,
    usesLocalEndpoints: false,
  });
  assert.equal(got[1]?.key, "ns1/svc1");
  assert.equal(got[1]?.id, "ns1/svc1/UDP");
  assert.equal(got[1]?.protocol, "UDP");
});

Deno.test("servicePortBases() gives each family only its own addresses", () => {
  type PerFamily = Record<"IPv4" | "IPv6", Partial<ServicePortBase> | "none">;
  const cases: { name: string; svc: V1Service; want: PerFamily }[] = [
    {
      name: "dual-stack LoadBalancer",
      svc: exposed("LoadBalancer", (s) => {
        setClusterIPs(s, "172.30.0.41", "fd00:172:30::41");
        s.spec.externalIPs = [TEST_EXTERNAL_IP, "fd00:192:168:99::11"];
        s.spec.loadBalancerSourceRanges = [" 203.0.113.0/25", "2001:db8:113::/64"];
        setLoadBalancerIngress(s, TEST_LB_IP, "2001:db8:4::4");
      }),
      want: {
        IPv4: {
          clusterIP: "172.30.0.41",
          externalIPs: [TEST_EXTERNAL_IP],
          loadBalancerVIPs: [TEST_LB_IP],
          loadBalancerSourceRanges: ["203.0.113.0/25"],
        },
        IPv6: {
          clusterIP: "fd00:172:30::41",
          family: "IPv6",
          externalIPs: ["fd00:192:168:99::11"],
          loadBalancerVIPs: ["2001:db8:4::4"],
          loadBalancerSourceRanges: ["2001:db8:113::/64"],
        },
      },
    },
    {
      name: "IPv6-only: nothing for IPv4",
      svc: svc1((s) => setClusterIPs(s, "fd00:172:30::41")),
      want: { IPv4: "none", IPv6: { clusterIP: "fd00:172:30::41" } },
    },
    {
      name: "no ipFamilies: spec.clusterIP decides",
      svc: makeService("ns1", "svc1", (s) => {
        s.spec.clusterIP = "172.30.0.41";
        s.spec.ports = [servicePort("p80", 80)];
      }),
      want: { IPv4: { clusterIP: "172.30.0.41" }, IPv6: "none" },
    },
  ];
  for (const c of cases) {
    for (const family of ["IPv4", "IPv6"] as const) {
      const want = c.want[family];
      const label = `${c.name}: ${family}`;
      if (want === "none") assert.deepEqual(bases(c.svc, family), [], label);
      else assertFields(only(bases(c.svc, family), label), want, label);
    }
  }
});

Deno.test("servicePortBases() reads ports, addresses, source ranges and affinity as upstream", () => {
  const cases: { name: string; svc: V1Service; want: Partial<ServicePortBase> }[] = [
    {
      name: "NodePort",
      svc: exposed("NodePort"),
      want: { serviceType: "NodePort", nodePort: 3001, externallyAccessible: true },
    },
    {
      name: "LoadBalancer with ingress IP",
      svc: exposed("LoadBalancer", (s) => setLoadBalancerIngress(s, TEST_LB_IP)),
      want: { nodePort: 3001, loadBalancerVIPs: [TEST_LB_IP], externallyAccessible: true },
    },
    {
      name: "LoadBalancer with allocateLoadBalancerNodePorts: false",
      svc: svc1((s) => {
        s.spec.type = "LoadBalancer";
        s.spec.allocateLoadBalancerNodePorts = false;
        setLoadBalancerIngress(s, TEST_LB_IP);
      }),
      want: { nodePort: 0, loadBalancerVIPs: [TEST_LB_IP], externallyAccessible: true },
    },
    {
      name: "LoadBalancer ipMode Proxy gets no VIP",
      svc: svc1((s) => {
        s.spec.type = "LoadBalancer";
        s.spec.allocateLoadBalancerNodePorts = false;
        setLoadBalancerIngress(s, { ip: TEST_LB_IP, ipMode: "Proxy" }, {
          ip: "5.6.7.8",
          ipMode: "VIP",
        });
      }),
      want: { loadBalancerVIPs: ["5.6.7.8"] },
    },
    {
      name: "LoadBalancer hostname-only ingress",
      svc: svc1((s) => {
        s.spec.type = "LoadBalancer";
        s.spec.allocateLoadBalancerNodePorts = false;
        s.status.loadBalancer = { ingress: [{ hostname: "lb.example.com" }] };
      }),
      want: { loadBalancerVIPs: [], externallyAccessible: false },
    },
    {
      name: "ClusterIP with externalIPs",
      svc: svc1((s) => (s.spec.externalIPs = [TEST_EXTERNAL_IP, "192.168.099.012"])),
      want: { externalIPs: [TEST_EXTERNAL_IP, "192.168.99.12"], externallyAccessible: true },
    },
    {
      name: "source ranges are trimmed and normalised",
      svc: exposed("LoadBalancer", (s) => {
        s.spec.loadBalancerSourceRanges = [" 203.0.113.000/025", "198.51.100.0/24 "];
      }),
      want: { loadBalancerSourceRanges: ["203.0.113.0/25", "198.51.100.0/24"] },
    },
    {
      name: "a zero CIDR empties the source ranges (allow all)",
      svc: exposed("LoadBalancer", (s) => {
        s.spec.loadBalancerSourceRanges = ["203.0.113.0/25", "0.0.0.0/0"];
      }),
      want: { loadBalancerSourceRanges: [] },
    },
    {
      name: "a zero CIDR of the other family does not empty this family's ranges",
      svc: exposed("LoadBalancer", (s) => {
        s.spec.loadBalancerSourceRanges = ["203.0.113.0/25", "::/0"];
      }),
      want: { loadBalancerSourceRanges: ["203.0.113.0/25"] },
    },
    {
      name: "ClientIP affinity with its timeout",
      svc: svc1((s) => {
        s.spec.sessionAffinity = "ClientIP";
        s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 300 } };
      }),
      want: { sessionAffinity: { timeoutSeconds: 300 } },
    },
    {
      name: "ClientIP affinity defaults to 10800 s",
      svc: svc1((s) => (s.spec.sessionAffinity = "ClientIP")),
      want: { sessionAffinity: { timeoutSeconds: 10800 } },
    },
    {
      name: "affinity None ignores a ClientIP timeout",
      svc: svc1((s) => {
        s.spec.sessionAffinity = "None";
        s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 300 } };
      }),
      want: { sessionAffinity: null },
    },
    {
      name: "an absent protocol defaults to TCP",
      svc: svc1((s) => (s.spec.ports = [{ name: "p80", port: 80 }])),
      want: { protocol: "TCP" },
    },
  ];
  for (const c of cases) assertFields(only(bases(c.svc), c.name), c.want, c.name);
});

Deno.test("servicePortBases() derives traffic-policy flags as upstream", () => {
  /** Short names (`health`: healthCheckNodePort), so each expectation fits on one line. */
  interface Flags {
    itp: boolean;
    etp: boolean;
    external: boolean;
    cluster: boolean;
    local: boolean;
    health: number;
  }
  const cases: { name: string; svc: V1Service; want: Flags }[] = [
    {
      name: "ClusterIP, iTP Cluster",
      svc: svc1(),
      want: { itp: false, etp: false, external: false, cluster: true, local: false, health: 0 },
    },
    {
      name: "ClusterIP, iTP Local",
      svc: svc1((s) => (s.spec.internalTrafficPolicy = "Local")),
      want: { itp: true, etp: false, external: false, cluster: false, local: true, health: 0 },
    },
    {
      name: "ClusterIP with eTP Local but no external IPs: eTP ignored",
      svc: svc1((s) => (s.spec.externalTrafficPolicy = "Local")),
      want: { itp: false, etp: false, external: false, cluster: true, local: false, health: 0 },
    },
    {
      name: "NodePort, eTP Local: Cluster endpoints still used for short-circuit",
      svc: exposed("NodePort", (s) => (s.spec.externalTrafficPolicy = "Local")),
      want: { itp: false, etp: true, external: true, cluster: true, local: true, health: 0 },
    },
    {
      name: "NodePort type without a nodePort value: eTP Local but not externally accessible",
      svc: svc1((s) => {
        s.spec.type = "NodePort";
        s.spec.externalTrafficPolicy = "Local";
        s.spec.internalTrafficPolicy = "Local";
      }),
      want: { itp: true, etp: true, external: false, cluster: false, local: true, health: 0 },
    },
    {
      name: "LoadBalancer, eTP Local: health-check node port",
      svc: exposed("LoadBalancer", (s) => {
        s.spec.externalTrafficPolicy = "Local";
        s.spec.healthCheckNodePort = 30000;
        setLoadBalancerIngress(s, TEST_LB_IP);
      }),
      want: { itp: false, etp: true, external: true, cluster: true, local: true, health: 30000 },
    },
    {
      name: "NodePort, eTP Local with healthCheckNodePort set: not a LoadBalancer, no health check",
      svc: exposed("NodePort", (s) => {
        s.spec.externalTrafficPolicy = "Local";
        s.spec.healthCheckNodePort = 30000;
      }),
      want: { itp: false, etp: true, external: true, cluster: true, local: true, health: 0 },
    },
    {
      name: "LoadBalancer, eTP Cluster: no health check",
      svc: exposed("LoadBalancer", (s) => {
        s.spec.externalTrafficPolicy = "Cluster";
        s.spec.healthCheckNodePort = 30000;
      }),
      want: { itp: false, etp: false, external: true, cluster: true, local: false, health: 0 },
    },
  ];
  for (const c of cases) {
    const got = only(bases(c.svc), c.name);
    assert.deepEqual(
      {
        internalPolicyLocal: got.internalPolicyLocal,
        externalPolicyLocal: got.externalPolicyLocal,
        externallyAccessible: got.externallyAccessible,
        usesClusterEndpoints: got.usesClusterEndpoints,
        usesLocalEndpoints: got.usesLocalEndpoints,
        healthCheckNodePort: got.healthCheckNodePort,
      },
      {
        internalPolicyLocal: c.want.itp,
        externalPolicyLocal: c.want.etp,
        externallyAccessible: c.want.external,
        usesClusterEndpoints: c.want.cluster,
        usesLocalEndpoints: c.want.local,
        healthCheckNodePort: c.want.health,
      },
      c.name,
    );
  }
});

Deno.test("parseService() skips only the bad port or address and warns", () => {
  const svc = makeService("ns1", "svc1", (s) => {
    setClusterIPs(s, "172.30.0.41");
    s.spec.type = "LoadBalancer";
    s.spec.externalIPs = ["not-an-ip", "", TEST_EXTERNAL_IP];
    s.spec.loadBalancerSourceRanges = ["bogus/99", "203.0.113.0/25"];
    s.spec.ports = [
      servicePort("good", 80, { nodePort: 3001 }),
      servicePort("badproto", 81, { protocol: "ICMP" }),
      servicePort("badport", 70000),
      servicePort("badnodeport", 82, { nodePort: 99999 }),
    ];
    setLoadBalancerIngress(s, "1.2.3.999", TEST_LB_IP);
  });
  const got = only(bases(svc), "the good port");
  assert.equal(got.key, "ns1/svc1:good");
  assert.deepEqual(got.externalIPs, [TEST_EXTERNAL_IP]);
  assert.deepEqual(got.loadBalancerVIPs, [TEST_LB_IP]);
  assert.deepEqual(got.loadBalancerSourceRanges, ["203.0.113.0/25"]);
  assert.deepEqual(warningsOf(svc), [
    'Skipping invalid external IP "not-an-ip"',
    'Skipping invalid load-balancer ingress IP "1.2.3.999"',
    'Skipping invalid loadBalancerSourceRange "bogus/99"',
    'Skipping port "badproto": unknown protocol "ICMP"',
    'Skipping port "badport": port 70000 is out of range',
    'Skipping port "badnodeport": nodePort 99999 is out of range',
  ]);
});

Deno.test("parseService() never throws on missing fields", () => {
  const weird: V1Service[] = [
    {},
    { metadata: {} },
    { spec: {} },
    { metadata: { name: "x", namespace: "y" }, spec: { clusterIP: "172.30.0.1" } },
    {
      metadata: { name: "x", namespace: "y" },
      spec: { clusterIP: "172.30.0.1", ipFamilies: ["IPv4"], ports: [{ port: 80 }] },
    },
  ];
  for (const svc of weird) {
    const warnings: string[] = [];
    assert.doesNotThrow(() => parseService(svc, warnings));
  }
  // An unnamed port without protocol is TCP (the API default); clusterIPs missing means none.
  assert.deepEqual(bases(weird[4]!), []);
});

Deno.test("parseService() shares one copy of equal port lists, never another Service's", () => {
  const portsOf = (name: string, ports: NonNullable<NonNullable<V1Service["spec"]>["ports"]>) =>
    parseService(
      makeService("ns1", name, (s) => {
        setClusterIPs(s, "172.30.0.41");
        s.spec.ports = ports;
      }),
      [],
    )?.ports;
  const a = portsOf("a", [servicePort("http", 80), servicePort("dns", 53, { protocol: "UDP" })]);
  const b = portsOf("b", [servicePort("http", 80), servicePort("dns", 53, { protocol: "UDP" })]);
  assert.ok(a !== undefined && a.length === 2);
  assert.equal(a, b, "one list for both Services");
  assert.ok(Object.isFrozen(a) && a.every((p) => Object.isFrozen(p)));
  // One port whose name spells the lookup key of `a`'s two ports.
  const odd = portsOf("odd", [
    servicePort("http\u0000TCP\u000080\u00000\u0001dns", 53, { protocol: "UDP" }),
  ]);
  assert.deepEqual(odd, [{
    portName: "http\u0000TCP\u000080\u00000\u0001dns",
    protocol: "UDP",
    port: 53,
    nodePort: 0,
  }]);
  const nodePort = portsOf("np", [servicePort("http", 80, { nodePort: 30080 })]);
  assert.deepEqual(nodePort?.map((p) => p.nodePort), [30080]);
  assert.notEqual(nodePort, portsOf("np2", [servicePort("http", 80, { nodePort: 30081 })]));
});

Deno.test("parseService() shares one affinity setting per timeout and keeps the name in the key", () => {
  const parse = (name: string, timeoutSeconds: number) =>
    parseService(
      makeService("ns1", name, (s) => {
        setClusterIPs(s, "172.30.0.41");
        s.spec.ports = [servicePort("http", 80)];
        s.spec.sessionAffinity = "ClientIP";
        s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds } };
      }),
      [],
    );
  const a = parse("a", 60);
  const b = parse("b", 60);
  const c = parse("c", 61);
  assert.ok(a !== null && b !== null && c !== null);
  assert.deepEqual(a.sessionAffinity, { timeoutSeconds: 60 });
  assert.equal(a.sessionAffinity, b.sessionAffinity);
  assert.deepEqual(c.sessionAffinity, { timeoutSeconds: 61 });
  assert.ok(Object.isFrozen(a.sessionAffinity));
  assert.equal(serviceNameOf(a), "a");
  const port = only(servicePortBases(a, "IPv4"), "a");
  assert.deepEqual([port.namespace, port.name, port.key], ["ns1", "a", "ns1/a:http"]);
});
