/**
 * Upstream's defaulting of a v1alpha1 `KubeProxyConfiguration` (`SetDefaults_KubeProxyConfiguration`
 * plus component-base's recommended logging settings) and the Linux platform defaults applied
 * after it (reference/config.md §2, §6 step 3).
 *
 * The zero-value rule matters: for a non-pointer field an explicit `0`, `""` or `0s` cannot be
 * told from "absent" and gets the default; a pointer field (see types.ts) keeps an explicit value
 * (`masqueradeBit: 0` stays 0) and is defaulted only when absent or `null`.
 *
 * @module
 */

import { parseGoDuration } from "./duration.ts";
import type { ProblemList } from "./errors.ts";
import { splitHostPort } from "./_net.ts";
import { parseIPSloppy } from "../model/ip.ts";
import type { KubeProxyConfigurationFile, VModuleItem, WinkernelFile } from "./types.ts";

/** The Kubernetes release whose behaviour this package reproduces. */
export const KUBERNETES_VERSION: Readonly<{ major: number; minor: number }> = Object.freeze({
  major: 1,
  minor: 36,
});

/** Upstream's default values (durations in milliseconds). */
export const DEFAULTS = Object.freeze({
  bindAddress: "0.0.0.0",
  healthzPort: 10256,
  metricsPort: 10249,
  oomScoreAdj: -999,
  syncPeriodMs: 30_000,
  minSyncPeriodMs: 1_000,
  masqueradeBit: 14,
  localhostNodePorts: true,
  conntrackMaxPerCore: 32_768,
  conntrackMin: 131_072,
  conntrackTCPEstablishedTimeoutMs: 24 * 3_600_000,
  conntrackTCPCloseWaitTimeoutMs: 3_600_000,
  configSyncPeriodMs: 15 * 60_000,
  contentType: "application/vnd.kubernetes.protobuf",
  qps: 5,
  burst: 10,
  loggingFormat: "text",
  flushFrequencyMs: 5_000,
  infoBufferSize: "0",
});

/**
 * A v1alpha1 configuration after defaulting: every field present, durations in milliseconds.
 * Still unvalidated and still carrying the sections of every mode; `resolveConfig` validates it
 * and selects the mode's values.
 */
export interface DefaultedConfig {
  featureGates: Record<string, boolean>;
  clientConnection: {
    kubeconfig: string;
    acceptContentTypes: string;
    contentType: string;
    qps: number;
    burst: number;
  };
  logging: {
    format: string;
    flushFrequencyMs: number;
    verbosity: number;
    vmodule: VModuleItem[];
    options: {
      text: { splitStream: boolean; infoBufferSize: string };
      json: { splitStream: boolean; infoBufferSize: string };
    };
  };
  hostnameOverride: string;
  bindAddress: string;
  healthzBindAddress: string;
  metricsBindAddress: string;
  bindAddressHardFail: boolean;
  enableProfiling: boolean;
  showHiddenMetricsForVersion: string;
  mode: string;
  iptables: {
    masqueradeBit: number;
    masqueradeAll: boolean;
    localhostNodePorts: boolean;
    syncPeriodMs: number;
    minSyncPeriodMs: number;
  };
  ipvs: {
    syncPeriodMs: number;
    minSyncPeriodMs: number;
    scheduler: string;
    excludeCIDRs: string[] | null;
    strictARP: boolean;
    tcpTimeoutMs: number;
    tcpFinTimeoutMs: number;
    udpTimeoutMs: number;
  };
  nftables: {
    masqueradeBit: number;
    masqueradeAll: boolean;
    syncPeriodMs: number;
    minSyncPeriodMs: number;
  };
  winkernel: Required<WinkernelFile>;
  detectLocalMode: string;
  detectLocal: { bridgeInterface: string; interfaceNamePrefix: string };
  clusterCIDR: string;
  nodePortAddresses: string[] | null;
  oomScoreAdj: number;
  conntrack: {
    maxPerCore: number;
    min: number;
    tcpEstablishedTimeoutMs: number;
    tcpCloseWaitTimeoutMs: number;
    tcpBeLiberal: boolean;
    udpTimeoutMs: number;
    udpStreamTimeoutMs: number;
  };
  configSyncPeriodMs: number;
  portRange: string;
  windowsRunAsService: boolean;
}

/**
 * Upstream's `AppendPortIfNeeded`: a bare IP gets `:port` (IPv6 in brackets); `host:port` and
 * anything unparsable are left for validation.
 */
export function appendPortIfNeeded(address: string, port: number): string {
  if (splitHostPort(address) !== undefined) return address;
  const ip = parseIPSloppy(address);
  if (ip === null) return address;
  return ip.family === "IPv4" ? `${address}:${port}` : `[${address}]:${port}`;
}

