import assert from "node:assert/strict";
import { withNodeAddress, withUniqueHealthCheckPorts } from "../../scripts/bench/daemon_rss.ts";
import { makeSyntheticCluster } from "../../scripts/bench/synthetic_cluster.ts";

Deno.test("withNodeAddress() moves the Node's InternalIP and keeps the object given intact", () => {
  const { node } = makeSyntheticCluster({ services: 1, endpointsPerService: 1 });
  const moved = withNodeAddress(node, "192.0.2.1");
  assert.deepEqual(moved.status?.addresses, [{ type: "InternalIP", address: "192.0.2.1" }]);
  assert.deepEqual(node.status?.addresses, [{ type: "InternalIP", address: "192.168.0.2" }]);
  assert.equal(moved.metadata?.name, "node-0");
});

Deno.test("withUniqueHealthCheckPorts() gives every eTP=Local LoadBalancer its own port", () => {
  const { services } = makeSyntheticCluster({ services: 10000, endpointsPerService: 1 });
  const before = services.flatMap((s) => s.spec?.healthCheckNodePort ?? []);
  assert.ok(new Set(before).size < before.length, "the synthetic cluster reuses ports at 10k");
  const fixed = withUniqueHealthCheckPorts(services);
  const after = fixed.flatMap((s) => s.spec?.healthCheckNodePort ?? []);
  assert.equal(after.length, before.length);
  assert.equal(new Set(after).size, after.length);
  assert.ok(after.every((p) => p >= 30000 && p <= 32767));
  // Services without a health-check port are passed through as they are.
  assert.equal(fixed[0], services[0]);
});
