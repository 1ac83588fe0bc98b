/**
 * Upstream's `Validate` for the completed configuration (reference/config.md §5), reporting every
 * problem under its v1alpha1 YAML path as Kubernetes 1.37 names them (`iptables.masqueradeBit`,
 * `ipvs.excludeCIDRs[1]`, `clusterCIDR`), plus component-base's logging checks and the one
 * restriction of this program: only the iptables and nftables modes are implemented.
 *
 * Messages follow upstream's detail text with the offending value appended
 * (`must be within [0, 31], got 40`).
 *
 * @module
 */

import { formatGoDuration } from "./duration.ts";
import type { ProblemList } from "./errors.ts";
import { checkFeatureGate, featureEnabled } from "./feature_gates.ts";
import { KUBERNETES_VERSION } from "./defaults.ts";
import type { DefaultedConfig } from "./defaults.ts";
import { splitHostPort } from "./_net.ts";
import { parseCIDRSloppy, parseIPSloppy } from "../model/ip.ts";

/** `detectLocalMode` values upstream accepts ("" is turned into ClusterCIDR before this runs). */
export const LOCAL_MODES = ["ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix"];

const quote = (value: string) => JSON.stringify(value);
const goDuration = (ms: number) => formatGoDuration(ms);

function validateMode(mode: string, problems: ProblemList): void {
  if (mode === "iptables" || mode === "nftables") return;
  if (mode === "ipvs") {
    problems.add(
      "mode",
      `"ipvs" is a valid upstream mode but deno-kube-proxy implements only "iptables" and "nftables"`,
    );
  } else if (mode === "kernelspace") {
    problems.add(
      "mode",
      `"kernelspace" is the Windows mode; deno-kube-proxy runs on Linux and implements only "iptables" and "nftables"`,
    );
  } else {
    const removed = mode === "userspace" ? " (userspace mode was removed in Kubernetes 1.26)" : "";
    problems.add(
      "mode",
      `must be "iptables", "nftables" or blank (blank means iptables), got ${
        quote(mode)
      }${removed}`,
    );
  }
}

function validateMasqueradeBit(bit: number, path: string, problems: ProblemList): void {
  if (bit < 0 || bit > 31) problems.add(path, `must be within [0, 31], got ${bit}`);
}

function nonNegativeDuration(ms: number, path: string, problems: ProblemList): void {
  if (ms < 0) problems.add(path, `must be greater than or equal to 0, got ${goDuration(ms)}`);
}

function nonNegativeInt(value: number, path: string, problems: ProblemList): void {
  if (value < 0) problems.add(path, `must be greater than or equal to 0, got ${value}`);
}

/** The effective sync periods: validated under the section the mode reads them from. */
function validateSyncPeriods(config: DefaultedConfig, problems: ProblemList): void {
  const section = config.mode === "ipvs"
    ? "ipvs"
    : config.mode === "nftables"
    ? "nftables"
    : "iptables";
  const { syncPeriodMs, minSyncPeriodMs } = config[section];
  if (syncPeriodMs <= 0) {
    problems.add(
      `${section}.syncPeriod`,
      `must be greater than 0, got ${goDuration(syncPeriodMs)}`,
    );
  }
  if (minSyncPeriodMs < 0) {
    problems.add(
      `${section}.minSyncPeriod`,
      `must be greater than or equal to 0, got ${goDuration(minSyncPeriodMs)}`,
    );
  }
  if (minSyncPeriodMs > syncPeriodMs) {
    problems.add(
      `${section}.syncPeriod`,
      `must be greater than or equal to ${section}.minSyncPeriod (${
        goDuration(minSyncPeriodMs)
      }), got ${goDuration(syncPeriodMs)}`,
    );
  }
}

/** Upstream's `validateHostPort`: `IP:port`, IP valid, port 1–65535. */
function validateHostPort(value: string, path: string, problems: ProblemList): void {
  const parts = splitHostPort(value);
  if (parts === undefined) {
    problems.add(path, `must be IP:port, got ${quote(value)}`);
    return;
  }
  if (parseIPSloppy(parts.host) === null) {
    problems.add(path, `must be a valid IP, got ${quote(parts.host)}`);
  }
  const port = /^[+-]?[0-9]+$/.test(parts.port) ? Number(parts.port) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    problems.add(path, `must be a valid port, got ${quote(parts.port)}`);
  }
}

