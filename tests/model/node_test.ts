import assert from "node:assert/strict";
import { nodeFactsEqual, parseNode, UNKNOWN_NODE } from "../../src/model/node.ts";
import {
  makeNode,
  NODE_POD_CIDR,
  NODE_POD_CIDR_V6,
  TEST_NODE_IP,
  TEST_NODE_IPV6,
  TEST_ZONE,
} from "../fixtures/k8s_builders.ts";

Deno.test("parseNode() orders InternalIP before ExternalIP addresses per family", () => {
  const warnings: string[] = [];
  const facts = parseNode(
    makeNode("test-node", (n) => {
      n.status.addresses = [
        { type: "ExternalIP", address: "203.0.113.10" },
        { type: "Hostname", address: "test-node" },
        { type: "InternalIP", address: TEST_NODE_IP },
        { type: "InternalIP", address: TEST_NODE_IPV6 },
        { type: "ExternalIP", address: "2001:db8:ffff::10" },
        { type: "InternalIP", address: "192.168.000.002" },
        { type: "InternalIP", address: "bogus" },
      ];
    }),
    warnings,
  );
  assert.deepEqual(facts.nodeIPs.IPv4, [TEST_NODE_IP, "203.0.113.10"]);
  assert.deepEqual(facts.nodeIPs.IPv6, [TEST_NODE_IPV6, "2001:db8:ffff::10"]);
  assert.deepEqual(warnings, ['Skipping invalid InternalIP "bogus"']);
});

Deno.test("parseNode() reads the zone label and pod CIDRs per family", () => {
  const facts = parseNode(
    makeNode("test-node", (n) => {
      n.metadata.labels["topology.kubernetes.io/zone"] = TEST_ZONE;
      n.spec.podCIDR = NODE_POD_CIDR;
      n.spec.podCIDRs = [NODE_POD_CIDR, NODE_POD_CIDR_V6];
    }),
    [],
  );
  assert.equal(facts.zone, TEST_ZONE);
  assert.deepEqual(facts.podCIDRs.IPv4, [NODE_POD_CIDR]);
  assert.deepEqual(facts.podCIDRs.IPv6, [NODE_POD_CIDR_V6]);
});

Deno.test("parseNode() falls back to the legacy spec.podCIDR", () => {
  const facts = parseNode(makeNode("test-node", (n) => (n.spec.podCIDR = NODE_POD_CIDR)), []);
  assert.deepEqual(facts.podCIDRs.IPv4, [NODE_POD_CIDR]);
});

Deno.test("parseNode() never throws on an empty Node", () => {
  assert.ok(nodeFactsEqual(parseNode({}, []), UNKNOWN_NODE));
});
