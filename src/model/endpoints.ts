/**
 * EndpointSlices → endpoints per service port, and their categorisation for this node
 * (upstream `endpointslicecache.go` and `topology.go` `CategorizeEndpoints`).
 *
 * @module
 */

import type { V1EndpointSlice } from "@kubernetes/client-node";
import { compact, flat, SharedValues } from "./compact.ts";
import { canonicalIP, joinHostPort } from "./ip.ts";
import { sameStrings } from "./node.ts";
import { hasIgnoredLabel, isPortNumber, parseProtocol } from "./service_port.ts";
import type {
  Endpoint,
  IPFamily,
  Protocol,
  ServicePort,
  ServiceType,
  SessionAffinity,
  TopologyMode,
} from "./types.ts";
import type { ServicePortBase } from "./service_port.ts";

/** The label that ties an EndpointSlice to its Service. */
export const LABEL_SERVICE_NAME = "kubernetes.io/service-name";

/** What slice parsing needs to know about this node. */
export interface EndpointContext {
  /** This node's name; an endpoint on it is local. */
  readonly nodeName: string;
  /** PreferSameTrafficDistribution: keep `hints.forNodes`. */
  readonly preferSameNode: boolean;
}

/** One port of a slice. */
export interface ParsedSlicePort {
  /** Port name (`""` when unnamed). */
  readonly portName: string;
  /** Protocol. */
  readonly protocol: Protocol;
  /** Port number, 1-65535. */
  readonly port: number;
}

/** An EndpointSlice reduced to what kube-proxy uses. */
export interface ParsedSlice {
  /** `namespace/sliceName`. */
  readonly id: string;
  /** `namespace/serviceName` from the service-name label. */
  readonly serviceKey: string;
  /** The slice's address family. */
  readonly family: IPFamily;
  /** Valid ports. */
  readonly ports: readonly ParsedSlicePort[];
  /**
   * Endpoints per slice port, keyed by `portMatchKey`: frozen, sorted by `ipPort` and already
   * deduplicated, so a Service with one slice needs no merging at all.
   */
  readonly byPort: PortLists;
  /** Distinct IPs of local ready endpoints (counted only when the slice has a valid port). */
  readonly localReadyIPs: readonly string[];
  /** Some endpoint carries zone hints, so the node's zone matters to this slice. */
  readonly hasZoneHints: boolean;
}

const EMPTY: readonly string[] = Object.freeze([]);
const NO_ENDPOINTS: readonly Endpoint[] = Object.freeze([]);

/**
 * Where an endpoint runs, what its hints say and its three conditions: one shared object per
 * distinct combination (a few hundred in a large cluster, however many endpoints).
 */
interface Facts {
  readonly nodeName: string | null;
  readonly zone: string | null;
  readonly zoneHints: readonly string[];
  readonly nodeHints: readonly string[];
  readonly isLocal: boolean;
  /** READY | SERVING | TERMINATING bits. */
  readonly conditions: number;
}

/** The facts of one placement, one per combination of conditions (made when first needed). */
type Placement = (Facts | undefined)[];

const READY = 1;
const SERVING = 2;
const TERMINATING = 4;

/**
 * The endpoint record the table keeps: its address, its port and its shared
 * {@linkcode Facts}; every field of {@linkcode Endpoint} is a getter. A large cluster holds one per
 * endpoint and port (93k at 10k × 10). An IPv4 address is kept as a 32-bit number, so the record
 * is 48 bytes and no string (an `ip:port` string per endpoint cost 32 bytes more: 2.3 MiB at
 * 10k × 10); `ip` and `ipPort` are formatted when read, which renders do once per endpoint rule at
 * most. An IPv6 endpoint keeps its `[ip]:port` string.
 */
class SliceEndpoint implements Endpoint {
  /** The IPv4 address as an int32, or `[ip]:port` for IPv6. */
  readonly #address: number | string;
  readonly #port: number;
  readonly #facts: Facts;

