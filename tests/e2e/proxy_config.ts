/**
 * The proxy's configuration file in the end-to-end suite: an ordinary KubeProxyConfiguration,
 * with everything that would reach outside the node namespace turned off.
 *
 * @module
 */

import type { ImplementedProxyMode } from "../../src/config/types.ts";
import { CLUSTER_CIDRS, NODE1 } from "./topology.ts";

/**
 * The config YAML for `mode`, reading the API server through `kubeconfig`.
 *
 * `conntrack.maxPerCore: 0` and the zero timeouts leave the conntrack sysctls alone: the table
 * size and `/sys/module/nf_conntrack/parameters/hashsize` are global, not per namespace, and
 * must not change on the host.
 */
export function proxyConfigYaml(mode: ImplementedProxyMode, kubeconfig: string): string {
  return [
    "apiVersion: kubeproxy.config.k8s.io/v1alpha1",
    "kind: KubeProxyConfiguration",
    `mode: ${mode}`,
    "clientConnection:",
    `  kubeconfig: ${kubeconfig}`,
    `hostnameOverride: ${NODE1.name}`,
    `clusterCIDR: ${CLUSTER_CIDRS.join(",")}`,
    "detectLocalMode: ClusterCIDR",
    "conntrack:",
    "  maxPerCore: 0",
    "  min: 0",
    "  tcpEstablishedTimeout: 0s",
    "  tcpCloseWaitTimeout: 0s",
    "",
  ].join("\n");
}
