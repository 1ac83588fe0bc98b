/**
 * Service → service ports (upstream `serviceToServiceMap` and `newBaseServiceInfo`).
 *
 * A Service is parsed once per event into a family-independent `ParsedService`;
 * `servicePortBases` then picks one family's addresses. Bad fields skip only the
 * affected port or address and leave a warning message.
 *
 * @module
 */

import type { V1Service } from "@kubernetes/client-node";
import { parseCIDRSloppy, parseIPSloppy } from "./ip.ts";
import type { IPFamily, Protocol, ServicePort, ServiceType, SessionAffinity } from "./types.ts";
import { compact, flat, SharedValues } from "./compact.ts";

/** Label that hands a Service (or slice) to another proxy: kube-proxy ignores the object. */
export const LABEL_SERVICE_PROXY_NAME = "service.kubernetes.io/service-proxy-name";
/** Label the EndpointSlice controller puts on slices of headless Services. */
export const LABEL_HEADLESS = "service.kubernetes.io/headless";
/** The API default of `sessionAffinityConfig.clientIP.timeoutSeconds` (3 hours). */
export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;
const MAX_AFFINITY_TIMEOUT_SECONDS = 86400;
const DEFAULT_AFFINITY: SessionAffinity = Object.freeze({
  timeoutSeconds: DEFAULT_AFFINITY_TIMEOUT_SECONDS,
});

/** A validated port of a Service, before family selection. */
export interface ParsedServicePortSpec {
  /** Port name, `""` when unnamed. */
  readonly portName: string;
  /** Protocol (`TCP` when unset, as the API server defaults it). */
  readonly protocol: Protocol;
  /** Service port, 1-65535. */
  readonly port: number;
  /** NodePort, 0 for none. */
  readonly nodePort: number;
}

/** Per-family address lists. */
export type ByFamily<T> = { readonly IPv4: T; readonly IPv6: T };

/** A Service reduced to what kube-proxy uses; `ports` is empty when it is skipped. */
export interface ParsedService {
  /** `namespace/name`. */
  readonly key: string;
  /** Namespace. The name is not kept apart from `key`: see {@linkcode serviceNameOf}. */
  readonly namespace: string;
  /**
   * The IPv4 ClusterIP, or null when the Service has none (or an invalid one). Two fields, not a
   * per-family pair: one object fewer per Service (see {@linkcode clusterIPOf}).
   */
  readonly clusterIPv4: string | null;
  /** The IPv6 ClusterIP, or null. */
  readonly clusterIPv6: string | null;
  /** The Service type. */
  readonly serviceType: ServiceType;
  /** Valid ports, deduplicated by (name, protocol) with the last one winning, as upstream. */
  readonly ports: readonly ParsedServicePortSpec[];
  /** Valid external IPs by family, canonical. */
  readonly externalIPs: ByFamily<readonly string[]>;
  /** VIP-mode LB ingress IPs by family, canonical. */
  readonly loadBalancerVIPs: ByFamily<readonly string[]>;
  /** Source ranges by family; already emptied where a zero CIDR allows all. */
  readonly loadBalancerSourceRanges: ByFamily<readonly string[]>;
  /** Health-check NodePort, 0 unless LoadBalancer with eTP Local. */
  readonly healthCheckNodePort: number;
  /** ClientIP affinity, or null. */
  readonly sessionAffinity: SessionAffinity | null;
  /** iTP Local. */
  readonly internalPolicyLocal: boolean;
  /** eTP Local on an externally accessible Service type. */
  readonly externalPolicyLocal: boolean;
}

/** The part of a `ServicePort` that does not depend on endpoints. */
export type ServicePortBase = Omit<
  ServicePort,
  | "topologyMode"
  | "endpoints"
  | "clusterEndpoints"
  | "localEndpoints"
  | "allReachableEndpoints"
  | "hasAnyEndpoints"
  | "hasInternalEndpoints"
  | "hasExternalEndpoints"
  | "localReadyEndpointCount"