  constructor(ip: string, port: number, facts: Facts) {
    this.#address = ip.includes(":") ? joinHostPort(ip, port) : ipv4Number(ip);
    this.#port = port;
    this.#facts = facts;
    Object.freeze(this);
  }

  /** Same address and port, without formatting either (for two records of this class). */
  static sameAddress(a: Endpoint, b: Endpoint): boolean {
    if (#address in a && #address in b) return a.#address === b.#address && a.#port === b.#port;
    return a.ipPort === b.ipPort;
  }

  get ip(): string {
    const a = this.#address;
    return typeof a === "number" ? ipv4Text(a) : a.slice(1, a.lastIndexOf("]"));
  }
  get port(): number {
    return this.#port;
  }
  get ipPort(): string {
    const a = this.#address;
    return typeof a === "number" ? `${ipv4Text(a)}:${this.#port}` : a;
  }
  get ready(): boolean {
    return (this.#facts.conditions & READY) !== 0;
  }
  get serving(): boolean {
    return (this.#facts.conditions & SERVING) !== 0;
  }
  get terminating(): boolean {
    return (this.#facts.conditions & TERMINATING) !== 0;
  }
  get isLocal(): boolean {
    return this.#facts.isLocal;
  }
  get nodeName(): string | null {
    return this.#facts.nodeName;
  }
  get zone(): string | null {
    return this.#facts.zone;
  }
  get zoneHints(): readonly string[] {
    return this.#facts.zoneHints;
  }
  get nodeHints(): readonly string[] {
    return this.#facts.nodeHints;
  }
}

/** A canonical dotted-quad IPv4 address as an int32 (a small integer to V8: no heap object). */
function ipv4Number(ip: string): number {
  let n = 0;
  let part = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      n = (n << 8) | part;
      part = 0;
    } else {
      part = part * 10 + (c - 48);
    }
  }
  return (n << 8) | part;
}

function ipv4Text(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/**
 * The two endpoints have the same `ip:port` (compared without formatting it when both are the
 * table's own records).
 */
export function sameAddress(a: Endpoint, b: Endpoint): boolean {
  return a === b || SliceEndpoint.sameAddress(a, b);
}

/** Placements already made, per endpoint context (so per table), keyed by their fields. */
const placementCache = new WeakMap<EndpointContext, Map<string, Placement>>();
/** A cache is dropped when it grows past this (node churn); endpoints keep their objects. */
const PLACEMENT_CACHE_LIMIT = 16384;

function placementOf(
  ctx: EndpointContext,
  nodeName: string | null,
  zone: string | null,
  zoneHints: readonly string[],
  nodeHints: readonly string[],
): Placement {
  let cache = placementCache.get(ctx);
  if (cache === undefined || cache.size >= PLACEMENT_CACHE_LIMIT) {
    placementCache.set(ctx, cache = new Map());
  }
  // Names are DNS labels and zones label values: neither holds control characters.
  const key = `${nodeName ?? "\u0002"}\u0000${zone ?? "\u0002"}\u0000${zoneHints.join("\u0001")}` +
    `\u0000${nodeHints.join("\u0001")}`;
  const cached = cache.get(key);
  const sample = cached?.find((f) => f !== undefined);
  // Checked, so that even names with control characters (a hand-written state file) cannot
  // share a placement that is not theirs.
  if (
    cached !== undefined && sample !== undefined && sample.nodeName === nodeName &&
    sample.zone === zone && sameStrings(sample.zoneHints, zoneHints) &&
    sameStrings(sample.nodeHints, nodeHints)
  ) {
    return cached;
  }
  // Filled by factsOf(), one entry per combination of the three condition bits.
  const placement: Placement = new Array<Facts | undefined>(8).fill(undefined);
  if (cached === undefined) cache.set(key, placement);
  return placement;
}

/** The shared facts of `placement` with these conditions. */
function factsOf(
  ctx: EndpointContext,
  placement: Placement,
  fields: Omit<Facts, "isLocal" | "conditions">,
  conditions: number,
): Facts {
  const known = placement[conditions];
  if (known !== undefined) return known;
  const isLocal = fields.nodeName !== null && ctx.nodeName !== "" &&
    fields.nodeName === ctx.nodeName;
  const facts: Facts = Object.freeze({ ...fields, isLocal, conditions });
  placement[conditions] = facts;
  return facts;
}

function hintNames(list: readonly { name: string }[] | undefined): readonly string[] {
  if (list === undefined || list.length === 0) return EMPTY;
  const names = [...new Set(list.map((h) => h.name))].sort();
  return Object.freeze(names);
}

/**
 * Reduces a slice to what kube-proxy uses, or returns null when kube-proxy ignores the whole
 * slice (FQDN, ignore labels, no service-name label). Bad ports and endpoints are skipped with a
 * message in `warnings`.
 */
export function parseEndpointSlice(
  slice: V1EndpointSlice,
  ctx: EndpointContext,
  warnings: string[],
): ParsedSlice | null {
  const meta = slice.metadata;
  const namespace = meta?.namespace ?? "";
  const name = meta?.name ?? "";
  if (hasIgnoredLabel(meta?.labels)) return null;
  const serviceName = meta?.labels?.[LABEL_SERVICE_NAME] ?? "";
  if (serviceName === "") {
    warnings.push(`Ignoring EndpointSlice without a ${JSON.stringify(LABEL_SERVICE_NAME)} label`);
    return null;
  }
  if (namespace === "" || name === "") {
    warnings.push("Ignoring EndpointSlice without a name and namespace");
    return null;
  }
  const family = slice.addressType;
  if (family === "FQDN") return null;
  if (family !== "IPv4" && family !== "IPv6") {
    warnings.push(`Ignoring EndpointSlice with unknown addressType ${JSON.stringify(family)}`);
    return null;
  }

  const ports: ParsedSlicePort[] = [];
  for (const p of slice.ports ?? []) {
    // The API server defaults an absent name to "" and an absent protocol to TCP.
    const portName = p.name ?? "";
    const label = portName === "" ? "unnamed port" : `port ${JSON.stringify(portName)}`;
    const protocol = parseProtocol(p.protocol);
    if (protocol === null) {
      warnings.push(`Skipping ${label}: unknown protocol ${JSON.stringify(String(p.protocol))}`);
      continue;
    }
    if (!isPortNumber(p.port, 1)) {
      warnings.push(`Skipping ${label}: port ${JSON.stringify(p.port ?? null)} is invalid`);
      continue;
    }
    ports.push({ portName, protocol, port: p.port });
  }

  // One list per port, filled in a single pass: no per-endpoint temporary records.
  const lists: Endpoint[][] = ports.map(() => []);
  const localReady = new Set<string>();
  let hasZoneHints = false;
  for (const ep of slice.endpoints ?? []) {
    const address = ep.addresses?.[0];
    if (address === undefined) {
      warnings.push("Skipping endpoint without addresses");
      continue;
    }
    const ip = canonicalIP(address);
    if (ip === null) {
      warnings.push(`Skipping endpoint with invalid address ${JSON.stringify(address)}`);
      continue;
    }
    if (ip.includes(":") !== (family === "IPv6")) {
      warnings.push(`Skipping endpoint ${JSON.stringify(address)}: it is not ${family}`);
      continue;
    }
    const zoneHints = hintNames(ep.hints?.forZones);
    const nodeHints = ctx.preferSameNode ? hintNames(ep.hints?.forNodes) : EMPTY;
    const nodeName = ep.nodeName ?? null;
    const zone = ep.zone ?? null;
    const ready = ep.conditions?.ready ?? true;
    const conditions = (ready ? READY : 0) | ((ep.conditions?.serving ?? true) ? SERVING : 0) |
      ((ep.conditions?.terminating ?? false) ? TERMINATING : 0);
    const facts = factsOf(
      ctx,
      placementOf(ctx, nodeName, zone, zoneHints, nodeHints),
      { nodeName, zone, zoneHints, nodeHints },
      conditions,
    );
    if (zoneHints.length > 0) hasZoneHints = true;
    if (facts.isLocal && ready) localReady.add(ip);
    for (let i = 0; i < ports.length; i++) {
      lists[i]?.push(new SliceEndpoint(ip, ports[i]?.port ?? 0, facts));
    }
  }

  const shared = sharedPorts(ports);
  const byPort = new Map<string, readonly Endpoint[]>();
  for (let i = 0; i < ports.length; i++) {
    const key = shared.keys[i];
    const list = lists[i];
    if (key === undefined || list === undefined) continue;
    // A port listed twice behaves as upstream: its endpoints join the same set.
    const prior = byPort.get(key);
    byPort.set(key, dedupSorted(prior === undefined ? list : [...prior, ...list]));
  }
  // Upstream counts only ready endpoints for health checks, once per IP across ports, and
  // only endpoints that made it into its map (so a slice needs a valid port).
  const localReadyIPs = ports.length > 0 && localReady.size > 0
    ? Object.freeze([...localReady])
    : EMPTY;
  return {
    id: flat(namespace, "/", name),
    serviceKey: flat(namespace, "/", serviceName),
    family,
    ports: shared.ports,
    byPort: new PortLists(byPort),
    localReadyIPs,
    hasZoneHints,
  };
}

/** A slice's ports and their match keys, as {@linkcode sharedPorts} hands them out. */
interface SharedPorts {
  readonly ports: readonly ParsedSlicePort[];
  /** `portMatchKey` of each port, in the same order. */
  readonly keys: readonly string[];
}

const NO_SHARED_PORTS: SharedPorts = Object.freeze({ ports: Object.freeze([]), keys: EMPTY });

/** Port lists already handed out, keyed by their fields. */
const portLists = new SharedValues<SharedPorts, readonly ParsedSlicePort[]>(
  4096,
  (shared, ports) => sameSlicePorts(shared.ports, ports),
  (ports) =>
    Object.freeze({
      ports: Object.freeze(ports.map((p) => Object.freeze({ ...p }))),
      keys: Object.freeze(ports.map((p) => portMatchKey(p.portName, p.protocol))),
    }),
);

/**
 * One frozen copy of each distinct list of slice ports (most slices of a cluster list the same
 * one or two ports): at 10k slices that is one list, its port and its match key instead of 10k
 * of each (~1 MiB).
 */
function sharedPorts(ports: readonly ParsedSlicePort[]): SharedPorts {
  if (ports.length === 0) return NO_SHARED_PORTS;
  const key = ports.map((p) => `${p.portName}\u0000${p.protocol}\u0000${p.port}`).join("\u0001");
  return portLists.share(key, ports);
}

function sameSlicePorts(a: readonly ParsedSlicePort[], b: readonly ParsedSlicePort[]): boolean {
  return a.length === b.length && a.every((p, i) => {
    const q = b[i];
    return q !== undefined && p.portName === q.portName && p.protocol === q.protocol &&
      p.port === q.port;
  });
}

/** `portName/protocol`: how service ports and slice ports are matched. */
export function portMatchKey(portName: string, protocol: Protocol): string {
  return `${portName}/${protocol}`;
}

/**
 * Endpoint lists by `portMatchKey`, as a slice keeps them: most slices have one port, and a `Map`
 * costs ~330 bytes even for one entry (3.5 MiB for the 10k slices of 10k Services). The first
 * pair is held in two fields (48 bytes for a one-port slice, against 96 with an array of the
 * pair); further pairs, rare, in one exact-size array.
 */
export class PortLists implements Iterable<readonly [string, readonly Endpoint[]]> {
  /** Null when the slice has no port. */
  readonly #key: string | null;
  readonly #list: readonly Endpoint[];
  readonly #more: readonly (string | readonly Endpoint[])[];

  /** @param entries Lists by key, in slice-port order. */
  constructor(entries: Iterable<readonly [string, readonly Endpoint[]]>) {
    const items: (string | readonly Endpoint[])[] = [];
    for (const [key, list] of entries) items.push(key, list);
    this.#key = (items[0] as string | undefined) ?? null;
    this.#list = (items[1] as readonly Endpoint[] | undefined) ?? NO_ENDPOINTS;
    this.#more = items.length > 2 ? compact(items.slice(2)) : EMPTY;
    Object.freeze(this);
  }

  /** How many ports have a list. */
  get size(): number {
    return this.#key === null ? 0 : 1 + this.#more.length / 2;
  }

  /** The list of the port with this key. */
  get(key: string): readonly Endpoint[] | undefined {
    if (this.#key === key) return this.#list;
    for (let i = 0; i < this.#more.length; i += 2) {
      if (this.#more[i] === key) return this.#more[i + 1] as readonly Endpoint[];
    }
    return undefined;
  }

  /** The lists, in slice-port order. */
  *values(): Generator<readonly Endpoint[]> {
    for (const [, list] of this) yield list;
  }

  /** `[key, list]` pairs, in slice-port order. */
  *[Symbol.iterator](): Generator<readonly [string, readonly Endpoint[]]> {
    if (this.#key === null) return;
    yield [this.#key, this.#list];
    for (let i = 0; i < this.#more.length; i += 2) {
      yield [this.#more[i] as string, this.#more[i + 1] as readonly Endpoint[]];
    }
  }
}

/** Endpoint lists by port key: a slice's {@linkcode PortLists}, or a merge's `Map`. */
export type PortLookup = Pick<ReadonlyMap<string, readonly Endpoint[]>, "get">;

/** Endpoints of one Service in one family, per slice port, plus its local-ready count. */
export interface MergedEndpoints {
  /** Keyed by `portMatchKey`; each list sorted by `ipPort`, frozen. */
  readonly byPort: PortLookup;
  /** Distinct IPs of local ready endpoints across all ports (the health-check count). */
  readonly localReadyCount: number;
}

const NO_MERGE: MergedEndpoints = { byPort: new Map(), localReadyCount: 0 };

/**
 * Merges the slices of one Service (given in a stable order) for `family`: one endpoint per
 * `ip:port`, a non-terminating endpoint winning over a terminating one with the same address.
 */
export function mergeSlices(slices: Iterable<ParsedSlice>, family: IPFamily): MergedEndpoints {
  const matching: ParsedSlice[] = [];
  for (const s of slices) if (s.family === family) matching.push(s);
  const first = matching[0];
  if (first === undefined) return NO_MERGE;
  // The common case: one slice per family, already sorted and deduplicated at parse time.
  if (matching.length === 1) {
    return { byPort: first.byPort, localReadyCount: first.localReadyIPs.length };
  }
  const lists = new Map<string, Endpoint[]>();
  const localReady = new Set<string>();
  for (const s of matching) {
    for (const [key, eps] of s.byPort) {
      const acc = lists.get(key);
      if (acc === undefined) lists.set(key, [...eps]);
      else for (const ep of eps) acc.push(ep);
    }
    for (const ip of s.localReadyIPs) localReady.add(ip);
  }
  const byPort = new Map<string, readonly Endpoint[]>();
  for (const [key, list] of lists) byPort.set(key, dedupSorted(list));
  return { byPort, localReadyCount: localReady.size };
}

/**
 * Sorts by `ipPort` and keeps one endpoint per address, as upstream's map does when fed in
 * order: the last non-terminating endpoint wins, else the first one. Returns a frozen list.
 */
function dedupSorted(list: Endpoint[]): readonly Endpoint[] {
  if (list.length === 0) return NO_ENDPOINTS;
  if (list.length === 1) return Object.freeze(compact(list));
  // Each address formatted once, not once per comparison (records keep IPv4 as a number).
  const keys = list.map((ep) => ep.ipPort);
  const order = keys.map((_, i) => i);
  // Equal addresses keep event order.
  order.sort((i, j) => {
    const a = keys[i] as string;
    const b = keys[j] as string;
    return a < b ? -1 : a > b ? 1 : i - j;
  });
  const out: Endpoint[] = [];
  for (let k = 0; k < order.length;) {
    const head = order[k] as number;
    let chosen = list[head] as Endpoint;
    let m = k + 1;
    for (; m < order.length && keys[order[m] as number] === keys[head]; m++) {
      const ep = list[order[m] as number] as Endpoint;
      if (!ep.terminating) chosen = ep;
    }
    out.push(chosen);
    k = m;
  }
  return Object.freeze(compact(out));
}

/** The node facts categorisation depends on. */
export interface CategorizeContext {
  /** This node's name. */
  readonly nodeName: string;
  /** The node's `topology.kubernetes.io/zone` label, `""` when unknown. */
  readonly zone: string;
  /** PreferSameTrafficDistribution gate. */
  readonly preferSameNode: boolean;
}

/** The result of {@linkcode categorizeEndpoints}. */
export interface Categorized {
  /** Topology mode used for the Cluster list. */
  readonly topologyMode: TopologyMode;
  /** Usable Cluster-policy endpoints (empty when the port never uses them). */
  readonly clusterEndpoints: readonly Endpoint[];
  /** Usable Local-policy endpoints (empty when the port never uses them). */
  readonly localEndpoints: readonly Endpoint[];
  /** Union of both lists, sorted by `ipPort`. */
  readonly allReachableEndpoints: readonly Endpoint[];
  /** Some usable endpoint exists anywhere in the cluster. */
  readonly hasAnyEndpoints: boolean;
}

type PolicyFlags = Pick<ServicePortBase, "usesClusterEndpoints" | "usesLocalEndpoints">;

/**
 * Upstream `CategorizeEndpoints`: which of a port's endpoints (sorted by `ipPort`) this node
 * uses for Cluster and Local traffic policy, with the serving-terminating fallback decided
 * separately for each list, and topology hints applied to the Cluster list only.
 */
export function categorizeEndpoints(
  endpoints: readonly Endpoint[],
  svc: PolicyFlags,
  ctx: CategorizeContext,
): Categorized {
  let topologyMode: TopologyMode = "";
  let clusterEndpoints: readonly Endpoint[] = NO_ENDPOINTS;
  let hasAnyEndpoints = false;

  if (svc.usesClusterEndpoints) {
    topologyMode = topologyModeFromHints(endpoints, ctx);
    const mode = topologyMode;
    // Usually every endpoint is ready and no topology applies: share the full list.
    clusterEndpoints = endpoints.every((ep) => ep.ready) && mode === ""
      ? endpoints
      : freezeList(endpoints.filter((ep) => ep.ready && availableForTopology(ep, mode, ctx)));
    // Topology never empties the list while ready endpoints exist (the mode requires a hint
    // for this node or zone), so an empty list means nothing is ready anywhere.
    if (clusterEndpoints.length === 0) {
      clusterEndpoints = freezeList(endpoints.filter((ep) => ep.serving && ep.terminating));
    }
    hasAnyEndpoints = clusterEndpoints.length > 0;
  }

  if (!svc.usesLocalEndpoints) {
    return {
      topologyMode,
      clusterEndpoints,
      localEndpoints: NO_ENDPOINTS,
      allReachableEndpoints: clusterEndpoints,
      hasAnyEndpoints,
    };
  }

  let hasLocalReady = false;
  let hasLocalServingTerminating = false;
  for (const ep of endpoints) {
    if (ep.ready) {
      hasAnyEndpoints = true;
      if (ep.isLocal) hasLocalReady = true;
    } else if (ep.serving && ep.terminating) {
      hasAnyEndpoints = true;
      if (ep.isLocal) hasLocalServingTerminating = true;
    }
  }
  let localEndpoints: readonly Endpoint[] = NO_ENDPOINTS;
  let usesServingTerminating = false;
  if (hasLocalReady) {
    localEndpoints = freezeList(endpoints.filter((ep) => ep.isLocal && ep.ready));
  } else if (hasLocalServingTerminating) {
    usesServingTerminating = true;
    localEndpoints = freezeList(
      endpoints.filter((ep) => ep.isLocal && ep.serving && ep.terminating),
    );
  }

  if (!svc.usesClusterEndpoints) {
    return {
      topologyMode,
      clusterEndpoints,
      localEndpoints,
      allReachableEndpoints: localEndpoints,
      hasAnyEndpoints,
    };
  }
  if (topologyMode === "" && !usesServingTerminating) {
    // Cluster then holds every ready endpoint, a superset of the local ready ones.
    return {
      topologyMode,
      clusterEndpoints,
      localEndpoints,
      allReachableEndpoints: clusterEndpoints,
      hasAnyEndpoints,
    };
  }
  // Both lists are filtered from `endpoints`, in its order: their union in that order is sorted.
  const all: Endpoint[] = [];
  let c = 0;
  let l = 0;
  for (const ep of endpoints) {
    const inCluster = clusterEndpoints[c] === ep;
    const inLocal = localEndpoints[l] === ep;
    if (inCluster) c++;
    if (inLocal) l++;
    if (inCluster || inLocal) all.push(ep);
  }
  return {
    topologyMode,
    clusterEndpoints,
    localEndpoints,
    allReachableEndpoints: freezeList(all),
    hasAnyEndpoints,
  };
}

/** A kept list: frozen and without spare capacity (these lists live as long as their port). */
function freezeList(list: Endpoint[]): readonly Endpoint[] {
  return list.length === 0 ? NO_ENDPOINTS : Object.freeze(compact(list));
}

/**
 * Upstream `topologyModeFromHints`: hints count only when every *ready* endpoint has them and
 * at least one is for this node (PreferSameNode) or this node's zone (PreferSameZone).
 */
export function topologyModeFromHints(
  endpoints: readonly Endpoint[],
  ctx: CategorizeContext,
): TopologyMode {
  let hasForNode = false;
  let allHaveNodeHints = true;
  let hasForZone = false;
  let allHaveZoneHints = true;
  for (const ep of endpoints) {
    if (!ep.ready) continue;
    if (ep.nodeHints.length === 0) allHaveNodeHints = false;
    else if (ep.nodeHints.includes(ctx.nodeName)) hasForNode = true;
    if (ep.zoneHints.length === 0) allHaveZoneHints = false;
    else if (ep.zoneHints.includes(ctx.zone)) hasForZone = true;
  }
  if (ctx.preferSameNode && allHaveNodeHints && hasForNode) return "PreferSameNode";
  if (allHaveZoneHints && hasForZone) return "PreferSameZone";
  return "";
}

function availableForTopology(ep: Endpoint, mode: TopologyMode, ctx: CategorizeContext): boolean {
  switch (mode) {
    case "":
      return true;
    case "PreferSameNode":
      return ep.nodeHints.includes(ctx.nodeName);
    case "PreferSameZone":
      return ep.zoneHints.includes(ctx.zone);
  }
}

const HAS_ANY = 1;
const HAS_INTERNAL = 2;
const HAS_EXTERNAL = 4;

/**
 * A complete service port: its endpoint-independent base (read through, see
 * `servicePortBases`), its endpoint lists and the three verdicts as bits. 88 bytes per port
 * instead of a 31-field copy (272 bytes); the 10k ports of a large cluster are held for the
 * process's life. Frozen.
 */
class ModelServicePort implements ServicePort {
  readonly #base: ServicePortBase;
  readonly topologyMode: TopologyMode;
  readonly endpoints: readonly Endpoint[];
  readonly clusterEndpoints: readonly Endpoint[];
  readonly localEndpoints: readonly Endpoint[];
  readonly allReachableEndpoints: readonly Endpoint[];
  readonly localReadyEndpointCount: number;
  readonly #verdicts: number;

  constructor(
    base: ServicePortBase,
    endpoints: readonly Endpoint[],
    c: Categorized,
    localReadyEndpointCount: number,
  ) {
    this.#base = base;
    this.topologyMode = c.topologyMode;
    this.endpoints = endpoints;
    this.clusterEndpoints = c.clusterEndpoints;
    this.localEndpoints = c.localEndpoints;
    this.allReachableEndpoints = c.allReachableEndpoints;
    this.localReadyEndpointCount = localReadyEndpointCount;
    const hasLocal = c.localEndpoints.length > 0;
    this.#verdicts = !c.hasAnyEndpoints ? 0 : HAS_ANY |
      (!base.internalPolicyLocal || hasLocal ? HAS_INTERNAL : 0) |
      (!base.externalPolicyLocal || hasLocal ? HAS_EXTERNAL : 0);
    Object.freeze(this);
  }

  get id(): string {
    return this.#base.id;
  }
  get key(): string {
    return this.#base.key;
  }
  get serviceKey(): string {
    return this.#base.serviceKey;
  }
  get namespace(): string {
    return this.#base.namespace;
  }
  get name(): string {
    return this.#base.name;
  }
  get portName(): string {
    return this.#base.portName;
  }
  get protocol(): Protocol {
    return this.#base.protocol;
  }
  get family(): IPFamily {
    return this.#base.family;
  }
  get serviceType(): ServiceType {
    return this.#base.serviceType;
  }
  get clusterIP(): string {
    return this.#base.clusterIP;
  }
  get port(): number {
    return this.#base.port;
  }
  get nodePort(): number {
    return this.#base.nodePort;
  }
  get externalIPs(): readonly string[] {
    return this.#base.externalIPs;
  }
  get loadBalancerVIPs(): readonly string[] {
    return this.#base.loadBalancerVIPs;
  }
  get loadBalancerSourceRanges(): readonly string[] {
    return this.#base.loadBalancerSourceRanges;
  }
  get healthCheckNodePort(): number {
    return this.#base.healthCheckNodePort;
  }
  get sessionAffinity(): SessionAffinity | null {
    return this.#base.sessionAffinity;
  }
  get internalPolicyLocal(): boolean {
    return this.#base.internalPolicyLocal;
  }
  get externalPolicyLocal(): boolean {
    return this.#base.externalPolicyLocal;
  }
  get externallyAccessible(): boolean {
    return this.#base.externallyAccessible;
  }
  get usesClusterEndpoints(): boolean {
    return this.#base.usesClusterEndpoints;
  }
  get usesLocalEndpoints(): boolean {
    return this.#base.usesLocalEndpoints;
  }
  get hasAnyEndpoints(): boolean {
    return (this.#verdicts & HAS_ANY) !== 0;
  }
  get hasInternalEndpoints(): boolean {
    return (this.#verdicts & HAS_INTERNAL) !== 0;
  }
  get hasExternalEndpoints(): boolean {
    return (this.#verdicts & HAS_EXTERNAL) !== 0;
  }
}

/**
 * Completes a port: attaches its endpoints, categorises them and derives the §1.4 verdicts.
 * The result is frozen.
 */
export function buildServicePort(
  base: ServicePortBase,
  endpoints: readonly Endpoint[] | undefined,
  localReadyEndpointCount: number,
  ctx: CategorizeContext,
): ServicePort {
  const eps = endpoints ?? NO_ENDPOINTS;
  return new ModelServicePort(
    base,
    eps,
    categorizeEndpoints(eps, base, ctx),
    localReadyEndpointCount,
  );
}
