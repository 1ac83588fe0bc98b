/**
 * The model's public types: what backends, the sync loop and the health servers read.
 *
 * Everything here is already decided per node and per IP family (reference §1): a backend
 * renders these values and never re-derives Kubernetes semantics from API objects.
 *
 * @module
 */

/** An IP family, spelled as in `spec.ipFamilies` and `addressType`. */
export type IPFamily = "IPv4" | "IPv6";

/** The transport protocols kube-proxy proxies. */
export type Protocol = "TCP" | "UDP" | "SCTP";

/** The proxied Service types (ExternalName Services never reach the snapshot). */
export type ServiceType = "ClusterIP" | "NodePort" | "LoadBalancer";

/**
 * The topology mode chosen from endpoint hints (upstream `topologyModeFromHints`).
 * `""` means no topology: every ready endpoint is a Cluster endpoint.
 */
export type TopologyMode = "" | "PreferSameZone" | "PreferSameNode";

/** The `detectLocalMode` values of KubeProxyConfiguration. */
export type DetectLocalMode =
  | "ClusterCIDR"
  | "NodeCIDR"
  | "BridgeInterface"
  | "InterfaceNamePrefix";

/** The three informer sources; rules are programmed only once all have synced. */
export type SyncSource = "services" | "endpointSlices" | "node";

/** Feature gates that change the model's decisions. */
export interface ModelFeatureGates {
  /**
   * Use `hints.forNodes` (trafficDistribution PreferSameNode).
   * @default true (beta and on by default upstream since v1.34)
   */
  readonly PreferSameTrafficDistribution?: boolean;
}

/** The node context an `EndpointTable` is built for; taken from the resolved config. */
export interface TableOptions {
  /** This node's name (`hostnameOverride`, else the hostname); decides `isLocal` and node hints. */
  readonly nodeName: string;
  /** How "traffic from local pods" is recognised. */
  readonly detectLocalMode: DetectLocalMode;
  /** `detectLocal.clusterCIDRs` (ClusterCIDR mode): the first CIDR of each family is used. */
  readonly clusterCIDRs: readonly string[];
  /** `detectLocal.bridgeInterface` (BridgeInterface mode). */
  readonly bridgeInterface: string;
  /** `detectLocal.interfaceNamePrefix` (InterfaceNamePrefix mode). */
  readonly interfaceNamePrefix: string;
  /** Feature gates; unset gates take their upstream default. */
  readonly featureGates?: ModelFeatureGates;
}

/**
 * How a backend recognises traffic from this node's pods (upstream LocalTrafficDetector).
 * `none` is upstream's no-op detector: render no "is local" / "not local" matches at all.
 * `cidr` holds one CIDR (upstream uses the first of the family), canonical and masked.
 */
export type LocalTrafficDetector =
  | { readonly kind: "none" }
  | { readonly kind: "cidr"; readonly cidrs: readonly string[] }
  | { readonly kind: "interface"; readonly name: string }
  | { readonly kind: "interfacePrefix"; readonly prefix: string };

/** One endpoint (a pod address and port) of one service port, as kube-proxy sees it. */
export interface Endpoint {
  /** The canonical IP (`addresses[0]` of the slice endpoint, sloppy-parsed and normalised). */
  readonly ip: string;
  /** The port from the EndpointSlice (the DNAT target port; `targetPort` is never used). */
  readonly port: number;
  /** `ip:port`, or `[ip]:port` for IPv6: upstream's `Endpoint.String()`, the sort and dedup key. */
  readonly ipPort: string;
  /** The endpoint's `nodeName` equals this node's name. */
  readonly isLocal: boolean;
  /** `conditions.ready`, true when unset. */
  readonly ready: boolean;
  /** `conditions.serving`, true when unset. */
  readonly serving: boolean;
  /** `conditions.terminating`, false when unset. */
  readonly terminating: boolean;
  /** The endpoint's `nodeName`, or null. */
  readonly nodeName: string | null;
  /** The endpoint's `zone`, or null. */
  readonly zone: string | null;
  /** `hints.forZones[].name`, sorted and deduplicated. */
  readonly zoneHints: readonly string[];
  /** `hints.forNodes[].name` (empty unless PreferSameTrafficDistribution), sorted, deduplicated. */
  readonly nodeHints: readonly string[];
}

/** Session affinity of a service port; null in `ServicePort` means none. */
export interface SessionAffinity {
  /** `sessionAffinityConfig.clientIP.timeoutSeconds`, 10800 when unset. */
  readonly timeoutSeconds: number;
}

/**
 * One (Service, port) in one IP family with every decision made: upstream's ServicePort plus
 * the output of `CategorizeEndpoints` and the §1.4 derived booleans.
 */
