/**
 * The resolved configuration back as a v1alpha1 document, as upstream's `--write-config-to` and
 * `/configz` produce it (reference/config.md §3, §8): the single sync period lands in the
 * current mode's section only (the other sections show `0s`), `masqueradeAll` in `iptables` or
 * `nftables` by mode, `null` for unset lists, durations in Go `String()` form, keys sorted.
 * Fields upstream marks `omitempty` are left out when empty, as upstream's output does.
 *
 * Decoding and resolving the output again gives a deep-equal {@linkcode ProxyConfig}.
 *
 * @module
 */

import { dump, visit } from "js-yaml";
import { formatGoDuration } from "./duration.ts";
import {
  CONFIG_API_VERSION,
  CONFIG_KIND,
  type KubeProxyConfigurationFile,
  type LogFormatOptionsFile,
  type ProxyConfig,
} from "./types.ts";

function formatOptions(options: ProxyConfig["logging"]["options"]["text"]): LogFormatOptionsFile {
  return options.splitStream
    ? { splitStream: true, infoBufferSize: options.infoBufferSize }
    : { infoBufferSize: options.infoBufferSize };
}

/** Converts the resolved configuration back to the v1alpha1 file shape (upstream's re-conversion). */
export function configToFile(config: ProxyConfig): KubeProxyConfigurationFile {
  const zero = formatGoDuration(0);
  const sync = formatGoDuration(config.syncPeriodMs);
  const minSync = formatGoDuration(config.minSyncPeriodMs);
  const iptablesMode = config.mode === "iptables";
  const nftablesMode = config.mode === "nftables";
  const file: KubeProxyConfigurationFile = {
    apiVersion: CONFIG_API_VERSION,
    kind: CONFIG_KIND,
    bindAddress: config.bindAddress,
    bindAddressHardFail: config.bindAddressHardFail,
    clientConnection: { ...config.clientConnection },
    clusterCIDR: config.clusterCIDRs.join(","),
    configSyncPeriod: formatGoDuration(config.configSyncPeriodMs),
    conntrack: {
      maxPerCore: config.conntrack.maxPerCore,
      min: config.conntrack.min,
      tcpBeLiberal: config.conntrack.tcpBeLiberal,
      tcpCloseWaitTimeout: formatGoDuration(config.conntrack.tcpCloseWaitTimeoutMs),
      tcpEstablishedTimeout: formatGoDuration(config.conntrack.tcpEstablishedTimeoutMs),
      udpStreamTimeout: formatGoDuration(config.conntrack.udpStreamTimeoutMs),
      udpTimeout: formatGoDuration(config.conntrack.udpTimeoutMs),
    },
    detectLocal: { ...config.detectLocal },
    detectLocalMode: config.detectLocalMode,
    enableProfiling: config.enableProfiling,
    healthzBindAddress: config.healthzBindAddress,
    hostnameOverride: config.hostnameOverride,
    iptables: {
      localhostNodePorts: config.localhostNodePorts,
      masqueradeAll: iptablesMode ? config.masqueradeAll : false,
      // Upstream keeps one bit per section; here the selected one stands for both.
      masqueradeBit: config.masqueradeBit,
      minSyncPeriod: iptablesMode ? minSync : zero,
      syncPeriod: iptablesMode ? sync : zero,
    },
    ipvs: {
      excludeCIDRs: config.ipvs.excludeCIDRs === null ? null : [...config.ipvs.excludeCIDRs],
      minSyncPeriod: zero,
      scheduler: config.ipvs.scheduler,
      strictARP: config.ipvs.strictARP,
      syncPeriod: zero,
      tcpFinTimeout: formatGoDuration(config.ipvs.tcpFinTimeoutMs),
      tcpTimeout: formatGoDuration(config.ipvs.tcpTimeoutMs),
      udpTimeout: formatGoDuration(config.ipvs.udpTimeoutMs),
    },
    logging: {
      flushFrequency: formatGoDuration(config.logging.flushFrequencyMs),
      format: config.logging.format,
      options: {
        json: formatOptions(config.logging.options.json),
        text: formatOptions(config.logging.options.text),
      },
      verbosity: config.logging.verbosity,
    },
    metricsBindAddress: config.metricsBindAddress,
    mode: config.mode,
    nftables: {
      masqueradeAll: nftablesMode ? config.masqueradeAll : false,
      masqueradeBit: config.masqueradeBit,
      minSyncPeriod: nftablesMode ? minSync : zero,
      syncPeriod: nftablesMode ? sync : zero,
    },
    nodePortAddresses: config.nodePortAddresses.length === 0 ? null : [...config.nodePortAddresses],
    oomScoreAdj: config.oomScoreAdj,
    portRange: "",
    showHiddenMetricsForVersion: config.showHiddenMetricsForVersion,
    winkernel: { ...config.winkernel },
  };
  if (Object.keys(config.featureGates).length > 0) file.featureGates = { ...config.featureGates };
  if (config.logging.vmodule.length > 0 && file.logging !== undefined) {
    file.logging.vmodule = config.logging.vmodule.map((item) => ({ ...item }));
  }
  if (config.windowsRunAsService) file.windowsRunAsService = true;
  return file;
}

/**
 * The resolved configuration as v1alpha1 YAML, keys sorted alphabetically at every level
 * (`--write-config-to` output).
 */
export function dumpConfigYaml(config: ProxyConfig): string {
  return dump(configToFile(config), {
    quoteStyle: "double",
    lineWidth: -1,
    transform: (documents) =>
      visit(documents, (node) => {
        if (node.kind !== "mapping") return;
        node.items.sort((a, b) => {
          const x = a.key.kind === "scalar" ? a.key.value : "";
          const y = b.key.kind === "scalar" ? b.key.value : "";
          return x < y ? -1 : x > y ? 1 : 0;
        });
      }),
  });
}