>;

/** `ServicePortName.String()`: `ns/name:port`, or `ns/name` when the port is unnamed. */
export function servicePortKey(namespace: string, name: string, portName: string): string {
  return portName === "" ? flat(namespace, "/", name) : flat(namespace, "/", name, ":", portName);
}

/** Narrows a protocol string; the API server defaults an absent protocol to TCP. */
export function parseProtocol(value: string | undefined): Protocol | null {
  if (value === undefined) return "TCP";
  return value === "TCP" || value === "UDP" || value === "SCTP" ? value : null;
}

/** True for an integer in [min, max]. */
export function isPortNumber(value: unknown, min: number, max = 65535): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
}

/** The Service carries a label that tells kube-proxy to ignore it. */
export function hasIgnoredLabel(labels: Readonly<Record<string, string>> | undefined): boolean {
  return labels !== undefined &&
    (Object.hasOwn(labels, LABEL_SERVICE_PROXY_NAME) || Object.hasOwn(labels, LABEL_HEADLESS));
}

const EMPTY: readonly string[] = Object.freeze([]);

/** Most Services have no external IPs, VIPs or source ranges: they all share this one. */
const NONE_BY_FAMILY: ByFamily<readonly string[]> = Object.freeze({ IPv4: EMPTY, IPv6: EMPTY });

// Snapshot objects share these arrays, so they are frozen once here.
function frozenByFamily(v: { IPv4: string[]; IPv6: string[] }): ByFamily<readonly string[]> {
  if (v.IPv4.length === 0 && v.IPv6.length === 0) return NONE_BY_FAMILY;
  return {
    IPv4: Object.freeze(compact(v.IPv4)),
    IPv6: Object.freeze(compact(v.IPv6)),
  };
}

/**
 * Reduces a Service to what kube-proxy proxies. Returns null when the whole Service is skipped
 * (ExternalName, headless, no ClusterIP, ignore labels); pushes a message per bad field.
 */
