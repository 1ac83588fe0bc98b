/**
 * The file as written → the {@linkcode ProxyConfig} the program runs with, in upstream's order
 * (reference/config.md §6, "Processing order"): defaults, Linux platform defaults,
 * `--hostname-override`, feature gates and validation (every problem collected), then the
 * selected mode's sync periods and masquerade settings (§3). The result is deep-frozen.
 *
 * @module
 */

import { applyDefaults, applyPlatformDefaults, type DefaultedConfig } from "./defaults.ts";
import { ProblemList } from "./errors.ts";
import { featureGateWarning } from "./feature_gates.ts";
import type {
  ImplementedProxyMode,
  KubeProxyConfigurationFile,
  LocalModeName,
  ProxyConfig,
} from "./types.ts";
import { validateConfig } from "./validate.ts";

/** Inputs to {@linkcode resolveConfig} besides the file. */
export interface ResolveOptions {
  /** Lines of the decoded file (`DecodedConfig.lineOf`), so problems can point into it. */
  lineOf?: (path: string) => number | undefined;
  /** `--hostname-override`: wins over the file when non-empty. */
  hostnameOverride?: string;
  /**
   * The deprecated `--healthz-port` / `--metrics-port` results, applied after defaulting as
   * upstream does (so `--healthz-port=0` can disable the healthz server with "").
   */
  bindAddressOverrides?: { healthz?: string; metrics?: string };
  /** Receives upstream's non-fatal notices (setting a GA or deprecated feature gate). */
  warn?: (message: string) => void;
}

/** Freezes an object graph in place (plain objects and arrays only). */
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * Upstream's `GetHostname` applied to the override: trimmed and lower-cased; a value of only
 * blanks is an error, reported on the flag when the flag gave it, else on the file's field.
 */
function resolveHostname(
  config: DefaultedConfig,
  flagValue: string | undefined,
  problems: ProblemList,
): string {
  const fromFlag = flagValue !== undefined && flagValue !== "";
  const raw = fromFlag ? flagValue : config.hostnameOverride;
  const hostname = raw.trim().toLowerCase();
  if (raw !== "" && hostname === "") {
    problems.add(
      fromFlag ? "hostname-override" : "hostnameOverride",
      "empty hostname-override is invalid",
    );
  }
  return hostname;
}

/** Builds the runtime view once validation has passed (mode is iptables or nftables). */
function toProxyConfig(config: DefaultedConfig, hostnameOverride: string): ProxyConfig {
  const mode = config.mode as ImplementedProxyMode;
  const section = mode === "nftables" ? config.nftables : config.iptables;
  return {
    mode,
    featureGates: { ...config.featureGates },
    clientConnection: { ...config.clientConnection },
    logging: {
      format: config.logging.format,
      flushFrequencyMs: config.logging.flushFrequencyMs,
      verbosity: config.logging.verbosity,
      vmodule: config.logging.vmodule.map((item) => ({ ...item })),
      options: {
        text: { ...config.logging.options.text },
        json: { ...config.logging.options.json },
      },
    },
    hostnameOverride,
    bindAddress: config.bindAddress,
    healthzBindAddress: config.healthzBindAddress,
    metricsBindAddress: config.metricsBindAddress,
    bindAddressHardFail: config.bindAddressHardFail,
    enableProfiling: config.enableProfiling,
    showHiddenMetricsForVersion: config.showHiddenMetricsForVersion,
    syncPeriodMs: section.syncPeriodMs,
    minSyncPeriodMs: section.minSyncPeriodMs,
    masqueradeAll: section.masqueradeAll,
    masqueradeBit: section.masqueradeBit,
    localhostNodePorts: config.iptables.localhostNodePorts,
    detectLocalMode: config.detectLocalMode as LocalModeName,
    detectLocal: { ...config.detectLocal },
    clusterCIDRs: config.clusterCIDR === "" ? [] : config.clusterCIDR.split(","),
    nodePortAddresses: [...(config.nodePortAddresses ?? [])],
    oomScoreAdj: config.oomScoreAdj,
    conntrack: { ...config.conntrack },
    configSyncPeriodMs: config.configSyncPeriodMs,
    ipvs: {
      scheduler: config.ipvs.scheduler,
      excludeCIDRs: config.ipvs.excludeCIDRs === null ? null : [...config.ipvs.excludeCIDRs],
      strictARP: config.ipvs.strictARP,
      tcpTimeoutMs: config.ipvs.tcpTimeoutMs,
      tcpFinTimeoutMs: config.ipvs.tcpFinTimeoutMs,
      udpTimeoutMs: config.ipvs.udpTimeoutMs,
    },
    winkernel: { ...config.winkernel },
    windowsRunAsService: config.windowsRunAsService,
  };
}

/**
 * Resolves a configuration as written into the frozen {@linkcode ProxyConfig}.
 *
 * @throws {ConfigError} listing every problem (path, upstream-style message, line when
 *   `options.lineOf` knows it), including a mode this program does not implement.
 */
export function resolveConfig(
  file: KubeProxyConfigurationFile,
  options: ResolveOptions = {},
): ProxyConfig {
  const problems = new ProblemList(options.lineOf);
  const config = applyDefaults(file, problems);
  applyPlatformDefaults(config);
  const overrides = options.bindAddressOverrides;
  if (overrides?.healthz !== undefined) config.healthzBindAddress = overrides.healthz;
  if (overrides?.metrics !== undefined) config.metricsBindAddress = overrides.metrics;
  const hostnameOverride = resolveHostname(config, options.hostnameOverride, problems);
  validateConfig(config, problems);
  problems.throwIfAny();
  if (options.warn !== undefined) {
    for (const [name, value] of Object.entries(config.featureGates)) {
      const warning = featureGateWarning(name, value);
      if (warning !== undefined) options.warn(warning);
    }
  }
  return deepFreeze(toProxyConfig(config, hostnameOverride));
}
