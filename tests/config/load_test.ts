import assert from "node:assert/strict";
import { ConfigError } from "../../src/config/errors.ts";
import { decodeConfig, loadConfigFile } from "../../src/config/load.ts";

const HEADER = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n";

/** Decodes `body` after the two header lines (so the body starts at line 3). */
function decode(body: string) {
  return decodeConfig(HEADER + body);
}

/** The rendered ConfigError message for `text`, failing if it decodes. */
function decodeError(text: string): string {
  try {
    decodeConfig(text);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("decodeConfig() reads a minimal file", () => {
  const decoded = decode("mode: nftables\nclusterCIDR: 10.200.0.0/16\n");
  assert.deepEqual(decoded.file, {
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
    mode: "nftables",
    clusterCIDR: "10.200.0.0/16",
  });
  assert.deepEqual(decoded.warnings, []);
});

Deno.test("decodeConfig() warns once about unknown fields and drops them", () => {
  const decoded = decode(
    "resourceContainer: /kube-proxy\nudpIdleTimeout: 250ms\nconntrack:\n  max: 0\n  min: 5\n",
  );
  assert.deepEqual(decoded.warnings, [
    "Using lenient decoding as strict decoding failed: strict decoding error: " +
    'unknown field "resourceContainer" (line 3), unknown field "udpIdleTimeout" (line 4), ' +
    'unknown field "conntrack.max" (line 6)',
  ]);
  assert.deepEqual(decoded.file.conntrack, { min: 5 });
  assert.equal("resourceContainer" in decoded.file, false);
});

Deno.test("decodeConfig() treats wrongly cased fields as unknown and suggests the right name", () => {
  const decoded = decode("BindAddress: 10.0.0.1\niptables:\n  MasqueradeAll: true\n");
  assert.deepEqual(decoded.warnings, [
    "Using lenient decoding as strict decoding failed: strict decoding error: " +
    'unknown field "BindAddress" (line 3, did you mean "bindAddress"?), ' +
    'unknown field "iptables.MasqueradeAll" (line 5, did you mean "masqueradeAll"?)',
  ]);
  assert.equal(decoded.file.bindAddress, undefined);
  assert.deepEqual(decoded.file.iptables, {});
});

Deno.test("decodeConfig() keeps the last of duplicate fields and warns", () => {
  const decoded = decode(
    "mode: ipvs\nmode: nftables\niptables:\n  syncPeriod: 1s\niptables:\n  masqueradeAll: true\n" +
      "featureGates:\n  Foo: true\n  Foo: false\n",
  );
  assert.deepEqual(decoded.warnings, [
    "Using lenient decoding as strict decoding failed: strict decoding error: " +
    'duplicate field "mode" (line 3), duplicate field "iptables" (line 5), ' +
    'duplicate field "featureGates.Foo" (line 10)',
  ]);
  assert.equal(decoded.file.mode, "nftables");
  // Like upstream's YAML→JSON step, the whole earlier mapping is replaced, not merged.
  assert.deepEqual(decoded.file.iptables, { masqueradeAll: true });
  assert.deepEqual(decoded.file.featureGates, { Foo: false });
  assert.equal(decoded.lineOf("mode"), 4);
  assert.equal(decoded.lineOf("iptables.masqueradeAll"), 8);
});

Deno.test("decodeConfig() does not type-check a duplicate that is overridden", () => {
  const decoded = decode("oomScoreAdj: lots\noomScoreAdj: -500\n");
  assert.equal(decoded.file.oomScoreAdj, -500);
  assert.equal(decoded.warnings.length, 1);
});

Deno.test("decodeConfig() keeps explicit null for pointer fields and leaves others unset", () => {
  const decoded = decode(
    [
      "iptables:",
      "  masqueradeBit: null",
      "  localhostNodePorts: ~",
      "  masqueradeAll:",
      "conntrack:",
      "  maxPerCore: null",
      "  tcpEstablishedTimeout: null",
      "oomScoreAdj: null",
      "nodePortAddresses: null",
      "featureGates: null",
      "hostnameOverride: null",
      "clientConnection: null",
      "ipvs:",
      "  excludeCIDRs:",
      "",
    ].join("\n"),
  );
  assert.deepEqual(decoded.file, {
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
    iptables: { masqueradeBit: null, localhostNodePorts: null },
    conntrack: { maxPerCore: null, tcpEstablishedTimeout: null },
    oomScoreAdj: null,
    nodePortAddresses: null,
    featureGates: null,
    ipvs: { excludeCIDRs: null },
  });
});

Deno.test("decodeConfig() keeps explicit zero values as written", () => {
  const decoded = decode(
    "iptables:\n  masqueradeBit: 0\n  syncPeriod: 0s\nclientConnection:\n  qps: 0\n",
  );
  assert.deepEqual(decoded.file.iptables, { masqueradeBit: 0, syncPeriod: "0s" });
  assert.deepEqual(decoded.file.clientConnection, { qps: 0 });
});

Deno.test("decodeConfig() accepts logging.flushFrequency as a duration or integer nanoseconds", () => {
  assert.equal(decode("logging:\n  flushFrequency: 2s\n").file.logging?.flushFrequency, "2s");
  assert.equal(
    decode("logging:\n  flushFrequency: 5000000000\n").file.logging?.flushFrequency,
    5_000_000_000,
  );
  assert.equal(
    decodeError(HEADER + "logging:\n  flushFrequency: 1.5\n"),
    'logging.flushFrequency: expected a duration string such as "5s" or integer nanoseconds, ' +
      "got number 1.5 (line 4)",
  );
});

Deno.test("decodeConfig() accepts YAML 1.1 booleans for boolean fields, as upstream's YAML parser does", () => {
  const decoded = decode("enableProfiling: yes\niptables:\n  masqueradeAll: on\n");
  assert.equal(decoded.file.enableProfiling, true);
  assert.equal(decoded.file.iptables?.masqueradeAll, true);
});

Deno.test("decodeConfig() records the line of every decoded field", () => {
  const decoded = decode(
    "nodePortAddresses:\n  - 10.0.0.0/8\n  - bad\nipvs:\n  excludeCIDRs: [a, b]\nfeatureGates:\n  Foo: true\n",
  );
  assert.equal(decoded.lineOf("apiVersion"), 1);
  assert.equal(decoded.lineOf("nodePortAddresses"), 3);
  assert.equal(decoded.lineOf("nodePortAddresses[1]"), 5);
  assert.equal(decoded.lineOf("ipvs.excludeCIDRs[1]"), 7);
  assert.equal(decoded.lineOf("featureGates.Foo"), 9);
  assert.equal(decoded.lineOf("iptables.syncPeriod"), undefined);
});

Deno.test("decodeConfig() rejects type mismatches, listing every one with path and line", () => {
  const body = [
    "iptables:",
    "  syncPeriod: 30", // 4
    '  masqueradeBit: "14"', // 5
    '  masqueradeAll: "true"', // 6
    "hostnameOverride: 1234", // 7
    "nodePortAddresses: 10.0.0.0/8", // 8
    "configSyncPeriod:", // 9
    "featureGates: Foo=true", // 10
    "showHiddenMetricsForVersion: 1.35", // 11
    "oomScoreAdj: 1.5", // 12
    "clientConnection:", // 13
    '  qps: "5"', // 14
    "  burst: 4294967296", // 15
    "conntrack: 5", // 16
    "ipvs:", // 17
    "  excludeCIDRs: [10.0.0.0/8, 12]", // 18
    "  tcpTimeout: 1d", // 19
    "logging:", // 20
    "  verbosity: -1", // 21
    "  vmodule: {a: 1}", // 22
    "  options:", // 23
    "    text:", // 24
    "      infoBufferSize: lots", // 25
    "nftables:", // 26
    "  syncPeriod: true", // 27
    "",
  ].join("\n");
  assert.equal(
    decodeError(HEADER + body),
    [
      'iptables.syncPeriod: expected a duration string such as "30s", got number 30 (line 4)',
      'iptables.masqueradeBit: expected an integer, got string "14" (remove the quotes) (line 5)',
      'iptables.masqueradeAll: expected a boolean (true or false), got string "true" (line 6)',
      'hostnameOverride: expected a string, got number 1234 (quote it if "1234" is meant as text) (line 7)',
      'nodePortAddresses: expected a list of strings, got string "10.0.0.0/8" (line 8)',
      'configSyncPeriod: time: invalid duration "" (line 9)',
      'featureGates: expected a map of feature gate names to booleans (Name: true), got string "Foo=true" (line 10)',
      'showHiddenMetricsForVersion: expected a string, got number 1.35 (quote it if "1.35" is meant as text) (line 11)',
      "oomScoreAdj: expected a 32-bit integer, got number 1.5 (line 12)",
      'clientConnection.qps: expected a number, got string "5" (line 14)',
      "clientConnection.burst: expected a 32-bit integer, got number 4294967296 (line 15)",
      "conntrack: expected a mapping, got number 5 (line 16)",
      'ipvs.excludeCIDRs[1]: expected a string, got number 12 (quote it if "12" is meant as text) (line 18)',
      'ipvs.tcpTimeout: time: unknown unit "d" in duration "1d" (line 19)',
      "logging.verbosity: expected a non-negative 32-bit integer, got number -1 (line 21)",
      "logging.vmodule: expected a list, got a mapping (line 22)",
      'logging.options.text.infoBufferSize: expected a quantity such as "0" or "64Ki", got string "lots" (line 25)',
      'nftables.syncPeriod: expected a duration string such as "30s", got boolean true (line 27)',
    ].join("\n"),
  );
});

Deno.test("decodeConfig() rejects a null non-pointer duration as Go's parser does", () => {
  assert.equal(
    decodeError(HEADER + "iptables:\n  syncPeriod: null\n"),
    'iptables.syncPeriod: time: invalid duration "" (line 4)',
  );
});

Deno.test("decodeConfig() rejects invalid duration text", () => {
  assert.equal(
    decodeError(HEADER + 'iptables:\n  minSyncPeriod: "30"\n'),
    'iptables.minSyncPeriod: time: missing unit in duration "30" (line 4)',
  );
});

Deno.test("decodeConfig() requires feature gate values to be booleans", () => {
  assert.equal(
    decodeError(HEADER + "featureGates:\n  Foo: 1\n  Bar:\n"),
    [
      "featureGates.Foo: expected a boolean (true or false), got number 1 (line 4)",
      "featureGates.Bar: expected a boolean (true or false), got null (line 5)",
    ].join("\n"),
  );
});

Deno.test("decodeConfig() reports unknown fields inside vmodule items", () => {
  const decoded = decode(
    "logging:\n  vmodule:\n    - filePattern: proxier*\n      verbosity: 4\n      level: 2\n",
  );
  assert.deepEqual(decoded.file.logging?.vmodule, [{ filePattern: "proxier*", verbosity: 4 }]);
  assert.match(
    decoded.warnings[0] ?? "",
    /unknown field "logging\.vmodule\[0\]\.level" \(line 7\)/,
  );
});

Deno.test("decodeConfig() requires apiVersion and kind, naming the expected values", () => {
  assert.equal(
    decodeError("mode: iptables\n"),
    [
      'apiVersion: is missing, expected "kubeproxy.config.k8s.io/v1alpha1"',
      'kind: is missing, expected "KubeProxyConfiguration"',
    ].join("\n"),
  );
  assert.equal(
    decodeError("apiVersion: componentconfig/v1alpha1\nkind: KubeProxyConfiguration\n"),
    'apiVersion: unsupported version "componentconfig/v1alpha1" (the pre-1.10 componentconfig ' +
      'group is no longer accepted), expected "kubeproxy.config.k8s.io/v1alpha1" (line 1)',
  );
  assert.equal(
    decodeError("apiVersion: kubeproxy.config.k8s.io/v1alpha2\nkind: KubeProxyConfiguration\n"),
    'apiVersion: unsupported version "kubeproxy.config.k8s.io/v1alpha2" (v1alpha1 is the only ' +
      'version kube-proxy registers), expected "kubeproxy.config.k8s.io/v1alpha1" (line 1)',
  );
  assert.equal(
    decodeError("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeSchedulerConfiguration\n"),
    'kind: unsupported kind "KubeSchedulerConfiguration", expected "KubeProxyConfiguration" (line 2)',
  );
});

Deno.test("decodeConfig() reports a non-string apiVersion or kind once", () => {
  assert.equal(
    decodeError("apiVersion: 1\nkind: [KubeProxyConfiguration]\n"),
    [
      'apiVersion: expected a string, got number 1 (quote it if "1" is meant as text) (line 1)',
      "kind: expected a string, got a list (line 2)",
    ].join("\n"),
  );
});

Deno.test("decodeConfig() rejects a document that is not a mapping or is empty", () => {
  assert.equal(
    decodeError("Twas bryllyg, and ye slythy toves\nDid gyre and gimble in the wabe\n"),
    'the configuration must be a YAML mapping with apiVersion and kind, got string "Twas ' +
      'bryllyg, and ye slythy toves Did gyre and gimble in the wabe" (line 1)',
  );
  assert.equal(
    decodeError("- a\n"),
    "the configuration must be a YAML mapping with apiVersion and kind, got a list (line 1)",
  );
  const empty = "the configuration is empty, expected a KubeProxyConfiguration document " +
    "(apiVersion: kubeproxy.config.k8s.io/v1alpha1, kind: KubeProxyConfiguration)";
  assert.equal(decodeError(""), empty);
  assert.equal(decodeError("# just a comment\n"), empty);
  assert.equal(decodeError("---\n"), empty);
});

Deno.test("decodeConfig() reports YAML syntax errors with their line", () => {
  assert.equal(
    decodeError(HEADER + "bindAddress: ::\n"),
    'invalid YAML: bad indentation of a mapping entry at column 15 (a value starting with ":" ' +
      'such as the IPv6 address "::" must be quoted) (line 3)',
  );
  // Quoted, or written as ::0, it is fine.
  assert.equal(decode('bindAddress: "::"\n').file.bindAddress, "::");
  assert.equal(decode("bindAddress: ::0\n").file.bindAddress, "::0");
});

Deno.test("decodeConfig() accepts a byte-order mark and CRLF line ends", () => {
  const text = "\uFEFF---\r\n" + HEADER.replaceAll("\n", "\r\n") +
    "mode: nftables\r\n---\r\nx: [\r\n";
  const decoded = decodeConfig(text);
  assert.equal(decoded.file.mode, "nftables");
  assert.equal(decoded.lineOf("mode"), 4);
});

Deno.test("decodeConfig() ignores documents after the first", () => {
  const decoded = decodeConfig("---\n" + HEADER + "mode: nftables\n---\nmode: [broken\n");
  assert.equal(decoded.file.mode, "nftables");
});

Deno.test("loadConfigFile() reads through the injected reader", async () => {
  const decoded = await loadConfigFile("/etc/kube-proxy.yaml", (path) => {
    assert.equal(path, "/etc/kube-proxy.yaml");
    return Promise.resolve(HEADER + "mode: nftables\n");
  });
  assert.equal(decoded.file.mode, "nftables");
});

Deno.test("loadConfigFile() names the path of a missing file", async () => {
  await assert.rejects(
    loadConfigFile("/x.yaml", (path) => Deno.readTextFile(path)),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.message, "open /x.yaml: no such file or directory");
      assert.ok(error.cause instanceof Deno.errors.NotFound);
      return true;
    },
  );
});

Deno.test("loadConfigFile() reports other read errors with their reason", async () => {
  await assert.rejects(
    loadConfigFile("/etc", (path) => Deno.readTextFile(path)),
    { name: "ConfigError", message: "open /etc: is a directory" },
  );
});
