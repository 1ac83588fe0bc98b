/**
 * From parsed flags to what the program should do, with upstream's precedence between the
 * command line and `--config`: when a file is given it replaces every config-mapped flag, and only
 * the logging flags, `--hostname-override`, `--master`, `--cleanup`, `--init-only`,
 * `--write-config-to` and `--version` survive (plus our own extension flags).
 *
 * @module
 */

import { FLAGS, HONOURED_WITH_CONFIG } from "./flag_table.ts";
import { FlagError, type FlagValue, type ParsedFlags } from "./flags.ts";
import { parseGoDuration } from "../config/duration.ts";
import { DEFAULT_STATE_FILE } from "../state/mod.ts";
import type { KubeProxyConfigurationFile, LoggingFile } from "../config/types.ts";

/** What the command line asks for, before any file is read. */
export interface CommandLine {
  readonly help: boolean;
  /** `false`, or how to print the version. */
  readonly version: false | "text" | "raw";
  readonly configPath: string | undefined;
  readonly writeConfigTo: string | undefined;
  readonly cleanup: boolean;
  readonly initOnly: boolean;
  /** `--master`: overrides the kubeconfig's server URL. */
  readonly master: string;
  /** `--hostname-override` (wins over the file); undefined when not given. */
  readonly hostnameOverride: string | undefined;
  readonly dryRun: boolean;
  readonly objectsPath: string | undefined;
  /** `--api-mode`: watch streams (upstream's way) or periodic lists only. */
  readonly apiMode: "watch" | "poll";
  /** `--api-poll-interval` in milliseconds. */
  readonly apiPollIntervalMs: number;
  /** `--state-file`; "" disables it. */
  readonly stateFile: string;
  /** Config-mapped flags given next to `--config`, which upstream silently ignores. */
  readonly ignoredFlags: readonly string[];
  readonly flags: ParsedFlags;
}

/** Reads the top-level switches out of the parsed flags. */
export function commandLine(flags: ParsedFlags, rawVersion: boolean): CommandLine {
  const v = flags.values;
  const configPath = stringFlag(v, "config");
  const ignoredFlags = configPath === undefined
    ? []
    : [...v.keys()].filter((name) => !HONOURED_WITH_CONFIG.has(name) && !isAlwaysHonoured(name))
      .map((name) => `--${name}`);
  return {
    help: v.get("help") === true,
    version: v.get("version") === true ? (rawVersion ? "raw" : "text") : false,
    configPath,
    writeConfigTo: stringFlag(v, "write-config-to"),
    cleanup: v.get("cleanup") === true,
    initOnly: v.get("init-only") === true,
    master: stringFlag(v, "master") ?? "",
    hostnameOverride: stringFlag(v, "hostname-override"),
    dryRun: v.get("dry-run") === true,
    objectsPath: stringFlag(v, "objects"),
    apiMode: apiModeFlag(v),
    apiPollIntervalMs: pollIntervalFlag(v),
    stateFile: stringFlag(v, "state-file") ?? DEFAULT_STATE_FILE,
    ignoredFlags,
    flags,
  };
}

function apiModeFlag(values: ReadonlyMap<string, FlagValue>): "watch" | "poll" {
  const mode = stringFlag(values, "api-mode") ?? "watch";
  if (mode === "watch" || mode === "poll") return mode;
  throw new FlagError(
    `invalid argument ${JSON.stringify(mode)} for "--api-mode" flag: must be "watch" or "poll"`,
  );
}

function pollIntervalFlag(values: ReadonlyMap<string, FlagValue>): number {
  const text = stringFlag(values, "api-poll-interval") ?? "10s";
  const ms = parseGoDuration(text);
  if (ms > 0) return ms;
  throw new FlagError(
    `invalid argument ${
      JSON.stringify(text)
    } for "--api-poll-interval" flag: must be greater than 0`,
  );
}

function isAlwaysHonoured(name: string): boolean {
  const group = FLAGS.find((f) => f.name === name)?.group;
  return group === "logging" || group === "extension";
}

