/**
 * The two shapes of kube-proxy's configuration:
 *
 * - {@linkcode KubeProxyConfigurationFile}: `KubeProxyConfiguration` of
 *   `kubeproxy.config.k8s.io/v1alpha1` exactly as a user writes it (every field optional, JSON
 *   names as upstream). `null` is kept where upstream has a pointer field, because an explicit
 *   `null` and an absent key both mean "use the default" there, while `0` is kept as given.
 * - {@linkcode ProxyConfig}: the resolved configuration every other module reads: defaults
 *   applied, platform defaults applied, the mode's own sync periods selected, validated and
 *   frozen. Durations are whole milliseconds (Go's nanosecond precision is kept as a fraction
 *   where a user wrote one).
 *
 * @module
 */

/** The only API group/version upstream registers for the file. */
export const CONFIG_API_VERSION = "kubeproxy.config.k8s.io/v1alpha1";
/** The kind of the configuration document. */
export const CONFIG_KIND = "KubeProxyConfiguration";

/** Proxy modes upstream accepts on Linux; only `iptables` and `nftables` are implemented here. */
export type ProxyModeName = "" | "iptables" | "ipvs" | "nftables" | "kernelspace";
/** The modes this program can run. */
export type ImplementedProxyMode = "iptables" | "nftables";
/** How "traffic from a local pod" is recognised (`detectLocalMode`). */
export type LocalModeName = "ClusterCIDR" | "NodeCIDR" | "BridgeInterface" | "InterfaceNamePrefix";

/** `clientConnection` as written. */
export interface ClientConnectionFile {
  /** @default "" (in-cluster config, or `--master`) */
  kubeconfig?: string;
  /** @default "" */
  acceptContentTypes?: string;
  /** @default "application/vnd.kubernetes.protobuf" ("" means the default) */
  contentType?: string;
  /** @default 5 (0 means the default) */
  qps?: number;
  /** @default 10 (0 means the default) */
  burst?: number;
}

/** `iptables` as written. */
export interface IPTablesFile {
  /** @default 14 (pointer: an explicit 0 is kept) */
  masqueradeBit?: number | null;
  /** @default false */
  masqueradeAll?: boolean;
  /** @default true (pointer) */
  localhostNodePorts?: boolean | null;
  /** Go duration. @default "30s" ("0s" means the default) */
  syncPeriod?: string;
  /** Go duration. @default "1s" ("0s" means the default) */
  minSyncPeriod?: string;
}

/** `ipvs` as written (accepted and validated for compatibility; ipvs mode is not implemented). */
export interface IPVSFile {
  /** @default "30s" */
  syncPeriod?: string;
  /** @default "0s" (not defaulted upstream) */
  minSyncPeriod?: string;
  /** @default "" */
  scheduler?: string;
  /** @default null */
  excludeCIDRs?: string[] | null;
  /** @default false */
  strictARP?: boolean;
  /** @default "0s" */
  tcpTimeout?: string;
  /** @default "0s" */
  tcpFinTimeout?: string;
  /** @default "0s" */
  udpTimeout?: string;
}

/** `nftables` as written. */
export interface NFTablesFile {
  /** @default 14 (pointer) */
  masqueradeBit?: number | null;
  /** @default false */
  masqueradeAll?: boolean;
  /** @default "30s" */
  syncPeriod?: string;
  /** @default "1s" */
  minSyncPeriod?: string;
}

/** `conntrack` as written. */
export interface ConntrackFile {
  /** @default 32768 (pointer) */
  maxPerCore?: number | null;
  /** @default 131072 (pointer) */
  min?: number | null;
  /** @default "24h0m0s" (pointer) */
  tcpEstablishedTimeout?: string | null;
  /** @default "1h0m0s" (pointer) */
  tcpCloseWaitTimeout?: string | null;
  /** @default false */
  tcpBeLiberal?: boolean;
  /** @default "0s" (leave the kernel's value) */
  udpTimeout?: string;
  /** @default "0s" (leave the kernel's value) */
  udpStreamTimeout?: string;
}

/** `detectLocal` as written. */
export interface DetectLocalFile {
  /** @default "" */
  bridgeInterface?: string;
  /** @default "" */
  interfaceNamePrefix?: string;
}

/** `winkernel` as written (Windows only; kept so files round-trip). */
export interface WinkernelFile {
  networkName?: string;
  sourceVip?: string;
  enableDSR?: boolean;
  rootHnsEndpointName?: string;
  forwardHealthCheckVip?: boolean;
}

/** One `logging.vmodule` entry. */
export interface VModuleItem {
  filePattern: string;
  verbosity: number;
}

/** Options of one log format (`logging.options.text` / `.json`). */
export interface LogFormatOptionsFile {
  splitStream?: boolean;
  /** A Kubernetes quantity such as "0" or "64Ki". */
  infoBufferSize?: string;
}

/** component-base's `LoggingConfiguration` as written. */
export interface LoggingFile {
  /** @default "text" */
  format?: string;
  /** Go duration or integer nanoseconds. @default "5s" */
  flushFrequency?: string | number;
  /** @default 0 */
  verbosity?: number;
  /** @default [] */
  vmodule?: VModuleItem[] | null;
  options?: {
    text?: LogFormatOptionsFile;
    json?: LogFormatOptionsFile;
  };
}

