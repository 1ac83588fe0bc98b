import assert from "node:assert/strict";
import type { V1Service } from "@kubernetes/client-node";
import {
  parseService,
  type ServicePortBase,
  servicePortBases,
  servicePortKey,
} from "../../src/model/service_port.ts";
import {
  makeService,
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

function only(list: ServicePortBase[]): ServicePortBase {
  assert.equal(list.length, 1, "expected exactly one service port");
  const first = list[0];
  assert.ok(first !== undefined);
  return first;
}

Deno.test("servicePortKey() formats upstream's ServicePortName.String()", () => {
  assert.equal(servicePortKey("ns1", "svc1", "p80"), "ns1/svc1:p80");
  assert.equal(servicePortKey("ns1", "svc1", ""), "ns1/svc1");
});

Deno.test("parseService() skips Services kube-proxy does not proxy", () => {
  const cases: { name: string; svc: V1Service }[] = [
    {
      name: "ExternalName",
      svc: makeService("ns1", "svc1", (s) => {
        setClusterIPs(s, "172.30.0.41");
        s.spec.type = "ExternalName";
        s.spec.externalName = "example.com";
        s.spec.ports = [servicePort("p80", 80)];
      }),
    },
    {
      name: "headless",
      svc: makeService("ns1", "svc1", (s) => {
        s.spec.clusterIP = "None";
        s.spec.clusterIPs = ["None"];
        s.spec.ports = [servicePort("p80", 80)];
      }),
    },
    {
      name: "no clusterIP",
      svc: makeService("ns1", "svc1", (s) => {
        s.spec.ports = [servicePort("p80", 80)];
      }),
    },
    {
      name: "service-proxy-name label",
      svc: makeService("ns1", "svc1", (s) => {
        setClusterIPs(s, "172.30.0.41");
        s.metadata.labels = { "service.kubernetes.io/service-proxy-name": "other-proxy" };
        s.spec.ports = [servicePort("p80", 80)];
      }),
    },
    {
      name: "invalid clusterIP",
      svc: makeService("ns1", "svc1", (s) => {
        setClusterIPs(s, "172.30.0.300");
        s.spec.ports = [servicePort("p80", 80)];
      }),
    },
  ];
  for (const c of cases) {
    assert.deepEqual(bases(c.svc), [], c.name);
    assert.deepEqual(bases(c.svc, "IPv6"), [], c.name);
  }
  assert.deepEqual(warningsOf(cases[4]!.svc), ['Ignoring invalid IPv4 clusterIP "172.30.0.300"']);
});

Deno.test("servicePortBases() reads a ClusterIP Service port", () => {
  const svc = makeService("ns1", "svc1", (s) => {
    setClusterIPs(s, "172.30.0.041");
    s.spec.ports = [servicePort("p80", 80), servicePort("", 53, { protocol: "UDP" })];
  });
  const got = bases(svc);
  assert.equal(got.length, 2);
  assert.deepEqual(got[0], {
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

Deno.test("servicePortBases() gives each family only its own addresses (dual-stack)", () => {
  const svc = makeService("ns1", "svc1", (s) => {
    setClusterIPs(s, "172.30.0.41", "fd00:172:30::41");
    s.spec.type = "LoadBalancer";
    s.spec.externalIPs = [TEST_EXTERNAL_IP, "fd00:192:168:99::11"];
    s.spec.loadBalancerSourceRanges = [" 203.0.113.0/25", "2001:db8:113::/64"];
    s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
    setLoadBalancerIngress(s, TEST_LB_IP, "2001:db8:4::4");
  });
  const v4 = only(bases(svc, "IPv4"));
  assert.equal(v4.clusterIP, "172.30.0.41");
  assert.deepEqual(v4.externalIPs, [TEST_EXTERNAL_IP]);
  assert.deepEqual(v4.loadBalancerVIPs, [TEST_LB_IP]);
  assert.deepEqual(v4.loadBalancerSourceRanges, ["203.0.113.0/25"]);
  const v6 = only(bases(svc, "IPv6"));
  assert.equal(v6.clusterIP, "fd00:172:30::41");
  assert.equal(v6.family, "IPv6");
  assert.deepEqual(v6.externalIPs, ["fd00:192:168:99::11"]);
  assert.deepEqual(v6.loadBalancerVIPs, ["2001:db8:4::4"]);
  assert.deepEqual(v6.loadBalancerSourceRanges, ["2001:db8:113::/64"]);
});

Deno.test("servicePortBases() yields nothing for a family the Service does not have", () => {
  const v6only = makeService("ns1", "svc1", (s) => {
    setClusterIPs(s, "fd00:172:30::41");
    s.spec.ports = [servicePort("p80", 80)];
  });
  assert.deepEqual(bases(v6only, "IPv4"), []);
  assert.equal(only(bases(v6only, "IPv6")).clusterIP, "fd00:172:30::41");
});

Deno.test("servicePortBases() falls back to spec.clusterIP when ipFamilies is absent", () => {
  const svc = makeService("ns1", "svc1", (s) => {
    s.spec.clusterIP = "172.30.0.41";
    s.spec.ports = [servicePort("p80", 80)];
  });
  assert.equal(only(bases(svc, "IPv4")).clusterIP, "172.30.0.41");
  assert.deepEqual(bases(svc, "IPv6"), []);
});

Deno.test("servicePortBases() reads NodePort and LoadBalancer fields", () => {
  const cases: {
    name: string;
    svc: V1Service;
    want: Partial<ServicePortBase>;
  }[] = [
    {
      name: "NodePort",
      svc: makeService("ns1", "svc1", (s) => {
        setClusterIPs(s, "172.30.0.41");
        s.spec.type = "NodePort";
        s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
      }),
      want: { serviceType: "NodePort", nodePort: 3001, externallyAccessible: true },
    },
    {
      name: "LoadBalancer with ingress IP",
      svc: makeService("ns1", "svc1", (s) => {
        setClusterIPs(s, "172.30.0.41");
        s.spec.type = "LoadBalancer";
        s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
        setLoadBalancerIngress(s, TEST_LB_IP);
      }),
      want: { nodePort: 3001, loadBalancerVIPs: [TEST_LB_IP], externallyAccessible: true },
    },
    {
      name: "LoadBalancer with allocateLoadBalancerNodePorts: false",
      svc: makeService("ns1", "svc1", (s) => {
        setClusterIPs(s, "172.30.0.41");
        s.spec.type = "LoadBalancer";
        s.spec.allocateLoadBalancerNodePorts = false;
        s.spec.ports = [servicePort("p80", 80)];
        setLoadBalancerIngress(s, TEST_LB_IP);
      }),
      want: { nodePort: 0, loadBalancerVIPs: [TEST_LB_IP], externallyAccessible: true },
    },
    {
      name: "LoadBalancer ipMode Proxy gets no VIP",
      svc: makeService("ns1", "svc1", (s) => {
        setClusterIPs(s, "172.30.0.41");
        s.spec.type = "LoadBalancer";
        s.spec.allocateLoadBalancerNodePorts = false;
        s.spec.ports = [servicePort("p80", 80)];
        setLoadBalancerIngress(s, { ip: TEST_LB_IP, ipMode: "Proxy" }, {
          ip: "5.6.7.8",
          ipMode: "VIP",
        });
      }),
      want: { loadBalancerVIPs: ["5.6.7.8"] },
    },
    {
      name: "LoadBalancer hostname-only ingress",
      svc: makeService("ns1", "svc1", (s) => {
        setClusterIPs(s, "172.30.0.41");
        s.spec.type = "LoadBalancer";
        s.spec.allocateLoadBalancerNodePorts = false;
        s.spec.ports = [servicePort("p80", 80)];
        s.status.loadBalancer = { ingress: [{ hostname: "lb.example.com" }] };
      }),
      want: { loadBalancerVIPs: [], externallyAccessible: false },
    },
    {
      name: "ClusterIP with externalIPs",
      svc: makeService("ns1", "svc1", (s) => {
        setClusterIPs(s, "172.30.0.41");
        s.spec.externalIPs = [TEST_EXTERNAL_IP, "192.168.099.012"];
        s.spec.ports = [servicePort("p80", 80)];
      }),
      want: { externalIPs: [TEST_EXTERNAL_IP, "192.168.99.12"], externallyAccessible: true },
    },
    {
      name: "source ranges are trimmed and normalised",
      svc: makeService("ns1", "svc1", (s) => {
        setClusterIPs(s, "172.30.0.41");
        s.spec.type = "LoadBalancer";
        s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
        s.spec.loadBalancerSourceRanges = [" 203.0.113.000/025", "198.51.100.0/24 "];
      }),
      want: { loadBalancerSourceRanges: ["203.0.113.0/25", "198.51.100.0/24"] },
    },
    {
      name: "a zero CIDR empties the source ranges (allow all)",
      svc: makeService("ns1", "svc1", (s) => {
        setClusterIPs(s, "172.30.0.41");
        s.spec.type = "LoadBalancer";
        s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
        s.spec.loadBalancerSourceRanges = ["203.0.113.0/25", "0.0.0.0/0"];
      }),
      want: { loadBalancerSourceRanges: [] },
    },
    {
      name: "a zero CIDR of the other family does not empty this family's ranges",
      svc: makeService("ns1", "svc1", (s) => {
        setClusterIPs(s, "172.30.0.41");
        s.spec.type = "LoadBalancer";
        s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
        s.spec.loadBalancerSourceRanges = ["203.0.113.0/25", "::/0"];
      }),
      want: { loadBalancerSourceRanges: ["203.0.113.0/25"] },
    },
  ];
  for (const c of cases) {
    const got = only(bases(c.svc));
    for (const [field, value] of Object.entries(c.want)) {
      assert.deepEqual(got[field as keyof ServicePortBase], value, `${c.name}: ${field}`);
    }
  }
});

Deno.test("servicePortBases() derives traffic-policy flags as upstream", () => {
  type Want = Pick<
    ServicePortBase,
    | "internalPolicyLocal"
    | "externalPolicyLocal"
    | "externallyAccessible"
    | "usesClusterEndpoints"
    | "usesLocalEndpoints"
    | "healthCheckNodePort"
  >;
  const cases: { name: string; svc: V1Service; want: Want }[] = [
    {
      name: "ClusterIP, iTP Cluster",
      svc: makeService("ns1", "svc1", (s) => {
        setClusterIPs(s, "172.30.0.41");
        s.spec.ports = [servicePort("p80", 80)];
      }),
      want: {
        internalPolicyLocal: false,
        externalPolicyLocal: false,
        externallyAccessible: false,
        usesClusterEndpoints: true,
        usesLocalEndpoints: false,
        healthCheckNodePort: 0,
      },
    },
    {
      name: "ClusterIP, iTP Local",
      svc: makeService("ns1", "svc1", (s) => {
        setClusterIPs(s, "172.30.0.41");
        s.spec.internalTrafficPolicy = "Local";
        s.spec.ports = [servicePort("p80", 80)];
      }),
      want: {
        internalPolicyLocal: true,
        externalPolicyLocal: false,
        externallyAccessible: false,
        usesClusterEndpoints: false,
        usesLocalEndpoints: true,
        healthCheckNodePort: 0,
      },
    },
    {
      name: "ClusterIP with eTP Local but no external IPs: eTP ignored",
      svc: makeService("ns1", "svc1", (s) => {
        setClusterIPs(s, "172.30.0.41");
        s.spec.externalTrafficPolicy = "Local";
        s.spec.ports = [servicePort("p80", 80)];
      }),
      want: {
        internalPolicyLocal: false,
        externalPolicyLocal: false,
        externallyAccessible: false,
        usesClusterEndpoints: true,
        usesLocalEndpoints: false,
        healthCheckNodePort: 0,
      },
    },
    {
      name: "NodePort, eTP Local: Cluster endpoints still used for short-circuit",
      svc: makeService("ns1", "svc1", (s) => {
        setClusterIPs(s, "172.30.0.41");
        s.spec.type = "NodePort";
        s.spec.externalTrafficPolicy = "Local";
        s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
      }),
      want: {
        internalPolicyLocal: false,
        externalPolicyLocal: true,
        externallyAccessible: true,
        usesClusterEndpoints: true,
        usesLocalEndpoints: true,
        healthCheckNodePort: 0,
      },
    },
    {
      name: "NodePort type without a nodePort value: eTP Local but not externally accessible",
      svc: makeService("ns1", "svc1", (s) => {
        setClusterIPs(s, "172.30.0.41");
        s.spec.type = "NodePort";
        s.spec.externalTrafficPolicy = "Local";
        s.spec.internalTrafficPolicy = "Local";
        s.spec.ports = [servicePort("p80", 80)];
      }),
      want: {
        internalPolicyLocal: true,
        externalPolicyLocal: true,
        externallyAccessible: false,
        usesClusterEndpoints: false,
        usesLocalEndpoints: true,
        healthCheckNodePort: 0,
      },
    },
    {
      name: "LoadBalancer, eTP Local: health-check node port",
      svc: makeService("ns1", "svc1", (s) => {
        setClusterIPs(s, "172.30.0.41");
        s.spec.type = "LoadBalancer";
        s.spec.externalTrafficPolicy = "Local";
        s.spec.healthCheckNodePort = 30000;
        s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
        setLoadBalancerIngress(s, TEST_LB_IP);
      }),
      want: {
        internalPolicyLocal: false,
        externalPolicyLocal: true,
        externallyAccessible: true,
        usesClusterEndpoints: true,
        usesLocalEndpoints: true,
        healthCheckNodePort: 30000,
      },
    },
    {
      name: "NodePort, eTP Local with healthCheckNodePort set: not a LoadBalancer, no health check",
      svc: makeService("ns1", "svc1", (s) => {
        setClusterIPs(s, "172.30.0.41");
        s.spec.type = "NodePort";
        s.spec.externalTrafficPolicy = "Local";
        s.spec.healthCheckNodePort = 30000;
        s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
      }),
      want: {
        internalPolicyLocal: false,
        externalPolicyLocal: true,
        externallyAccessible: true,
        usesClusterEndpoints: true,
        usesLocalEndpoints: true,
        healthCheckNodePort: 0,
      },
    },
    {
      name: "LoadBalancer, eTP Cluster: no health check",
      svc: makeService("ns1", "svc1", (s) => {
        setClusterIPs(s, "172.30.0.41");
        s.spec.type = "LoadBalancer";
        s.spec.externalTrafficPolicy = "Cluster";
        s.spec.healthCheckNodePort = 30000;
        s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
      }),
      want: {
        internalPolicyLocal: false,
        externalPolicyLocal: false,
        externallyAccessible: true,
        usesClusterEndpoints: true,
        usesLocalEndpoints: false,
        healthCheckNodePort: 0,
      },
    },
  ];
  for (const c of cases) {
    const got = only(bases(c.svc));
    const picked: Want = {
      internalPolicyLocal: got.internalPolicyLocal,
      externalPolicyLocal: got.externalPolicyLocal,
      externallyAccessible: got.externallyAccessible,
      usesClusterEndpoints: got.usesClusterEndpoints,
      usesLocalEndpoints: got.usesLocalEndpoints,
      healthCheckNodePort: got.healthCheckNodePort,
    };
    assert.deepEqual(picked, c.want, c.name);
  }
});

Deno.test("servicePortBases() reads ClientIP session affinity with the 10800 s default", () => {
  const withTimeout = makeService("ns1", "svc1", (s) => {
    setClusterIPs(s, "172.30.0.41");
    s.spec.sessionAffinity = "ClientIP";
    s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 300 } };
    s.spec.ports = [servicePort("p80", 80)];
  });
  assert.deepEqual(only(bases(withTimeout)).sessionAffinity, { timeoutSeconds: 300 });
  const defaulted = makeService("ns1", "svc1", (s) => {
    setClusterIPs(s, "172.30.0.41");
    s.spec.sessionAffinity = "ClientIP";
    s.spec.ports = [servicePort("p80", 80)];
  });
  assert.deepEqual(only(bases(defaulted)).sessionAffinity, { timeoutSeconds: 10800 });
  const none = makeService("ns1", "svc1", (s) => {
    setClusterIPs(s, "172.30.0.41");
    s.spec.sessionAffinity = "None";
    s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 300 } };
    s.spec.ports = [servicePort("p80", 80)];
  });
  assert.equal(only(bases(none)).sessionAffinity, null);
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
  const got = only(bases(svc));
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

Deno.test("parseService() defaults an absent protocol to TCP", () => {
  const svc = makeService("ns1", "svc1", (s) => {
    setClusterIPs(s, "172.30.0.41");
    s.spec.ports = [{ name: "p80", port: 80 }];
  });
  assert.equal(only(bases(svc)).protocol, "TCP");
});
