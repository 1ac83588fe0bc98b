import assert from "node:assert/strict";
import { buildLocalDetectors, detectorsEqual } from "../../src/model/local_detect.ts";
import type { LocalTrafficDetector, TableOptions } from "../../src/model/types.ts";
import {
  NODE_POD_CIDR,
  NODE_POD_CIDR_V6,
  POD_CIDR,
  POD_CIDR_V6,
} from "../fixtures/k8s_builders.ts";

type DetectorOptions = Pick<
  TableOptions,
  "detectLocalMode" | "clusterCIDRs" | "bridgeInterface" | "interfaceNamePrefix"
>;

function opts(over: Partial<DetectorOptions>): DetectorOptions {
  return {
    detectLocalMode: "ClusterCIDR",
    clusterCIDRs: [],
    bridgeInterface: "",
    interfaceNamePrefix: "",
    ...over,
  };
}

const NONE: LocalTrafficDetector = { kind: "none" };
const NO_POD_CIDRS = { IPv4: [], IPv6: [] };

Deno.test("buildLocalDetectors() resolves each detectLocalMode per family", () => {
  const cases: {
    name: string;
    options: DetectorOptions;
    podCIDRs?: { IPv4: string[]; IPv6: string[] };
    v4: LocalTrafficDetector;
    v6: LocalTrafficDetector;
  }[] = [
    {
      name: "ClusterCIDR, dual-stack",
      options: opts({ clusterCIDRs: [POD_CIDR, POD_CIDR_V6] }),
      v4: { kind: "cidr", cidrs: [POD_CIDR] },
      v6: { kind: "cidr", cidrs: [POD_CIDR_V6] },
    },
    {
      name: "ClusterCIDR uses the first CIDR of each family, normalised",
      options: opts({ clusterCIDRs: [" 010.0.0.0/8", "10.1.0.0/16", "FD00:10::/64"] }),
      v4: { kind: "cidr", cidrs: ["10.0.0.0/8"] },
      v6: { kind: "cidr", cidrs: [POD_CIDR_V6] },
    },
    {
      name: "ClusterCIDR without an IPv6 CIDR: no-op detector for IPv6",
      options: opts({ clusterCIDRs: [POD_CIDR] }),
      v4: { kind: "cidr", cidrs: [POD_CIDR] },
      v6: NONE,
    },
    {
      name: "ClusterCIDR with no CIDRs: no-op detectors",
      options: opts({ clusterCIDRs: [] }),
      v4: NONE,
      v6: NONE,
    },
    {
      name: "NodeCIDR uses the node's pod CIDRs",
      options: opts({ detectLocalMode: "NodeCIDR", clusterCIDRs: [POD_CIDR] }),
      podCIDRs: { IPv4: [NODE_POD_CIDR], IPv6: [NODE_POD_CIDR_V6] },
      v4: { kind: "cidr", cidrs: [NODE_POD_CIDR] },
      v6: { kind: "cidr", cidrs: [NODE_POD_CIDR_V6] },
    },
    {
      name: "NodeCIDR before the node has pod CIDRs: no-op detectors",
      options: opts({ detectLocalMode: "NodeCIDR" }),
      v4: NONE,
      v6: NONE,
    },
    {
      name: "BridgeInterface applies to both families",
      options: opts({ detectLocalMode: "BridgeInterface", bridgeInterface: "cbr0" }),
      v4: { kind: "interface", name: "cbr0" },
      v6: { kind: "interface", name: "cbr0" },
    },
    {
      name: "InterfaceNamePrefix applies to both families",
      options: opts({ detectLocalMode: "InterfaceNamePrefix", interfaceNamePrefix: "veth" }),
      v4: { kind: "interfacePrefix", prefix: "veth" },
      v6: { kind: "interfacePrefix", prefix: "veth" },
    },
    {
      name: "BridgeInterface without a name: no-op detectors",
      options: opts({ detectLocalMode: "BridgeInterface" }),
      v4: NONE,
      v6: NONE,
    },
  ];
  for (const c of cases) {
    const got = buildLocalDetectors(c.options, c.podCIDRs ?? NO_POD_CIDRS);
    assert.deepEqual(got.IPv4, c.v4, `${c.name}: IPv4`);
    assert.deepEqual(got.IPv6, c.v6, `${c.name}: IPv6`);
    assert.ok(Object.isFrozen(got.IPv4) && Object.isFrozen(got.IPv6), c.name);
  }
});

Deno.test("detectorsEqual() compares detector descriptions by value", () => {
  assert.ok(detectorsEqual({ kind: "none" }, { kind: "none" }));
  assert.ok(detectorsEqual({ kind: "cidr", cidrs: ["10.0.0.0/8"] }, {
    kind: "cidr",
    cidrs: ["10.0.0.0/8"],
  }));
  assert.ok(!detectorsEqual({ kind: "cidr", cidrs: ["10.0.0.0/8"] }, { kind: "none" }));
  assert.ok(!detectorsEqual({ kind: "interface", name: "a" }, { kind: "interface", name: "b" }));
  assert.ok(
    !detectorsEqual({ kind: "interface", name: "a" }, { kind: "interfacePrefix", prefix: "a" }),
  );
});