export function parseService(svc: V1Service, warnings: string[]): ParsedService | null {
  const namespace = svc.metadata?.namespace ?? "";
  const name = svc.metadata?.name ?? "";
  const spec = svc.spec;
  if (spec === undefined || hasIgnoredLabel(svc.metadata?.labels)) return null;
  const rawType = spec.type ?? "ClusterIP";
  if (rawType === "ExternalName") return null;
  if (rawType !== "ClusterIP" && rawType !== "NodePort" && rawType !== "LoadBalancer") {
    warnings.push(`Ignoring Service with unknown type ${JSON.stringify(rawType)}`);
    return null;
  }
  // The literal, not the decoded text: JSON.parse gives each "LoadBalancer" its own string.
  const serviceType: ServiceType = rawType === "ClusterIP"
    ? "ClusterIP"
    : rawType === "NodePort"
    ? "NodePort"
    : "LoadBalancer";
  // Upstream's IsServiceIPSet looks at spec.clusterIP only, whatever clusterIPs says.
  if (spec.clusterIP === undefined || spec.clusterIP === "" || spec.clusterIP === "None") {
    return null;
  }

  const clusterIPs = parseClusterIPs(spec.clusterIP, spec.clusterIPs, spec.ipFamilies, warnings);
  if (clusterIPs.IPv4 === null && clusterIPs.IPv6 === null) return null;

  const externalIPs = splitIPs(spec.externalIPs ?? [], "external IP", warnings);
  const vips: { IPv4: string[]; IPv6: string[] } = { IPv4: [], IPv6: [] };
  for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
    if (ing.ip === undefined || ing.ip === "") continue;
    // ipMode Proxy means the load balancer delivers to the node itself: no VIP rules.
    if (ing.ipMode !== undefined && ing.ipMode !== "VIP") continue;
    const parsed = parseIPSloppy(ing.ip);
    if (parsed === null) {
      warnings.push(`Skipping invalid load-balancer ingress IP ${q(ing.ip)}`);
      continue;
    }
    vips[parsed.family].push(parsed.ip);
  }
  const loadBalancerVIPs = frozenByFamily(vips);

  const loadBalancerSourceRanges = parseSourceRanges(spec.loadBalancerSourceRanges, warnings);

  const externallyAccessibleType = serviceType !== "ClusterIP" ||
    (spec.externalIPs?.length ?? 0) > 0;
  const externalPolicyLocal = externallyAccessibleType && spec.externalTrafficPolicy === "Local";
  const internalPolicyLocal = spec.internalTrafficPolicy === "Local";

  let healthCheckNodePort = 0;
  if (serviceType === "LoadBalancer" && externalPolicyLocal) {
    const p = spec.healthCheckNodePort;
    if (p === undefined || p === 0) {
      warnings.push("Service has no healthCheckNodePort");
    } else if (!isPortNumber(p, 1)) {
      warnings.push(`Ignoring invalid healthCheckNodePort ${JSON.stringify(p)}`);
    } else {
      healthCheckNodePort = p;
    }
  }

  let sessionAffinity: SessionAffinity | null = null;
  if (spec.sessionAffinity === "ClientIP") {
    const t = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
    if (t === undefined) {
      sessionAffinity = DEFAULT_AFFINITY;
    } else if (!isPortNumber(t, 1, MAX_AFFINITY_TIMEOUT_SECONDS)) {
      warnings.push(
        `Using the default affinity timeout for invalid timeoutSeconds ${JSON.stringify(t)}`,
      );
      sessionAffinity = DEFAULT_AFFINITY;
    } else {
      sessionAffinity = affinityWithTimeout(t);
    }
  }

  return {
    key: flat(namespace, "/", name),
    namespace,
    clusterIPv4: clusterIPs.IPv4,
    clusterIPv6: clusterIPs.IPv6,
    serviceType,
    ports: parsePorts(spec.ports ?? [], warnings),
    externalIPs,
    loadBalancerVIPs,
    loadBalancerSourceRanges,
    healthCheckNodePort,
    sessionAffinity,
    internalPolicyLocal,
    externalPolicyLocal,
  };
}

/** The Service's name: its key after the namespace (one string fewer per Service). */
export function serviceNameOf(svc: ParsedService): string {
  return svc.key.slice(svc.namespace.length + 1);
}

/**
 * One shared frozen setting per timeout: most Services with affinity use one of a few. Bounded:
 * only valid timeouts (1 s to a day) get here.
 */
const affinityByTimeout = new Map<number, SessionAffinity>();

function affinityWithTimeout(timeoutSeconds: number): SessionAffinity {
  let affinity = affinityByTimeout.get(timeoutSeconds);
  if (affinity === undefined) {
    affinity = Object.freeze({ timeoutSeconds });
    affinityByTimeout.set(timeoutSeconds, affinity);
  }
  return affinity;
}

/** The ClusterIP of `svc` in `family`, or null when it has none. */
export function clusterIPOf(svc: ParsedService, family: IPFamily): string | null {
  return family === "IPv4" ? svc.clusterIPv4 : svc.clusterIPv6;
}

/** Upstream `GetClusterIPByFamily`, plus validation of the chosen address. */
function parseClusterIPs(
  clusterIP: string,
  clusterIPsField: readonly string[] | undefined,
  ipFamilies: readonly string[] | undefined,
  warnings: string[],
): ByFamily<string | null> {
  const out: { IPv4: string | null; IPv6: string | null } = { IPv4: null, IPv6: null };
  if (ipFamilies === undefined || ipFamilies.length === 0) {
    // Version skew: a Service without ipFamilies has only spec.clusterIP.
    const parsed = parseIPSloppy(clusterIP);
    if (parsed === null) warnings.push(`Ignoring Service with invalid clusterIP ${q(clusterIP)}`);
    else out[parsed.family] = parsed.ip;
    return out;
  }
  const ips = clusterIPsField ?? [];
  for (let i = 0; i < ipFamilies.length; i++) {
    const family = ipFamilies[i];
    const text = ips[i];
    if (family !== "IPv4" && family !== "IPv6") {
      warnings.push(`Ignoring unknown IP family ${q(family ?? "")}`);
      continue;
    }
    if (text === undefined || out[family] !== null) continue;
    const parsed = parseIPSloppy(text);
    if (parsed === null) {
      warnings.push(`Ignoring invalid ${family} clusterIP ${q(text)}`);
    } else if (parsed.family !== family) {
      warnings.push(`Ignoring clusterIP ${q(text)}: it is not ${family}`);
    } else {
      out[family] = parsed.ip;
    }
  }
  return out;
}

