/**
 * The endpoint table: Kubernetes Services, EndpointSlices and this node's Node in, immutable
 * per-family snapshots out. Backends import from here and nowhere else in `model/`.
 *
 * ```ts
 * import { EndpointTable } from "./src/model/mod.ts";
 * const table = new EndpointTable({
 *   nodeName: "node1",
 *   detectLocalMode: "ClusterCIDR",
 *   clusterCIDRs: ["10.0.0.0/8"],
 *   bridgeInterface: "",
 *   interfaceNamePrefix: "",
 * });
 * // feed informer events: table.onServiceAdd(svc), table.markSynced("services"), ...
 * if (table.synced && table.hasPendingChanges()) {
 *   const { v4, changed } = table.snapshot();
 * }
 * ```
 *
 * @module
 */

export type {
  DetectLocalMode,
  Endpoint,
  IPFamily,
  LocalTrafficDetector,
  ModelFeatureGates,
  ModelWarning,
  NodeInfo,
  Protocol,
  ProxySnapshot,
  ServicePort,
  ServiceType,
  SessionAffinity,
  SyncSource,
  TableOptions,
  TableSnapshot,
  TopologyMode,
} from "./types.ts";
export { compareServicePorts, EndpointTable, type SavedObjects } from "./endpoint_table.ts";
export {
  cidrContains,
  ipFamilyOf,
  joinHostPort,
  parseCIDRSloppy,
  type ParsedCIDR,
  type ParsedIP,
  parseIPSloppy,
} from "./ip.ts";
export { compact, flat } from "./compact.ts";
export { LABEL_SERVICE_NAME, sameAddress } from "./endpoints.ts";
export {
  DEFAULT_AFFINITY_TIMEOUT_SECONDS,
  LABEL_HEADLESS,
  LABEL_SERVICE_PROXY_NAME,
} from "./service_port.ts";
export { LABEL_TOPOLOGY_ZONE } from "./node.ts";
export { endpointChainInput, servicePortChainInput } from "./chain_input.ts";