/** The whole file as written: `KubeProxyConfiguration` v1alpha1, every field optional. */
export interface KubeProxyConfigurationFile {
  apiVersion?: string;
  kind?: string;
  featureGates?: Record<string, boolean> | null;
  clientConnection?: ClientConnectionFile;
  logging?: LoggingFile;
  hostnameOverride?: string;
  /** @default "0.0.0.0" */
  bindAddress?: string;
  /** @default "0.0.0.0:10256" (or "[::]:10256" for an IPv6 bindAddress) */
  healthzBindAddress?: string;
  /** @default "127.0.0.1:10249" (or "[::1]:10249" for an IPv6 bindAddress) */
  metricsBindAddress?: string;
  /** @default false */
  bindAddressHardFail?: boolean;
  /** @default false */
  enableProfiling?: boolean;
  /** @default "" */
  showHiddenMetricsForVersion?: string;
  /** @default "" (iptables) */
  mode?: string;
  iptables?: IPTablesFile;
  ipvs?: IPVSFile;
  nftables?: NFTablesFile;
  winkernel?: WinkernelFile;
  /** @default "" (ClusterCIDR) */
  detectLocalMode?: string;
  detectLocal?: DetectLocalFile;
  /** Comma-separated, one CIDR or a dual-stack pair. @default "" */
  clusterCIDR?: string;
  /** @default null (iptables: all local IPs; nftables: ["primary"]) */
  nodePortAddresses?: string[] | null;
  /** @default -999 (pointer) */
  oomScoreAdj?: number | null;
  conntrack?: ConntrackFile;
  /** @default "15m0s" */
  configSyncPeriod?: string;
  /** Ignored since Kubernetes 1.31; kept so files round-trip. */
  portRange?: string;
  /** Windows only. @default false */
  windowsRunAsService?: boolean;
}

/** The resolved logging settings. */
export interface LoggingConfig {
  readonly format: string;
  /** Milliseconds. */
  readonly flushFrequencyMs: number;
  readonly verbosity: number;
  readonly vmodule: readonly VModuleItem[];
  readonly options: {
    readonly text: { readonly splitStream: boolean; readonly infoBufferSize: string };
    readonly json: { readonly splitStream: boolean; readonly infoBufferSize: string };
  };
}

/** The resolved conntrack settings (durations in milliseconds; 0 = leave the kernel's value). */
export interface ConntrackConfig {
  readonly maxPerCore: number;
  readonly min: number;
  readonly tcpEstablishedTimeoutMs: number;
  readonly tcpCloseWaitTimeoutMs: number;
  readonly tcpBeLiberal: boolean;
  readonly udpTimeoutMs: number;
  readonly udpStreamTimeoutMs: number;
}

/**
 * The resolved configuration: defaults and platform defaults applied, validated, frozen.
 * Sync periods and masquerade settings are those of the selected mode (upstream's conversion
 * to its internal config, reference/config.md §3).
 */
export interface ProxyConfig {
  readonly mode: ImplementedProxyMode;
  readonly featureGates: Readonly<Record<string, boolean>>;
  readonly clientConnection: {
    readonly kubeconfig: string;
    readonly acceptContentTypes: string;
    readonly contentType: string;
    readonly qps: number;
    readonly burst: number;
  };
  readonly logging: LoggingConfig;
  /** Trimmed and lower-cased; "" means "use the OS hostname". */
  readonly hostnameOverride: string;
  readonly bindAddress: string;
  /** "" disables the healthz server. */
  readonly healthzBindAddress: string;
  readonly metricsBindAddress: string;
  readonly bindAddressHardFail: boolean;
  readonly enableProfiling: boolean;
  readonly showHiddenMetricsForVersion: string;
  /** The selected mode's sync period, in milliseconds. */
  readonly syncPeriodMs: number;
  /** The selected mode's minimum sync period, in milliseconds. */
  readonly minSyncPeriodMs: number;
  /** `iptables.masqueradeAll`, or `nftables.masqueradeAll` in nftables mode. */
  readonly masqueradeAll: boolean;
  /** `iptables.masqueradeBit`, or `nftables.masqueradeBit` in nftables mode. */
  readonly masqueradeBit: number;
  readonly localhostNodePorts: boolean;
  readonly detectLocalMode: LocalModeName;
  readonly detectLocal: { readonly bridgeInterface: string; readonly interfaceNamePrefix: string };
  /** `clusterCIDR` split on ",". */
  readonly clusterCIDRs: readonly string[];
  /** CIDRs and/or the keyword "primary"; empty means every local address. */
  readonly nodePortAddresses: readonly string[];
  readonly oomScoreAdj: number;
  readonly conntrack: ConntrackConfig;
  readonly configSyncPeriodMs: number;
  /** Kept (validated only in ipvs mode, which is not implemented) so `--write-config-to` and
   * `/configz` show what upstream would. */
  readonly ipvs: {
    readonly scheduler: string;
    readonly excludeCIDRs: readonly string[] | null;
    readonly strictARP: boolean;
    readonly tcpTimeoutMs: number;
    readonly tcpFinTimeoutMs: number;
    readonly udpTimeoutMs: number;
  };
  /** Windows-only settings, carried through unvalidated as upstream does on Linux. */
  readonly winkernel: Readonly<Required<WinkernelFile>>;
  readonly windowsRunAsService: boolean;
}