function q(s: string): string {
  return JSON.stringify(s);
}

function splitIPs(
  values: readonly string[],
  what: string,
  warnings: string[],
): ByFamily<readonly string[]> {
  if (values.length === 0) return NONE_BY_FAMILY;
  const out: { IPv4: string[]; IPv6: string[] } = { IPv4: [], IPv6: [] };
  for (const v of values) {
    const parsed = parseIPSloppy(v);
    if (parsed !== null) out[parsed.family].push(parsed.ip);
    // Upstream stays silent about blank entries: the API does not validate them away.
    else if (v.trim() !== "") warnings.push(`Skipping invalid ${what} ${q(v)}`);
  }
  return frozenByFamily(out);
}

function parseSourceRanges(
  values: readonly string[] | undefined,
  warnings: string[],
): ByFamily<readonly string[]> {
  if (values === undefined || values.length === 0) return NONE_BY_FAMILY;
  const out: { IPv4: string[]; IPv6: string[] } = { IPv4: [], IPv6: [] };
  const zero = { IPv4: false, IPv6: false };
  for (const v of values) {
    // API validation lets whitespace padding through, so upstream trims it.
    const parsed = parseCIDRSloppy(v.trim());
    if (parsed === null) {
      warnings.push(`Skipping invalid loadBalancerSourceRange ${q(v)}`);
      continue;
    }
    if (parsed.prefix === 0) zero[parsed.family] = true;
    out[parsed.family].push(parsed.cidr);
  }
  return frozenByFamily({ IPv4: zero.IPv4 ? [] : out.IPv4, IPv6: zero.IPv6 ? [] : out.IPv6 });
}

function parsePorts(
  ports: readonly NonNullable<NonNullable<V1Service["spec"]>["ports"]>[number][],
  warnings: string[],
): readonly ParsedServicePortSpec[] {
  const byId = new Map<string, ParsedServicePortSpec>();
  for (const p of ports) {
    const portName = p.name ?? "";
    const label = portName === "" ? "unnamed port" : `port ${q(portName)}`;
    const protocol = parseProtocol(p.protocol);
    if (protocol === null) {
      warnings.push(`Skipping ${label}: unknown protocol ${q(String(p.protocol))}`);
      continue;
    }
    if (!isPortNumber(p.port, 1)) {
      warnings.push(`Skipping ${label}: port ${JSON.stringify(p.port)} is out of range`);
      continue;
    }
    const nodePort = p.nodePort ?? 0;
    if (!isPortNumber(nodePort, 0)) {
      warnings.push(`Skipping ${label}: nodePort ${JSON.stringify(p.nodePort)} is out of range`);
      continue;
    }
    const id = `${portName}/${protocol}`;
    if (byId.has(id)) {
      warnings.push(`Duplicate ${label} with protocol ${protocol}: the last one wins`);
      byId.delete(id);
    }
    byId.set(id, Object.freeze({ portName, protocol, port: p.port, nodePort }));
  }
  const list = [...byId.values()];
  if (list.length === 0) return compact(list);
  const key = list.map((s) => `${s.portName}\u0000${s.protocol}\u0000${s.port}\u0000${s.nodePort}`)
    .join("\u0001");
  return specLists.share(key, list);
}