/** 1.36 rules: each entry a CIDR, or `primary` alone. Entries after `primary` are not checked. */
function validateNodePortAddresses(addresses: readonly string[], problems: ProblemList): void {
  for (const [i, address] of addresses.entries()) {
    const path = `nodePortAddresses[${i}]`;
    if (address === "primary") {
      if (i !== 0 || addresses.length !== 1) {
        problems.add(path, `can't use both 'primary' and CIDRs, got ${quote(address)}`);
      }
      break;
    }
    if (parseCIDRSloppy(address) === null) {
      problems.add(path, `must be a valid CIDR, got ${quote(address)}`);
    }
  }
}

/** One CIDR or a dual-stack pair, checked only when traffic is detected by cluster CIDR. */
function validateClusterCIDR(clusterCIDR: string, problems: ProblemList): void {
  if (clusterCIDR === "") return;
  // Upstream splits on "," without trimming, so "a, b" fails on " b".
  const cidrs = clusterCIDR.split(",");
  const parsed = cidrs.map(parseCIDRSloppy);
  let invalid = false;
  parsed.forEach((cidr, i) => {
    if (cidr === null) {
      invalid = true;
      problems.add(
        "clusterCIDR",
        `must be a valid CIDR block (e.g. 10.100.0.0/16 or fde4:8dba:82e1::/48), got ${
          quote(cidrs[i] ?? "")
        }`,
      );
    }
  });
  if (invalid) return;
  const dualStack = parsed.length === 2 && parsed[0]?.family !== parsed[1]?.family;
  if (parsed.length > 2 || (parsed.length === 2 && !dualStack)) {
    problems.add(
      "clusterCIDR",
      `must be either a single CIDR or a dual-stack pair of CIDRs (e.g. 10.100.0.0/16,fde4:8dba:82e1::/48), got ${
        quote(clusterCIDR)
      }`,
    );
  }
}

/** component-base's logging validation, for the formats kube-proxy registers (text, json). */
function validateLogging(config: DefaultedConfig, problems: ProblemList): void {
  const logging = config.logging;
  const gates = config.featureGates;
  if (logging.format !== "text" && logging.format !== "json") {
    problems.add(
      "logging.format",
      `unsupported log format, got ${quote(logging.format)} (supported: "json", "text")`,
    );
  } else if (logging.format === "json" && !featureEnabled(gates, "LoggingBetaOptions")) {
    problems.add("logging.format", "log format json is disabled, see LoggingBetaOptions feature");
  }
  if (logging.verbosity > 2 ** 31 - 1) {
    problems.add("logging.verbosity", `must be <= ${2 ** 31 - 1}, got ${logging.verbosity}`);
  }
  if (logging.vmodule.length > 0 && logging.format !== "text") {
    problems.add("logging.vmodule", "only supported for text log format");
  }
  logging.vmodule.forEach((item, i) => {
    const path = `logging.vmodule[${i}]`;
    if (item.filePattern === "") problems.add(path, "file pattern must not be empty");
    if (/[=,]/.test(item.filePattern)) {
      problems.add(
        path,
        `file pattern must not contain equal sign or comma, got ${quote(item.filePattern)}`,
      );
    }
    if (item.verbosity > 2 ** 31 - 1) {
      problems.add(path, `must be <= ${2 ** 31 - 1}, got ${item.verbosity}`);
    }
  });
  for (const [format, gate] of [["text", "LoggingAlphaOptions"], ["json", "LoggingBetaOptions"]]) {
    const options = logging.options[format as "text" | "json"];
    const path = `logging.options.${format}`;
    if (options.splitStream && !featureEnabled(gates, gate!)) {
      problems.add(`${path}.splitStream`, `feature ${gate} is disabled`);
    }
    if (!isZeroQuantity(options.infoBufferSize) && !featureEnabled(gates, gate!)) {
      problems.add(`${path}.infoBufferSize`, `feature ${gate} is disabled`);
    }
  }
}

/** Whether a Kubernetes quantity ("0", "0Ki", "0.0", "64Ki") is zero. */
function isZeroQuantity(quantity: string): boolean {
  const number = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)/.exec(quantity)?.[0];
  return number !== undefined && Number(number) === 0;
}

/**
 * Validates a defaulted, platform-defaulted configuration, adding every problem to `problems`.
 * Sections of modes other than the configured one are not validated, as upstream.
 */