/** Zero → default, as Go's defaulting of a non-pointer field does. */
function orDefault<T>(value: T | undefined, zero: T, fallback: T): T {
  return value === undefined || value === zero ? fallback : value;
}

/** Null or absent → default; an explicit value (including 0) is kept. */
function pointerOr<T>(value: T | null | undefined, fallback: T): T {
  return value === undefined || value === null ? fallback : value;
}

/**
 * Applies upstream's defaults to the file as written. Duration text that does not parse is
 * reported to `problems` (path and Go's message) and treated as zero, so the remaining checks
 * still run.
 */
export function applyDefaults(
  file: KubeProxyConfigurationFile,
  problems: ProblemList,
): DefaultedConfig {
  const duration = (text: string | null | undefined, path: string): number | undefined => {
    if (text === undefined || text === null) return undefined;
    try {
      return parseGoDuration(text);
    } catch (error) {
      problems.add(path, error instanceof Error ? error.message : String(error));
      return 0;
    }
  };
  // Non-pointer durations: zero (including "0s", "0m") → default.
  const durationOr = (text: string | undefined, path: string, fallback: number): number =>
    orDefault(duration(text, path), 0, fallback);

  const bindAddress = orDefault(file.bindAddress, "", DEFAULTS.bindAddress);
  // Upstream picks the IPv6 defaults for anything that is not IPv4, even an unparsable value.
  const ipv4 = parseIPSloppy(bindAddress)?.family === "IPv4";
  const healthzHost = ipv4 ? "0.0.0.0" : "[::]";
  const metricsHost = ipv4 ? "127.0.0.1" : "[::1]";

  const logging = file.logging ?? {};
  const flushFrequency = logging.flushFrequency;
  const flushFrequencyMs = typeof flushFrequency === "number"
    ? flushFrequency / 1e6 // integer nanoseconds
    : duration(flushFrequency, "logging.flushFrequency") ?? 0;

  const iptables = file.iptables ?? {};
  const ipvs = file.ipvs ?? {};
  const nftables = file.nftables ?? {};
  const conntrack = file.conntrack ?? {};
  const client = file.clientConnection ?? {};
  const winkernel = file.winkernel ?? {};

  return {
    featureGates: { ...(file.featureGates ?? {}) },
    clientConnection: {
      kubeconfig: client.kubeconfig ?? "",
      acceptContentTypes: client.acceptContentTypes ?? "",
      contentType: orDefault(client.contentType, "", DEFAULTS.contentType),
      qps: orDefault(client.qps, 0, DEFAULTS.qps),
      burst: orDefault(client.burst, 0, DEFAULTS.burst),
    },
    logging: {
      format: orDefault(logging.format, "", DEFAULTS.loggingFormat),
      flushFrequencyMs: orDefault(flushFrequencyMs, 0, DEFAULTS.flushFrequencyMs),
      verbosity: logging.verbosity ?? 0,
      // A decoded item may lack either field (Go leaves them zero), whatever the type says.
      vmodule: (logging.vmodule ?? []).map((item) => ({
        filePattern: item.filePattern ?? "",
        verbosity: item.verbosity ?? 0,
      })),
      options: {
        text: {
          splitStream: logging.options?.text?.splitStream ?? false,
          infoBufferSize: logging.options?.text?.infoBufferSize ?? DEFAULTS.infoBufferSize,
        },
        json: {
          splitStream: logging.options?.json?.splitStream ?? false,
          infoBufferSize: logging.options?.json?.infoBufferSize ?? DEFAULTS.infoBufferSize,
        },
      },
    },
    hostnameOverride: file.hostnameOverride ?? "",
    bindAddress,
    healthzBindAddress: file.healthzBindAddress === undefined || file.healthzBindAddress === ""
      ? `${healthzHost}:${DEFAULTS.healthzPort}`
      : appendPortIfNeeded(file.healthzBindAddress, DEFAULTS.healthzPort),
    metricsBindAddress: file.metricsBindAddress === undefined || file.metricsBindAddress === ""
      ? `${metricsHost}:${DEFAULTS.metricsPort}`
      : appendPortIfNeeded(file.metricsBindAddress, DEFAULTS.metricsPort),
    bindAddressHardFail: file.bindAddressHardFail ?? false,
    enableProfiling: file.enableProfiling ?? false,
    showHiddenMetricsForVersion: file.showHiddenMetricsForVersion ?? "",
    mode: file.mode ?? "",
    iptables: {
      masqueradeBit: pointerOr(iptables.masqueradeBit, DEFAULTS.masqueradeBit),
      masqueradeAll: iptables.masqueradeAll ?? false,
      localhostNodePorts: pointerOr(iptables.localhostNodePorts, DEFAULTS.localhostNodePorts),
      syncPeriodMs: durationOr(iptables.syncPeriod, "iptables.syncPeriod", DEFAULTS.syncPeriodMs),
      minSyncPeriodMs: durationOr(
        iptables.minSyncPeriod,
        "iptables.minSyncPeriod",
        DEFAULTS.minSyncPeriodMs,
      ),
    },
    ipvs: {
      syncPeriodMs: durationOr(ipvs.syncPeriod, "ipvs.syncPeriod", DEFAULTS.syncPeriodMs),
      // Not defaulted upstream: ipvs mode really runs with a 0s minimum sync period.
      minSyncPeriodMs: duration(ipvs.minSyncPeriod, "ipvs.minSyncPeriod") ?? 0,
      scheduler: ipvs.scheduler ?? "",
      excludeCIDRs: ipvs.excludeCIDRs === undefined || ipvs.excludeCIDRs === null
        ? null
        : [...ipvs.excludeCIDRs],
      strictARP: ipvs.strictARP ?? false,
      tcpTimeoutMs: duration(ipvs.tcpTimeout, "ipvs.tcpTimeout") ?? 0,
      tcpFinTimeoutMs: duration(ipvs.tcpFinTimeout, "ipvs.tcpFinTimeout") ?? 0,
      udpTimeoutMs: duration(ipvs.udpTimeout, "ipvs.udpTimeout") ?? 0,
    },
    nftables: {
      masqueradeBit: pointerOr(nftables.masqueradeBit, DEFAULTS.masqueradeBit),
      masqueradeAll: nftables.masqueradeAll ?? false,
      syncPeriodMs: durationOr(nftables.syncPeriod, "nftables.syncPeriod", DEFAULTS.syncPeriodMs),
      minSyncPeriodMs: durationOr(
        nftables.minSyncPeriod,
        "nftables.minSyncPeriod",
        DEFAULTS.minSyncPeriodMs,
      ),
    },
    winkernel: {
      networkName: winkernel.networkName ?? "",
      sourceVip: winkernel.sourceVip ?? "",
      enableDSR: winkernel.enableDSR ?? false,
      rootHnsEndpointName: winkernel.rootHnsEndpointName ?? "",
      forwardHealthCheckVip: winkernel.forwardHealthCheckVip ?? false,
    },
    detectLocalMode: file.detectLocalMode ?? "",
    detectLocal: {
      bridgeInterface: file.detectLocal?.bridgeInterface ?? "",
      interfaceNamePrefix: file.detectLocal?.interfaceNamePrefix ?? "",
    },
    clusterCIDR: file.clusterCIDR ?? "",
    nodePortAddresses: file.nodePortAddresses === undefined || file.nodePortAddresses === null
      ? null
      : [...file.nodePortAddresses],
    oomScoreAdj: pointerOr(file.oomScoreAdj, DEFAULTS.oomScoreAdj),
    conntrack: {
      maxPerCore: pointerOr(conntrack.maxPerCore, DEFAULTS.conntrackMaxPerCore),
      min: pointerOr(conntrack.min, DEFAULTS.conntrackMin),
      tcpEstablishedTimeoutMs: duration(
        conntrack.tcpEstablishedTimeout,
        "conntrack.tcpEstablishedTimeout",
      ) ?? DEFAULTS.conntrackTCPEstablishedTimeoutMs,
      tcpCloseWaitTimeoutMs: duration(
        conntrack.tcpCloseWaitTimeout,
        "conntrack.tcpCloseWaitTimeout",
      ) ?? DEFAULTS.conntrackTCPCloseWaitTimeoutMs,
      tcpBeLiberal: conntrack.tcpBeLiberal ?? false,
      udpTimeoutMs: duration(conntrack.udpTimeout, "conntrack.udpTimeout") ?? 0,
      udpStreamTimeoutMs: duration(conntrack.udpStreamTimeout, "conntrack.udpStreamTimeout") ?? 0,
    },
    configSyncPeriodMs: durationOr(
      file.configSyncPeriod,
      "configSyncPeriod",
      DEFAULTS.configSyncPeriodMs,
    ),
    portRange: file.portRange ?? "",
    windowsRunAsService: file.windowsRunAsService ?? false,
  };
}

/**
 * Linux platform defaults, applied after defaulting and before validation as upstream does:
 * mode "" → iptables; nftables mode with no nodePortAddresses → ["primary"]; detectLocalMode ""
 * → ClusterCIDR.
 */
export function applyPlatformDefaults(config: DefaultedConfig): void {
  if (config.mode === "") config.mode = "iptables";
  if (
    config.mode === "nftables" &&
    (config.nodePortAddresses === null || config.nodePortAddresses.length === 0)
  ) {
    config.nodePortAddresses = ["primary"];
  }
  if (config.detectLocalMode === "") config.detectLocalMode = "ClusterCIDR";
}