function stringFlag(values: ReadonlyMap<string, FlagValue>, name: string): string | undefined {
  const value = values.get(name);
  return typeof value === "string" ? value : undefined;
}

function numberFlag(values: ReadonlyMap<string, FlagValue>, name: string): number | undefined {
  const value = values.get(name);
  return typeof value === "number" ? value : undefined;
}

function boolFlag(values: ReadonlyMap<string, FlagValue>, name: string): boolean | undefined {
  const value = values.get(name);
  return typeof value === "boolean" ? value : undefined;
}

function listFlag(values: ReadonlyMap<string, FlagValue>, name: string): string[] | undefined {
  const value = values.get(name);
  return Array.isArray(value) ? [...value] : undefined;
}

/**
 * Builds the config file upstream would build from flags alone (no `--config`). Only flags that
 * were set are written, so everything else takes the same defaults a file would.
 */
export function flagsToFile(flags: ParsedFlags): KubeProxyConfigurationFile {
  const v = flags.values;
  const file: KubeProxyConfigurationFile = {
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
  };
  const gates = v.get("feature-gates");
  if (gates !== undefined && typeof gates === "object" && !Array.isArray(gates)) {
    file.featureGates = { ...(gates as Record<string, boolean>) };
  }
  file.clientConnection = compact({
    kubeconfig: stringFlag(v, "kubeconfig"),
    contentType: stringFlag(v, "kube-api-content-type"),
    qps: numberFlag(v, "kube-api-qps"),
    burst: numberFlag(v, "kube-api-burst"),
  });
  Object.assign(
    file,
    compact({
      bindAddress: stringFlag(v, "bind-address"),
      healthzBindAddress: stringFlag(v, "healthz-bind-address"),
      metricsBindAddress: stringFlag(v, "metrics-bind-address"),
      bindAddressHardFail: boolFlag(v, "bind-address-hard-fail"),
      enableProfiling: boolFlag(v, "profiling"),
      showHiddenMetricsForVersion: stringFlag(v, "show-hidden-metrics-for-version"),
      mode: stringFlag(v, "proxy-mode"),
      detectLocalMode: stringFlag(v, "detect-local-mode"),
      clusterCIDR: stringFlag(v, "cluster-cidr"),
      nodePortAddresses: listFlag(v, "nodeport-addresses"),
      oomScoreAdj: numberFlag(v, "oom-score-adj"),
      configSyncPeriod: stringFlag(v, "config-sync-period"),
    }),
  );
  // Upstream applies the --iptables-* sync flags to every mode but ipvs, so they land in the
  // nftables section too; --masquerade-all likewise. --iptables-masquerade-bit does not.
  const syncPeriod = stringFlag(v, "iptables-sync-period");
  const minSyncPeriod = stringFlag(v, "iptables-min-sync-period");
  const masqueradeAll = boolFlag(v, "masquerade-all");
  file.iptables = compact({
    masqueradeBit: numberFlag(v, "iptables-masquerade-bit"),
    masqueradeAll,
    localhostNodePorts: boolFlag(v, "iptables-localhost-nodeports"),
    syncPeriod,
    minSyncPeriod,
  });
  file.nftables = compact({ masqueradeAll, syncPeriod, minSyncPeriod });
  file.ipvs = compact({
    syncPeriod: stringFlag(v, "ipvs-sync-period"),
    minSyncPeriod: stringFlag(v, "ipvs-min-sync-period"),
    scheduler: stringFlag(v, "ipvs-scheduler"),
    excludeCIDRs: listFlag(v, "ipvs-exclude-cidrs"),
    strictARP: boolFlag(v, "ipvs-strict-arp"),
    tcpTimeout: stringFlag(v, "ipvs-tcp-timeout"),
    tcpFinTimeout: stringFlag(v, "ipvs-tcpfin-timeout"),
    udpTimeout: stringFlag(v, "ipvs-udp-timeout"),
  });
  file.detectLocal = compact({
    bridgeInterface: stringFlag(v, "pod-bridge-interface"),
    interfaceNamePrefix: stringFlag(v, "pod-interface-name-prefix"),
  });
  file.conntrack = compact({
    maxPerCore: numberFlag(v, "conntrack-max-per-core"),
    min: numberFlag(v, "conntrack-min"),
    tcpEstablishedTimeout: stringFlag(v, "conntrack-tcp-timeout-established"),
    tcpCloseWaitTimeout: stringFlag(v, "conntrack-tcp-timeout-close-wait"),
    tcpBeLiberal: boolFlag(v, "conntrack-tcp-be-liberal"),
    udpTimeout: stringFlag(v, "conntrack-udp-timeout"),
    udpStreamTimeout: stringFlag(v, "conntrack-udp-timeout-stream"),
  });
  return applyLoggingFlags(file, flags);
}