/**
 * Port lists already handed out: most Services list the same ports (`http` 80/TCP), and at 10k
 * Services a list and its port objects per Service cost ~1 MiB.
 */
const specLists = new SharedValues<readonly ParsedServicePortSpec[]>(
  4096,
  (a, b) =>
    a.length === b.length && a.every((p, i) => {
      const q = b[i];
      return q !== undefined && p.portName === q.portName && p.protocol === q.protocol &&
        p.port === q.port && p.nodePort === q.nodePort;
    }),
  (list) => Object.freeze(compact(list)),
);

/**
 * The endpoint-independent part of one port of a parsed Service in one family. Every field is
 * read through from the `ParsedService` and its port spec, which the table keeps anyway: a large
 * cluster holds one of these per port (10k at 10k Services), 64 bytes each instead of a copy of
 * 22 fields (~200 bytes). Frozen.
 */
class PortBase implements ServicePortBase {
  readonly id: string;
  readonly key: string;
  readonly family: IPFamily;
  readonly #svc: ParsedService;
  readonly #spec: ParsedServicePortSpec;

  constructor(svc: ParsedService, spec: ParsedServicePortSpec, family: IPFamily) {
    // An unnamed port's key is the Service's own (one string for both).
    const key = spec.portName === ""
      ? svc.key
      : servicePortKey(svc.namespace, serviceNameOf(svc), spec.portName);
    this.id = flat(key, "/", spec.protocol);
    this.key = key;
    this.family = family;
    this.#svc = svc;
    this.#spec = spec;
    Object.freeze(this);
  }

  get serviceKey(): string {
    return this.#svc.key;
  }
  get namespace(): string {
    return this.#svc.namespace;
  }
  get name(): string {
    return serviceNameOf(this.#svc);
  }
  get portName(): string {
    return this.#spec.portName;
  }
  get protocol(): Protocol {
    return this.#spec.protocol;
  }
  get serviceType(): ServiceType {
    return this.#svc.serviceType;
  }
  get clusterIP(): string {
    return clusterIPOf(this.#svc, this.family) ?? "";
  }
  get port(): number {
    return this.#spec.port;
  }
  get nodePort(): number {
    return this.#spec.nodePort;
  }
  get externalIPs(): readonly string[] {
    return this.#svc.externalIPs[this.family];
  }
  get loadBalancerVIPs(): readonly string[] {
    return this.#svc.loadBalancerVIPs[this.family];
  }
  get loadBalancerSourceRanges(): readonly string[] {
    return this.#svc.loadBalancerSourceRanges[this.family];
  }
  get healthCheckNodePort(): number {
    return this.#svc.healthCheckNodePort;
  }
  get sessionAffinity(): SessionAffinity | null {
    return this.#svc.sessionAffinity;
  }
  get internalPolicyLocal(): boolean {
    return this.#svc.internalPolicyLocal;
  }
  get externalPolicyLocal(): boolean {
    return this.#svc.externalPolicyLocal;
  }
  get externallyAccessible(): boolean {
    return this.#spec.nodePort !== 0 || this.loadBalancerVIPs.length > 0 ||
      this.externalIPs.length > 0;
  }
  // eTP Local still needs Cluster endpoints for the pod and host short-circuits.
  get usesClusterEndpoints(): boolean {
    return !this.#svc.internalPolicyLocal || this.externallyAccessible;
  }
  get usesLocalEndpoints(): boolean {
    return this.#svc.internalPolicyLocal ||
      (this.#svc.externalPolicyLocal && this.externallyAccessible);
  }
}

/**
 * The endpoint-independent part of each port of `svc` in `family`, in spec order; empty when
 * the Service has no ClusterIP of that family.
 */
export function servicePortBases(svc: ParsedService, family: IPFamily): ServicePortBase[] {
  if (clusterIPOf(svc, family) === null) return [];
  return svc.ports.map((p) => new PortBase(svc, p, family));
}
