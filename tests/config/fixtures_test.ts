/** The three real-world files in tests/fixtures/configs, loaded the way the CLI loads them. */

import assert from "node:assert/strict";
import { loadConfigFile } from "../../src/config/load.ts";
import { resolveConfig } from "../../src/config/resolve.ts";
import type { ProxyConfig } from "../../src/config/types.ts";
import { expectedDefaults } from "./_expected.ts";

const DIR = new URL("../fixtures/configs/", import.meta.url);

async function load(name: string) {
  const decoded = await loadConfigFile(new URL(name, DIR).pathname, Deno.readTextFile);
  const config = resolveConfig(decoded.file, { lineOf: decoded.lineOf });
  return { decoded, config };
}

Deno.test("resolveConfig() gives pure defaults for kubeadm's zero-valued ConfigMap", async () => {
  const { decoded, config } = await load("kubeadm-v1.34-configmap-config.conf.yaml");
  assert.deepEqual(decoded.warnings, []);
  const expected: ProxyConfig = expectedDefaults({
    clientConnection: {
      ...expectedDefaults().clientConnection,
      kubeconfig: "/var/lib/kube-proxy/kubeconfig.conf",
    },
    clusterCIDRs: ["172.17.0.0/16"],
  });
  assert.deepEqual(config, expected);
});

Deno.test("loadConfigFile() reads kubernetes-the-hard-way's minimal config", async () => {
  const { decoded, config } = await load("kthw-kube-proxy-config.yaml");
  assert.deepEqual(decoded.warnings, []);
  assert.deepEqual(
    config,
    expectedDefaults({
      clientConnection: {
        ...expectedDefaults().clientConnection,
        kubeconfig: "/var/lib/kube-proxy/kubeconfig",
      },
      clusterCIDRs: ["10.200.0.0/16"],
    }),
  );
});

Deno.test("loadConfigFile() decodes the boshrelease file leniently, warning about its stale fields", async () => {
  const { decoded, config } = await load("k8s-boshrelease-issue58-unknown-fields.yaml");
  assert.deepEqual(decoded.warnings, [
    "Using lenient decoding as strict decoding failed: strict decoding error: " +
    'unknown field "conntrack.max" (line 14), unknown field "resourceContainer" (line 32), ' +
    'unknown field "udpIdleTimeout" (line 33)',
  ]);
  // Everything it sets equals a default, except the kubeconfig and cluster CIDR.
  assert.deepEqual(
    config,
    expectedDefaults({
      clientConnection: {
        ...expectedDefaults().clientConnection,
        kubeconfig: "/etc/kubeconfig.yml",
      },
      clusterCIDRs: ["10.244.0.0/16"],
    }),
  );
  assert.equal(decoded.lineOf("iptables.masqueradeBit"), 23);
});
