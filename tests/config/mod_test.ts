import assert from "node:assert/strict";
import * as config from "../../src/config/mod.ts";

Deno.test("mod.ts re-exports the public surface of the config package", () => {
  for (
    const name of [
      "CONFIG_API_VERSION",
      "CONFIG_KIND",
      "ConfigError",
      "formatProblem",
      "parseGoDuration",
      "formatGoDuration",
      "parseGoDurationNanoseconds",
      "formatGoDurationNanoseconds",
      "decodeConfig",
      "loadConfigFile",
      "resolveConfig",
      "configToFile",
      "dumpConfigYaml",
      "DEFAULTS",
      "KUBERNETES_VERSION",
      "KNOWN_FEATURE_GATES",
      "checkFeatureGate",
      "featureEnabled",
      "featureGateWarning",
      "parseFeatureGatesFlag",
    ]
  ) {
    assert.ok(name in config, name);
  }
});

Deno.test("mod.ts supports the load → resolve → dump flow end to end", async () => {
  const decoded = await config.loadConfigFile("/kube-proxy.yaml", () =>
    Promise.resolve(
      "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: nftables\n",
    ));
  const resolved = config.resolveConfig(decoded.file, {
    lineOf: decoded.lineOf,
    hostnameOverride: "Node-A",
  });
  assert.equal(resolved.mode, "nftables");
  assert.equal(resolved.hostnameOverride, "node-a");
  assert.match(config.dumpConfigYaml(resolved), /^mode: nftables$/m);
});
