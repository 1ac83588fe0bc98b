/**
 * The proxy's configuration file in the end-to-end suite: an ordinary KubeProxyConfiguration,
 * with everything that would reach outside the node namespace turned off.
 *
 * @module
 */

import type { ImplementedProxyMode } from "../../src/config/types.ts";
import { CLUSTER_CIDRS, NODE1 } from "./topology.ts";

/** What {@linkcode netnsConfigYaml} needs. */
export interface NetnsConfigOptions {
  readonly mode: ImplementedProxyMode;
  /** Path of the kubeconfig naming the API server. */
  readonly kubeconfig: string;
  /** `hostnameOverride`. */
  readonly nodeName: string;
  /** `clusterCIDR` (comma-separated for dual-stack). */
  readonly clusterCIDR: string;
  /** More top-level YAML lines (e.g. `logging:`). */
  readonly extraLines?: readonly string[];
}

/**
 * A KubeProxyConfiguration for a proxy run inside a network namespace (the end-to-end suite and
 * the daemon benchmark): upstream's defaults, except that `conntrack.maxPerCore: 0` and the zero
 * timeouts leave the conntrack sysctls alone: the table size and
 * `/sys/module/nf_conntrack/parameters/hashsize` are global, not per namespace, and must not
 * change on the host.
 */
export function netnsConfigYaml(options: NetnsConfigOptions): string {
  return [
    "apiVersion: kubeproxy.config.k8s.io/v1alpha1",
    "kind: KubeProxyConfiguration",
    `mode: ${options.mode}`,
    "clientConnection:",
    `  kubeconfig: ${options.kubeconfig}`,
    `hostnameOverride: ${options.nodeName}`,
    `clusterCIDR: ${options.clusterCIDR}`,
    "detectLocalMode: ClusterCIDR",
    "conntrack:",
    "  maxPerCore: 0",
    "  min: 0",
    "  tcpEstablishedTimeout: 0s",
    "  tcpCloseWaitTimeout: 0s",
    ...(options.extraLines ?? []),
    "",
  ].join("\n");
}

/** The end-to-end suite's config for `mode`, reading the API server through `kubeconfig`. */
export function proxyConfigYaml(mode: ImplementedProxyMode, kubeconfig: string): string {
  return netnsConfigYaml({
    mode,
    kubeconfig,
    nodeName: NODE1.name,
    clusterCIDR: CLUSTER_CIDRS.join(","),
  });
}
