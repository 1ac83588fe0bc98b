/**
 * The resolved configuration of a file that sets nothing: upstream's defaults after Linux
 * platform defaults (reference/config.md §2), written out by hand so tests compare against
 * the reference rather than against the code under test.
 *
 * @module
 */

import type { ProxyConfig } from "../../src/config/types.ts";

/** Builds the all-defaults config with `overrides` merged at the top level. */
export function expectedDefaults(overrides: Partial<ProxyConfig> = {}): ProxyConfig {
  return {
    mode: "iptables",
    featureGates: {},
    clientConnection: {
      kubeconfig: "",
      acceptContentTypes: "",
      contentType: "application/vnd.kubernetes.protobuf",
      qps: 5,
      burst: 10,
    },
    logging: {
      format: "text",
      flushFrequencyMs: 5_000,
      verbosity: 0,
      vmodule: [],
      options: {
        text: { splitStream: false, infoBufferSize: "0" },
        json: { splitStream: false, infoBufferSize: "0" },
      },
    },
    hostnameOverride: "",
    bindAddress: "0.0.0.0",
    healthzBindAddress: "0.0.0.0:10256",
    metricsBindAddress: "127.0.0.1:10249",
    bindAddressHardFail: false,
    enableProfiling: false,
    showHiddenMetricsForVersion: "",
    syncPeriodMs: 30_000,
    minSyncPeriodMs: 1_000,
    masqueradeAll: false,
    masqueradeBit: 14,
    localhostNodePorts: true,
    detectLocalMode: "ClusterCIDR",
    detectLocal: { bridgeInterface: "", interfaceNamePrefix: "" },
    clusterCIDRs: [],
    nodePortAddresses: [],
    oomScoreAdj: -999,
    conntrack: {
      maxPerCore: 32_768,
      min: 131_072,
      tcpEstablishedTimeoutMs: 86_400_000,
      tcpCloseWaitTimeoutMs: 3_600_000,
      tcpBeLiberal: false,
      udpTimeoutMs: 0,
      udpStreamTimeoutMs: 0,
    },
    configSyncPeriodMs: 900_000,
    ipvs: {
      scheduler: "",
      excludeCIDRs: null,
      strictARP: false,
      tcpTimeoutMs: 0,
      tcpFinTimeoutMs: 0,
      udpTimeoutMs: 0,
    },
    winkernel: {
      networkName: "",
      sourceVip: "",
      enableDSR: false,
      rootHnsEndpointName: "",
      forwardHealthCheckVip: false,
    },
    windowsRunAsService: false,
    ...overrides,
  };
}