/**
 * The deprecated `--healthz-port` / `--metrics-port` (honoured only without `--config`): the port
 * replaces the one in the bind address (or the default's); `0` disables the server (an empty
 * address). Upstream applies them after defaulting, so they are overrides, not file fields.
 */
export function deprecatedPortOverrides(
  flags: ParsedFlags,
): { healthz?: string; metrics?: string } {
  const out: { healthz?: string; metrics?: string } = {};
  const healthz = portFlagAddress(flags.values, "healthz");
  const metrics = portFlagAddress(flags.values, "metrics");
  if (healthz !== undefined) out.healthz = healthz;
  if (metrics !== undefined) out.metrics = metrics;
  return out;
}

function portFlagAddress(
  values: ReadonlyMap<string, FlagValue>,
  which: "healthz" | "metrics",
): string | undefined {
  const address = stringFlag(values, `${which}-bind-address`);
  const port = numberFlag(values, `${which}-port`);
  if (port === undefined) return undefined;
  if (port === 0) return "";
  const base = address ?? (which === "healthz" ? "0.0.0.0" : "127.0.0.1");
  const host = /^(\[[^\]]+\]|[^:]+)(:\d+)?$/.exec(base)?.[1] ?? base;
  return `${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${port}`;
}

/**
 * Copies explicitly set logging flags over the file's logging block, as upstream does even with
 * `--config` (flag wins; `--vmodule` entries go before the file's).
 */
export function applyLoggingFlags(
  file: KubeProxyConfigurationFile,
  flags: ParsedFlags,
): KubeProxyConfigurationFile {
  const v = flags.values;
  const logging: LoggingFile = { ...file.logging };
  const format = stringFlag(v, "logging-format");
  if (format !== undefined) logging.format = format;
  const verbosity = numberFlag(v, "v");
  if (verbosity !== undefined) logging.verbosity = verbosity;
  const flush = stringFlag(v, "log-flush-frequency");
  if (flush !== undefined) logging.flushFrequency = flush;
  const vmodule = stringFlag(v, "vmodule");
  if (vmodule !== undefined) {
    const fromFlag = vmodule.split(",").filter((s) => s !== "").map((item) => {
      const [filePattern = "", level = "0"] = item.split("=");
      return { filePattern, verbosity: Number(level) };
    });
    logging.vmodule = [...fromFlag, ...(logging.vmodule ?? [])];
  }
  for (const format of ["text", "json"] as const) {
    const split = boolFlag(v, `log-${format}-split-stream`);
    const buffer = stringFlag(v, `log-${format}-info-buffer-size`);
    if (split === undefined && buffer === undefined) continue;
    const options = { ...logging.options };
    options[format] = {
      ...options[format],
      ...compact({ splitStream: split, infoBufferSize: buffer }),
    };
    logging.options = options;
  }
  if (Object.keys(logging).length === 0) return file;
  return { ...file, logging };
}

/** Drops undefined members so `exactOptionalPropertyTypes` holds and absent means "default". */
function compact<T extends object>(
  value: { [K in keyof T]: T[K] | undefined },
): { [K in keyof T]?: T[K] } {
  const out: { [K in keyof T]?: T[K] } = {};
  for (const key of Object.keys(value) as (keyof T)[]) {
    if (value[key] !== undefined) out[key] = value[key] as T[typeof key];
  }
  return out;
}