export function validateConfig(config: DefaultedConfig, problems: ProblemList): void {
  for (const [name, value] of Object.entries(config.featureGates)) {
    const message = checkFeatureGate(name, value);
    if (message !== undefined) problems.add("featureGates", message, `featureGates.${name}`);
  }

  validateMasqueradeBit(config.iptables.masqueradeBit, "iptables.masqueradeBit", problems);
  if (config.mode === "ipvs") {
    nonNegativeDuration(config.ipvs.tcpTimeoutMs, "ipvs.tcpTimeout", problems);
    nonNegativeDuration(config.ipvs.tcpFinTimeoutMs, "ipvs.tcpFinTimeout", problems);
    nonNegativeDuration(config.ipvs.udpTimeoutMs, "ipvs.udpTimeout", problems);
    (config.ipvs.excludeCIDRs ?? []).forEach((cidr, i) => {
      if (parseCIDRSloppy(cidr) === null) {
        problems.add(`ipvs.excludeCIDRs[${i}]`, `must be a valid CIDR, got ${quote(cidr)}`);
      }
    });
  }
  if (config.mode === "nftables") {
    validateMasqueradeBit(config.nftables.masqueradeBit, "nftables.masqueradeBit", problems);
  }

  const conntrack = config.conntrack;
  nonNegativeInt(conntrack.maxPerCore, "conntrack.maxPerCore", problems);
  nonNegativeInt(conntrack.min, "conntrack.min", problems);
  nonNegativeDuration(
    conntrack.tcpEstablishedTimeoutMs,
    "conntrack.tcpEstablishedTimeout",
    problems,
  );
  nonNegativeDuration(conntrack.tcpCloseWaitTimeoutMs, "conntrack.tcpCloseWaitTimeout", problems);
  nonNegativeDuration(conntrack.udpTimeoutMs, "conntrack.udpTimeout", problems);
  nonNegativeDuration(conntrack.udpStreamTimeoutMs, "conntrack.udpStreamTimeout", problems);
  if (config.oomScoreAdj < -1000 || config.oomScoreAdj > 1000) {
    problems.add("oomScoreAdj", `must be within [-1000, 1000], got ${config.oomScoreAdj}`);
  }

  validateMode(config.mode, problems);
  nonNegativeInt(config.clientConnection.burst, "clientConnection.burst", problems);
  if (config.configSyncPeriodMs <= 0) {
    problems.add(
      "configSyncPeriod",
      `must be greater than 0, got ${goDuration(config.configSyncPeriodMs)}`,
    );
  }
  validateSyncPeriods(config, problems);

  if (parseIPSloppy(config.bindAddress) === null) {
    problems.add(
      "bindAddress",
      `must be a valid IP address (e.g. 10.9.8.7 or 2001:db8::ffff), got ${
        quote(config.bindAddress)
      }`,
    );
  }
  if (config.healthzBindAddress !== "") {
    validateHostPort(config.healthzBindAddress, "healthzBindAddress", problems);
  }
  validateHostPort(config.metricsBindAddress, "metricsBindAddress", problems);
  validateNodePortAddresses(config.nodePortAddresses ?? [], problems);

  const shown = config.showHiddenMetricsForVersion;
  const previous = `${KUBERNETES_VERSION.major}.${KUBERNETES_VERSION.minor - 1}`;
  if (shown !== "" && shown !== previous) {
    problems.add(
      "showHiddenMetricsForVersion",
      `must be omitted or have the value ${
        quote(previous)
      } (only the previous minor version is allowed), got ${quote(shown)}`,
    );
  }

  if (!LOCAL_MODES.includes(config.detectLocalMode)) {
    problems.add(
      "detectLocalMode",
      `unsupported value ${quote(config.detectLocalMode)}, supported values: ${
        [...LOCAL_MODES, ""].map(quote).join(", ")
      }`,
    );
  }
  if (config.detectLocalMode === "BridgeInterface" && config.detectLocal.bridgeInterface === "") {
    problems.add("detectLocal.bridgeInterface", "must not be empty");
  }
  if (
    config.detectLocalMode === "InterfaceNamePrefix" &&
    config.detectLocal.interfaceNamePrefix === ""
  ) {
    problems.add("detectLocal.interfaceNamePrefix", "must not be empty");
  }
  if (config.detectLocalMode === "ClusterCIDR") validateClusterCIDR(config.clusterCIDR, problems);

  validateLogging(config, problems);
}
