/**
 * kube-proxy configuration: read the v1alpha1 `KubeProxyConfiguration` file
 * ({@linkcode loadConfigFile} / {@linkcode decodeConfig}), resolve it into the frozen
 * {@linkcode ProxyConfig} ({@linkcode resolveConfig}), write it back
 * ({@linkcode dumpConfigYaml}), and the Go-compatible pieces the CLI shares (durations, feature
 * gates).
 *
 * ```ts
 * const decoded = await loadConfigFile(path, Deno.readTextFile);
 * for (const warning of decoded.warnings) log.info(warning);
 * const config = resolveConfig(decoded.file, { lineOf: decoded.lineOf, hostnameOverride });
 * ```
 *
 * @module
 */

export * from "./types.ts";
export { ConfigError, type ConfigProblem, formatProblem } from "./errors.ts";
export {
  formatGoDuration,
  formatGoDurationNanoseconds,
  parseGoDuration,
  parseGoDurationNanoseconds,
} from "./duration.ts";
export { decodeConfig, type DecodedConfig, loadConfigFile } from "./load.ts";
export { resolveConfig, type ResolveOptions } from "./resolve.ts";
export { DEFAULTS, KUBERNETES_VERSION } from "./defaults.ts";
export { configToFile, dumpConfigYaml } from "./write.ts";
export {
  checkFeatureGate,
  featureEnabled,
  type FeatureGateSpec,
  featureGateWarning,
  type FeatureStage,
  KNOWN_FEATURE_GATES,
  parseFeatureGatesFlag,
} from "./feature_gates.ts";
