import assert from "node:assert/strict";
import { ConfigError } from "../../src/config/errors.ts";
import {
  checkFeatureGate,
  featureEnabled,
  featureGateWarning,
  KNOWN_FEATURE_GATES,
  parseFeatureGatesFlag,
} from "../../src/config/feature_gates.ts";

Deno.test("KNOWN_FEATURE_GATES holds the proxy-relevant and common Kubernetes gates", () => {
  for (
    const name of [
      "NFTablesProxyMode",
      "ServiceTrafficDistribution",
      "PreferSameTrafficDistribution",
      "TopologyAwareHints",
      "MultiCIDRServiceAllocator",
      "StrictIPCIDRValidation",
      "WinDSR",
      "WinOverlay",
      "AllAlpha",
      "AllBeta",
      "ContextualLogging",
      "LoggingAlphaOptions",
      "LoggingBetaOptions",
      "InPlacePodVerticalScaling",
      "SidecarContainers",
    ]
  ) {
    assert.ok(KNOWN_FEATURE_GATES.has(name), name);
  }
  assert.ok(KNOWN_FEATURE_GATES.size > 200);
  assert.deepEqual(KNOWN_FEATURE_GATES.get("NFTablesProxyMode"), {
    stage: "GA",
    default: true,
    locked: true,
  });
});

Deno.test("checkFeatureGate() rejects unknown names with upstream's message", () => {
  assert.equal(checkFeatureGate("Foo", true), "unrecognized feature gate: Foo");
  // Names are case-sensitive.
  assert.equal(
    checkFeatureGate("nftablesproxymode", true),
    "unrecognized feature gate: nftablesproxymode",
  );
});

Deno.test("checkFeatureGate() refuses to change a locked gate", () => {
  assert.equal(
    checkFeatureGate("NFTablesProxyMode", false),
    "cannot set feature gate NFTablesProxyMode to false, feature is locked to true",
  );
  assert.equal(checkFeatureGate("NFTablesProxyMode", true), undefined);
  assert.equal(
    checkFeatureGate("WatchFromStorageWithoutResourceVersion", true),
    "cannot set feature gate WatchFromStorageWithoutResourceVersion to true, feature is locked to false",
  );
  assert.equal(checkFeatureGate("StrictIPCIDRValidation", true), undefined);
  assert.equal(checkFeatureGate("TopologyManagerPolicyOptions", false), undefined);
});

Deno.test("featureGateWarning() warns about GA and deprecated gates only", () => {
  assert.equal(
    featureGateWarning("TopologyAwareHints", true),
    "Setting GA feature gate TopologyAwareHints=true. It will be removed in a future release.",
  );
  assert.equal(
    featureGateWarning("GitRepoVolumeDriver", true),
    "Setting deprecated feature gate GitRepoVolumeDriver=true. It will be removed in a future release.",
  );
  assert.equal(featureGateWarning("StrictIPCIDRValidation", true), undefined);
  assert.equal(featureGateWarning("Foo", true), undefined);
});

Deno.test("featureEnabled() uses the setting, then AllAlpha/AllBeta, then the default", () => {
  assert.equal(featureEnabled({}, "StrictIPCIDRValidation"), false);
  assert.equal(featureEnabled({ StrictIPCIDRValidation: true }, "StrictIPCIDRValidation"), true);
  assert.equal(featureEnabled({ AllAlpha: true }, "StrictIPCIDRValidation"), true);
  assert.equal(
    featureEnabled({ AllAlpha: true, StrictIPCIDRValidation: false }, "StrictIPCIDRValidation"),
    false,
  );
  assert.equal(featureEnabled({}, "LoggingBetaOptions"), true);
  assert.equal(featureEnabled({ AllBeta: false }, "LoggingBetaOptions"), false);
  assert.equal(featureEnabled({ AllAlpha: true }, "LoggingBetaOptions"), true);
  assert.equal(featureEnabled({}, "NFTablesProxyMode"), true);
  assert.equal(featureEnabled({ Foo: true }, "Foo"), false);
});

Deno.test("parseFeatureGatesFlag() parses name=bool pairs like upstream's flag", () => {
  assert.deepEqual(parseFeatureGatesFlag("A=true,B=false"), { A: true, B: false });
  assert.deepEqual(parseFeatureGatesFlag(" A = 1 ,, B=F,C=True,A=false"), {
    A: false,
    B: false,
    C: true,
  });
  assert.deepEqual(parseFeatureGatesFlag(""), {});
});

Deno.test("parseFeatureGatesFlag() rejects malformed pairs and non-boolean values", () => {
  assert.throws(() => parseFeatureGatesFlag("A,B=yes"), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(
      error.message,
      [
        'feature-gates: malformed pair "A", expected name=true or name=false',
        'feature-gates: invalid value of B: yes, err: strconv.ParseBool: parsing "yes": invalid syntax',
      ].join("\n"),
    );
    return true;
  });
});