export interface ServicePort {
  /** Unique within a snapshot: `key + "/" + protocol`, e.g. `ns1/svc1:p80/TCP`. */
  readonly id: string;
  /** Upstream `ServicePortName.String()`: `ns/name:portName`, or `ns/name` for an unnamed port. */
  readonly key: string;
  /** `namespace/name` of the Service. */
  readonly serviceKey: string;
  /** The Service's namespace. */
  readonly namespace: string;
  /** The Service's name. */
  readonly name: string;
  /** The port's name (`""` when unnamed). */
  readonly portName: string;
  /** The port's protocol. */
  readonly protocol: Protocol;
  /** The family of every address in this object. */
  readonly family: IPFamily;
  /** The Service type (an absent type means ClusterIP, as the API server defaults it). */
  readonly serviceType: ServiceType;
  /** The ClusterIP of this family, canonical. */
  readonly clusterIP: string;
  /** The service port number. */
  readonly port: number;
  /** The NodePort, 0 for none. */
  readonly nodePort: number;
  /** `spec.externalIPs` of this family, canonical, in spec order. */
  readonly externalIPs: readonly string[];
  /** VIP-mode load-balancer ingress IPs of this family (`ipMode: Proxy` excluded), canonical. */
  readonly loadBalancerVIPs: readonly string[];
  /**
   * `loadBalancerSourceRanges` of this family: trimmed, canonical (masked) CIDRs. Empty means
   * allow all (also when any range was a zero-length prefix such as `0.0.0.0/0`).
   */
  readonly loadBalancerSourceRanges: readonly string[];
  /** The health-check NodePort; non-zero only for type LoadBalancer with eTP Local. */
  readonly healthCheckNodePort: number;
  /** ClientIP session affinity, or null. */
  readonly sessionAffinity: SessionAffinity | null;
  /** `internalTrafficPolicy: Local`. */
  readonly internalPolicyLocal: boolean;
  /** `externalTrafficPolicy: Local` on an externally accessible Service type. */
  readonly externalPolicyLocal: boolean;
  /** `nodePort != 0 || loadBalancerVIPs or externalIPs non-empty`. */
  readonly externallyAccessible: boolean;
  /** The port ever sends traffic by Cluster policy (also true for eTP Local short-circuits). */
  readonly usesClusterEndpoints: boolean;
  /** The port ever sends traffic by Local policy. */
  readonly usesLocalEndpoints: boolean;
  /** The topology mode used for `clusterEndpoints`. */
  readonly topologyMode: TopologyMode;
  /** Every endpoint matched to this port (any condition, any node), sorted by `ipPort`. */
  readonly endpoints: readonly Endpoint[];
  /** Usable Cluster-policy endpoints (topology applied, serving-terminating fallback), sorted. */
  readonly clusterEndpoints: readonly Endpoint[];
  /** Usable Local-policy endpoints (local ready, else local serving-terminating), sorted. */
  readonly localEndpoints: readonly Endpoint[];
  /** Union of the two lists, sorted: only these get per-endpoint chains. */
  readonly allReachableEndpoints: readonly Endpoint[];
  /** Some usable endpoint exists anywhere in the cluster (false means REJECT). */
  readonly hasAnyEndpoints: boolean;
  /** ClusterIP traffic can be served (else REJECT, or DROP when iTP Local). */
  readonly hasInternalEndpoints: boolean;
  /** External traffic can be served (else REJECT, or DROP when eTP Local). */
  readonly hasExternalEndpoints: boolean;
  /**
   * Distinct IPs of local ready endpoints of the whole Service in this family (any slice port):
   * what the health-check NodePort server reports.
   */
  readonly localReadyEndpointCount: number;
}

/**
 * Everything one IP family's backend needs, sorted and frozen. When nothing in a family
 * changed, the next snapshot carries the very same object (compare with `===`).
 */
export interface ProxySnapshot {
  /** The family of every address in this snapshot. */
  readonly family: IPFamily;
  /** Service ports sorted by `key`, then `protocol`. */
  readonly servicePorts: readonly ServicePort[];
  /** Node IPs of this family: InternalIP addresses, then ExternalIP ones; the first is primary. */
  readonly nodeIPs: readonly string[];
  /** The node's pod CIDRs of this family, canonical. */
  readonly podCIDRs: readonly string[];
  /** How to recognise traffic from local pods in this family. */
  readonly localDetector: LocalTrafficDetector;
  /** Sum of `allReachableEndpoints.length`: the endpoints that get rules (upstream sizes its
   * large-cluster mode on all endpoints, ready or not). */
  readonly reachableEndpointCount: number;
}

/** What the table knows about its own Node. */
export interface NodeInfo {
  /** The node name the table was built for. */
  readonly name: string;
  /** A Node object with that name has been delivered (and not deleted). */
  readonly known: boolean;
  /** The `topology.kubernetes.io/zone` label, `""` when absent. */
  readonly zone: string;
}

/** A problem with one API object; the object's other parts are still used. */
export interface ModelWarning {
  /** The object's kind. */
  readonly kind: "Service" | "EndpointSlice" | "Node";
  /** The object's namespace (`""` for a Node). */
  readonly namespace: string;
  /** The object's name. */
  readonly name: string;
  /** What was skipped and why, in sentence case with values quoted. */
  readonly message: string;
}

/** One result of `EndpointTable.snapshot()`. */
export interface TableSnapshot {
  /** Increases only when something this node renders changed; starts at 0 (empty). */
  readonly revision: number;
  /** Services, EndpointSlices and the Node have each been delivered in full once. */
  readonly synced: boolean;
  /** This node's identity and topology. */
  readonly node: NodeInfo;
  /** The IPv4 view. */
  readonly v4: ProxySnapshot;
  /** The IPv6 view. */
  readonly v6: ProxySnapshot;
  /** `ServicePort.id`s added, changed or removed (either family) since the previous snapshot. */
  readonly changed: readonly string[];
  /** `namespace/name` of the Services behind `changed`. */
  readonly changedServices: readonly string[];
  /** Node data (IPs, pod CIDRs, zone, detectors) changed since the previous snapshot. */
  readonly nodeChanged: boolean;
  /** Every warning that currently applies, sorted. */
  readonly warnings: readonly ModelWarning[];
  /** Warnings that appeared since the previous snapshot: log and count these once. */
  readonly newWarnings: readonly ModelWarning[];
}
