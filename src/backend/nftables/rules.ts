/**
 * The rules of nftables mode, as pure functions of one family's snapshot: the fixed skeleton of
 * the table (sets, maps, base and helper chains), the shared "pick one of N endpoints" chains, and
 * each service port's {@linkcode Contribution} (its set and map elements, and the per-service
 * chains ClientIP affinity needs). README.md in this folder explains every rule.
 *
 * @module
 */

import type { RenderOptions } from "../backend.ts";
import {
  cidrContains,
  type Endpoint,
  flat,
  type IPFamily,
  type LocalTrafficDetector,
  parseCIDRSloppy,
  type ParsedCIDR,
  type ProxySnapshot,
  type ServicePort,
} from "../../model/mod.ts";
import {
  affinityChainNames,
  affinityKeys,
  BASE_CHAINS,
  endpointMapName,
  largeListsMapName,
  largePickChainName,
  NAMES,
  nftFamily,
  PICK_FAMILIES,
  pickChainName,
  type PickFamily,
  PRESET_LIST_SIZES,
} from "./names.ts";
import { type NftChain, type NftRuleset, RulesetBuilder } from "./ruleset.ts";

/** Upper bound on ClientIP affinity entries (client, endpoint) per family. */
export const AFFINITY_SET_SIZE = 1048576;

/** Where NodePorts are accepted, resolved from `nodePortAddresses` for one family. */
export type NodePortMatch =
  | { readonly kind: "all" }
  | {
    readonly kind: "cidrs";
    /** Canonical CIDRs, none inside another; may be empty (no NodePort address known). */
    readonly cidrs: readonly string[];
    /** Some CIDR reaches into loopback, which NodePorts never accept. */
    readonly loopback: boolean;
  };

/** Everything a render needs beyond the service ports, computed once per family. */
export interface Context {
  readonly family: IPFamily;
  /** `ip` or `ip6`: the payload keyword. */
  readonly ipX: string;
  /** `ipv4_addr` or `ipv6_addr`. */
  readonly addrType: string;
  /** `meta mark set meta mark | 0x00004000`. */
  readonly markStmt: string;
  /** The mark, `0x00004000`. */
  readonly mark: string;
  /** `127.0.0.0/8` or `::1`. */
  readonly loopback: string;
  /** Match for "from a local pod", or null with the no-op detector. */
  readonly isLocal: string | null;
  /** Match for "not from a local pod", or null with the no-op detector. */
  readonly notLocal: string | null;
  readonly nodePorts: NodePortMatch;
  /** The node's primary IP of the family (for loadBalancerSourceRanges), or null. */
  readonly nodeIP: string | null;
  readonly masqueradeAll: boolean;
}

/** `%#08x` of `1 << bit`, upstream's spelling of the masquerade mark (reference §3.8). */
export function masqueradeMark(bit: number): string {
  return "0x" + (2 ** bit).toString(16).padStart(8, "0");
}

/**
 * `nodePortAddresses` for one family (upstream `NewNodePortAddresses`): `primary` is the node's
 * first IP of the family (none known: no NodePort address); CIDRs of the family are kept, nested
 * ones dropped; no entry of the family, or a zero-length prefix, means every local address.
 */
export function resolveNodePortAddresses(
  family: IPFamily,
  nodeIPs: readonly string[],
  entries: readonly string[],
): NodePortMatch {
  const cidrs: ParsedCIDR[] = [];
  let sawPrimary = false;
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === "primary") {
      sawPrimary = true;
      const ip = nodeIPs[0];
      const c = ip === undefined ? null : parseCIDRSloppy(`${ip}/${family === "IPv4" ? 32 : 128}`);
      if (c !== null) cidrs.push(c);
      continue;
    }
    const c = parseCIDRSloppy(entry);
    if (c !== null && c.family === family) cidrs.push(c);
  }
  if ((cidrs.length === 0 && !sawPrimary) || cidrs.some((c) => c.prefix === 0)) {
    return { kind: "all" };
  }
  const kept = outermost(cidrs);
  const loopback = family === "IPv4"
    ? kept.some((c) => cidrContains(c.cidr, "127.0.0.0") || cidrContains("127.0.0.0/8", c.ip))
    : kept.some((c) => cidrContains(c.cidr, "::1"));
  return { kind: "cidrs", cidrs: kept.map((c) => c.cidr), loopback };
}

/** CIDRs in input order without duplicates and without any that lie inside another. */
function outermost(cidrs: readonly ParsedCIDR[]): ParsedCIDR[] {
  const out: ParsedCIDR[] = [];
  cidrs.forEach((c, i) => {
    const covered = cidrs.some((o, j) =>
      j !== i && o.prefix <= c.prefix && cidrContains(o.cidr, c.ip) &&
      (o.prefix < c.prefix || j < i)
    );
    if (!covered) out.push(c);
  });
  return out;
}

/** nft text of a CIDR for an interval set: a plain address when it is a single host. */
function intervalText(c: ParsedCIDR): string {
  return c.prefix === (c.family === "IPv4" ? 32 : 128) ? c.ip : c.cidr;
}

function detectorMatches(
  ipX: string,
  d: LocalTrafficDetector,
): { isLocal: string | null; notLocal: string | null } {
  switch (d.kind) {
    case "none":
      return { isLocal: null, notLocal: null };
    case "cidr": {
      if (d.cidrs.length === 0) return { isLocal: null, notLocal: null };
      const set = d.cidrs.length === 1 ? d.cidrs[0] : `{ ${d.cidrs.join(", ")} }`;
      return { isLocal: `${ipX} saddr ${set}`, notLocal: `${ipX} saddr != ${set}` };
    }
    case "interface":
      return { isLocal: `iifname "${d.name}"`, notLocal: `iifname != "${d.name}"` };
    case "interfacePrefix":
      return { isLocal: `iifname "${d.prefix}*"`, notLocal: `iifname != "${d.prefix}*"` };
  }
}

export function contextFor(snapshot: ProxySnapshot, options: RenderOptions): Context {
  const family = snapshot.family;
  const ipX = nftFamily(family);
  const mark = masqueradeMark(options.masqueradeBit);
  return {
    family,
    ipX,
    addrType: family === "IPv4" ? "ipv4_addr" : "ipv6_addr",
    mark,
    markStmt: `meta mark set meta mark | ${mark}`,
    loopback: family === "IPv4" ? "127.0.0.0/8" : "::1",
    ...detectorMatches(ipX, snapshot.localDetector),
    nodePorts: resolveNodePortAddresses(family, snapshot.nodeIPs, options.nodePortAddresses),
    nodeIP: snapshot.nodeIPs[0] ?? null,
    masqueradeAll: options.masqueradeAll,
  };
}

/** The fixed part of a table: every set declaration and the chains that do not depend on Services. */
export function skeleton(ctx: Context): NftRuleset {
  const b = new RulesetBuilder(ctx.family);
  declareSets(b, ctx);
  declareEndpointMaps(b, ctx);
  declareFixedChains(b, ctx);
  return b.build();
}

function declareSets(b: RulesetBuilder, ctx: Context): void {
  const { ipX, addrType: a } = ctx;
  const svc = `${a} . inet_proto . inet_service`;
  b.set(NAMES.clusterIPs, "set", `type ${a} ; comment "Active ClusterIPs" ;`);
  if (ctx.nodePorts.kind === "cidrs") {
    b.set(
      NAMES.nodePortIPs,
      "set",
      `type ${a} ; flags interval ; comment "IPs that accept NodePort traffic" ;`,
    );
  }
  b.set(
    NAMES.serviceIPs,
    "map",
    `type ${svc} : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ;`,
  );
  b.set(
    NAMES.serviceNodePorts,
    "map",
    `type inet_proto . inet_service : verdict ; comment "NodePort traffic" ;`,
  );
  b.set(
    NAMES.firewallIPs,
    "set",
    `type ${svc} ; comment "LoadBalancer IPs and ports subject to loadBalancerSourceRanges" ;`,
  );
  b.set(
    NAMES.firewallAllow,
    "set",
    `type ${svc} . ${a} ; flags interval ; ` +
      `comment "sources allowed to each LoadBalancer IP and port" ;`,
  );
  b.set(
    NAMES.noEndpointServices,
    "map",
    `type ${svc} : verdict ; ` +
      `comment "vmap to drop or reject packets to services with no endpoints" ;`,
  );
  b.set(
    NAMES.noEndpointNodePorts,
    "map",
    `type inet_proto . inet_service : verdict ; ` +
      `comment "vmap to drop or reject packets to service nodeports with no endpoints" ;`,
  );
  b.set(
    NAMES.hairpin,
    "set",
    `type ${a} . ${a} ; comment "local endpoint IPs: a pod reaching itself through a Service" ;`,
  );
  b.set(
    NAMES.affinity,
    "set",
    `typeof ${ipX} saddr . numgen random mod 1 ; size ${AFFINITY_SET_SIZE} ; ` +
      `flags dynamic,timeout ; comment "ClientIP affinity: client . service port and endpoint" ;`,
    true,
  );
}

const PICK_COMMENTS: Record<PickFamily, string> = {
  service: "endpoint i of Service IPs and ports with {n} endpoints",
  shortcircuit:
    "Cluster-policy endpoint i of eTP Local Service IPs with {n}, for pods and the host",
  nodeport: "endpoint i of NodePorts with {n} endpoints",
  "nodeport-shortcircuit":
    "Cluster-policy endpoint i of eTP Local NodePorts with {n}, for pods and the host",
};

function pickKey(ctx: Context, family: PickFamily): string {
  return family === "service" || family === "shortcircuit"
    ? `${ctx.ipX} daddr . meta l4proto . th dport`
    : "meta l4proto . th dport";
}

/** The declaration of a pick family's map for lists of `n` endpoints. */
export function endpointMapSpec(ctx: Context, family: PickFamily, n: number): string {
  return `typeof ${pickKey(ctx, family)} . numgen random mod 1 : ${ctx.ipX} daddr . th dport ; ` +
    `comment "${PICK_COMMENTS[family].replace("{n}", String(n))}" ;`;
}

function dnatRule(ctx: Context, family: PickFamily, n: number): string {
  return `dnat ${ctx.ipX} to ${pickKey(ctx, family)} . numgen random mod ${n} ` +
    `map @${endpointMapName(family, n)}`;
}

/**
 * The rules of a pick chain: one DNAT per preset list size, then the jump for larger lists.
 * They never change, which matters: nft 1.0.6 cannot load a rule that names a typeof map it
 * has to read back from the kernel (its `ip daddr . th dport` data trips its protocol check), so
 * rules naming endpoint maps are only ever written together with their map.
 */
export function pickRules(ctx: Context, family: PickFamily): string[] {
  const rules: string[] = [];
  for (let n = 1; n <= PRESET_LIST_SIZES; n++) rules.push(dnatRule(ctx, family, n));
  rules.push(`${pickKey(ctx, family)} vmap @${largeListsMapName(family)}`);
  return rules;
}

/** The chain for lists of exactly `n` (> preset) endpoints. */
export function largePickChain(ctx: Context, family: PickFamily, n: number): NftChain {
  return { name: largePickChainName(family, n), rules: [dnatRule(ctx, family, n)] };
}

/** The always-present endpoint map declarations of a family (sizes 1..preset). */
function declareEndpointMaps(b: RulesetBuilder, ctx: Context): void {
  for (const family of PICK_FAMILIES) {
    const keyType = family === "service" || family === "shortcircuit"
      ? `${ctx.addrType} . inet_proto . inet_service`
      : "inet_proto . inet_service";
    b.set(
      largeListsMapName(family),
      "map",
      `type ${keyType} : verdict ; comment "destinations with more than ${PRESET_LIST_SIZES} endpoints" ;`,
    );
  }
  for (const family of PICK_FAMILIES) {
    for (let n = 1; n <= PRESET_LIST_SIZES; n++) {
      b.set(endpointMapName(family, n), "map", endpointMapSpec(ctx, family, n));
    }
  }
}

function declareFixedChains(b: RulesetBuilder, ctx: Context): void {
  const { ipX, mark, markStmt, loopback } = ctx;
  const jumps: Record<string, readonly string[]> = {
    "filter-prerouting-pre-dnat": [`ct state new jump ${NAMES.firewallCheck}`],
    "filter-output-pre-dnat": [`ct state new jump ${NAMES.firewallCheck}`],
    "nat-prerouting": [`jump ${NAMES.services}`],
    "nat-output": [`jump ${NAMES.services}`],
    "filter-forward": [
      `ct state new jump ${NAMES.serviceEndpointsCheck}`,
      `ct state new jump ${NAMES.clusterIPsCheck}`,
    ],
    "filter-input": [
      `ct state new jump ${NAMES.nodePortEndpointsCheck}`,
      `ct state new jump ${NAMES.serviceEndpointsCheck}`,
    ],
    "filter-output": [
      `ct state new jump ${NAMES.serviceEndpointsCheck}`,
      `ct state new jump ${NAMES.clusterIPsCheck}`,
    ],
    "nat-postrouting": [`jump ${NAMES.masquerading}`],
  };
  for (const c of BASE_CHAINS) {
    b.chain(
      c.name,
      jumps[c.name] ?? [],
      `type ${c.type} hook ${c.hook} priority ${c.priority} ;`,
    );
  }

  const services: string[] = [];
  if (ctx.masqueradeAll) {
    services.push(
      `${ipX} daddr @${NAMES.clusterIPs} ${markStmt} comment "masquerade all ClusterIP traffic"`,
    );
  } else if (ctx.notLocal !== null) {
    services.push(
      `${ipX} daddr @${NAMES.clusterIPs} ${ctx.notLocal} ${markStmt} ` +
        `comment "masquerade ClusterIP traffic from outside the cluster"`,
    );
  }
  services.push(`${ipX} daddr . meta l4proto . th dport vmap @${NAMES.serviceIPs}`);
  const np = ctx.nodePorts;
  const notLoopback = `${ipX} daddr != ${loopback}`;
  const nodePortAddr = np.kind === "all"
    ? `fib daddr type local ${notLoopback}`
    : `${ipX} daddr @${NAMES.nodePortIPs} fib daddr type local` +
      (np.loopback ? ` ${notLoopback}` : "");
  services.push(`${nodePortAddr} meta l4proto . th dport vmap @${NAMES.serviceNodePorts}`);
  b.chain(NAMES.services, services);

  const shortCircuits = (to: string) => [
    ...(ctx.isLocal === null
      ? []
      : [`${ctx.isLocal} goto ${to} comment "short-circuit pod traffic"`]),
    `fib saddr type local ${markStmt} goto ${to} ` +
    `comment "masquerade and short-circuit local traffic"`,
  ];
  b.chain(NAMES.external, [`${markStmt} goto ${pickChainName("service")}`]);
  b.chain(NAMES.externalLocal, [
    ...shortCircuits(pickChainName("shortcircuit")),
    `goto ${pickChainName("service")}`,
  ]);
  b.chain(NAMES.nodePort, [`${markStmt} goto ${pickChainName("nodeport")}`]);
  b.chain(NAMES.nodePortLocal, [
    ...shortCircuits(pickChainName("nodeport-shortcircuit")),
    `goto ${pickChainName("nodeport")}`,
  ]);
  for (const family of PICK_FAMILIES) b.chain(pickChainName(family), pickRules(ctx, family));

  b.chain(NAMES.masquerading, [
    `meta mark & ${mark} != 0 meta mark set meta mark ^ ${mark} masquerade fully-random`,
    `ct status dnat ${ipX} saddr . ${ipX} daddr @${NAMES.hairpin} masquerade fully-random ` +
    `comment "hairpin: a pod reaching itself through a Service"`,
  ]);
  b.chain(NAMES.firewallCheck, [
    `${ipX} daddr . meta l4proto . th dport @${NAMES.firewallIPs} ` +
    `${ipX} daddr . meta l4proto . th dport . ${ipX} saddr != @${NAMES.firewallAllow} drop ` +
    `comment "source outside loadBalancerSourceRanges"`,
  ]);
  b.chain(NAMES.serviceEndpointsCheck, [
    `${ipX} daddr . meta l4proto . th dport vmap @${NAMES.noEndpointServices}`,
  ]);
  const nodePortInput = np.kind === "all"
    ? notLoopback
    : `${ipX} daddr @${NAMES.nodePortIPs}` + (np.loopback ? ` ${notLoopback}` : "");
  b.chain(NAMES.nodePortEndpointsCheck, [
    `${nodePortInput} meta l4proto . th dport vmap @${NAMES.noEndpointNodePorts}`,
  ]);
  b.chain(NAMES.clusterIPsCheck, [
    `${ipX} daddr @${NAMES.clusterIPs} reject comment "Reject traffic to invalid ports of ClusterIPs"`,
  ]);
  b.chain(NAMES.rejectChain, ["reject"]);

  if (np.kind === "cidrs") {
    for (const c of np.cidrs) {
      const parsed = parseCIDRSloppy(c);
      if (parsed !== null) b.element(NAMES.nodePortIPs, intervalText(parsed));
    }
  }
}

/**
 * One destination's endpoint list in a pick family. Its elements (`KEY . i : ip . port`) live in
 * the map of the list's size; the model keeps the list itself (the snapshot's own array), not
 * the elements, so a hundred thousand endpoints cost no extra strings until they are written.
 */
export interface EndpointList {
  /** The pick family, which names the maps the elements go to. */
  readonly family: PickFamily;
  /** The destination key the elements are numbered under (`ip . proto . port`, `proto . port`). */
  readonly key: string;
  /** The endpoints, in element order. */
  readonly endpoints: readonly Endpoint[];
}

/**
 * Everything one service port puts into its family's table. Elements and endpoint lists are
 * claims: when two service ports write the same key (a misconfiguration such as a shared
 * NodePort), the first in snapshot order wins, in full and incremental syncs alike.
 */
export interface Contribution {
  /** The set or map of each element, parallel to `keys` and `rests`. */
  readonly sets: readonly string[];
  /** Each element's key. */
  readonly keys: readonly string[];
  /** The text after each key (see `NftSet.elements`). */
  readonly rests: readonly string[];
  /** Endpoint lists, claimed per (pick family, key). */
  readonly lists: readonly EndpointList[];
  /** Per-service chains (ClientIP affinity only). */
  readonly chains: readonly NftChain[];
}

/**
 * The `…-large` verdict-map element of a list longer than the preset sizes, which sends its
 * destination to the pick chain of its size; null for preset sizes.
 */
export function largeListRest(family: PickFamily, n: number): string | null {
  return n > PRESET_LIST_SIZES ? ` : goto ${largePickChainName(family, n)}` : null;
}

/** The element text after the key for an endpoint in a pick map: ` : ip . port`. */
export function endpointElementRest(ep: Endpoint): string {
  return ` : ${ep.ip} . ${ep.port}`;
}

/**
 * A chain whose rules are written each time they are read. Affinity chains hold two long rules
 * per endpoint; keeping the recipe (the service port and its endpoint list, which the snapshot
 * holds anyway) instead of the text is what keeps the committed model small. A class rather
 * than an object literal with a getter: V8 keeps such a literal as a dictionary (~250 bytes of
 * property table each, ~0.5 MiB for the 2k affinity chains at 10k Services).
 */
class LazyChain implements NftChain {
  readonly name: string;
  readonly #rules: () => readonly string[];

  constructor(name: string, rules: () => readonly string[]) {
    this.name = name;
    this.#rules = rules;
  }

  get rules(): readonly string[] {
    return this.#rules();
  }
}

/**
 * The per-service chains of a port with ClientIP affinity, as recipes. Made here, not inside
 * {@linkcode contribute}: a closure keeps its whole creating scope alive, and the model keeps
 * these chains for as long as the port exists (contribute's scope holds its element arrays).
 */
function affinityChains(
  ctx: Context,
  sp: ServicePort,
  names: ReturnType<typeof affinityChainNames>,
  cluster: readonly Endpoint[],
  local: readonly Endpoint[],
  usesExternal: boolean,
): NftChain[] {
  const chains: NftChain[] = [];
  if (cluster.length > 0) {
    chains.push(new LazyChain(names.cluster, () => affinityRules(ctx, sp, cluster)));
  }
  if (local.length > 0) {
    chains.push(new LazyChain(names.local, () => affinityRules(ctx, sp, local)));
  }
  if (usesExternal) {
    const toLocal = local.length > 0 && sp.hasExternalEndpoints;
    chains.push(
      new LazyChain(names.external, () => externalAffinityRules(ctx, sp, names, toLocal)),
    );
  }
  return chains;
}

/** The text after a verdict-map key for the fixed targets, shared by every element. */
const REST_PICK_SERVICE = flat(" : goto ", pickChainName("service"));
const REST_EXTERNAL = flat(" : goto ", NAMES.external);
const REST_EXTERNAL_LOCAL = flat(" : goto ", NAMES.externalLocal);
const REST_NODE_PORT = flat(" : goto ", NAMES.nodePort);
const REST_NODE_PORT_LOCAL = flat(" : goto ", NAMES.nodePortLocal);

/** What `sp` adds to its family's table. Pure; `ctx` comes from {@linkcode contextFor}. */
export function contribute(ctx: Context, sp: ServicePort): Contribution {
  const sets: string[] = [];
  const keys: string[] = [];
  const rests: string[] = [];
  const chains: NftChain[] = [];
  const lists: EndpointList[] = [];
  const add = (set: string, key: string, rest = "") => {
    sets.push(set);
    keys.push(key);
    rests.push(rest);
  };
  const addEndpoints = (family: PickFamily, key: string, endpoints: readonly Endpoint[]) => {
    if (endpoints.length > 0) lists.push({ family, key, endpoints });
  };

  const proto = sp.protocol.toLowerCase();
  const cluster = sp.usesClusterEndpoints ? sp.clusterEndpoints : [];
  const local = sp.usesLocalEndpoints ? sp.localEndpoints : [];
  const internal = sp.internalPolicyLocal ? local : cluster;
  const hasInternal = sp.hasInternalEndpoints && internal.length > 0;
  const external = sp.externalPolicyLocal ? local : cluster;
  // Upstream builds the external chain on hasEndpoints, not hasExternalEndpoints: the pod and
  // host short-circuits of eTP Local must work even without local endpoints.
  const usesExternal = sp.hasAnyEndpoints && sp.externallyAccessible && cluster.length > 0;
  // Keys and the text after them are kept by the committed model: flat strings, and one shared
  // string for each fixed verdict.
  const noEndpointsRest = flat(
    ' comment "',
    sp.key,
    '" : ',
    sp.hasAnyEndpoints ? "drop" : `goto ${NAMES.rejectChain}`,
  );
  const frontKey = (ip: string) => flat(ip, " . ", proto, " . ", sp.port);
  const nodePortKey = flat(proto, " . ", sp.nodePort);

  add(NAMES.clusterIPs, sp.clusterIP);

  let internalRest: (key: string) => string;
  let externalRest: (key: string) => string;
  let nodePortRest: () => string;
  if (sp.sessionAffinity !== null) {
    const names = affinityChainNames(sp);
    for (const chain of affinityChains(ctx, sp, names, cluster, local, usesExternal)) {
      chains.push(chain);
    }
    const internalChain = sp.internalPolicyLocal ? names.local : names.cluster;
    const toInternal = flat(" : goto ", internalChain);
    const toExternal = flat(" : goto ", names.external);
    internalRest = () => toInternal;
    externalRest = () => toExternal;
    nodePortRest = () => toExternal;
  } else {
    internalRest = (key) => {
      addEndpoints("service", key, internal);
      return REST_PICK_SERVICE;
    };
    externalRest = (key) => {
      if (!sp.externalPolicyLocal) {
        addEndpoints("service", key, cluster);
        return REST_EXTERNAL;
      }
      addEndpoints("service", key, external);
      addEndpoints("shortcircuit", key, cluster);
      return REST_EXTERNAL_LOCAL;
    };
    nodePortRest = () => {
      if (!sp.externalPolicyLocal) {
        addEndpoints("nodeport", nodePortKey, cluster);
        return REST_NODE_PORT;
      }
      addEndpoints("nodeport", nodePortKey, external);
      addEndpoints("nodeport-shortcircuit", nodePortKey, cluster);
      return REST_NODE_PORT_LOCAL;
    };
  }

  const cipKey = frontKey(sp.clusterIP);
  if (hasInternal) add(NAMES.serviceIPs, cipKey, internalRest(cipKey));
  else add(NAMES.noEndpointServices, cipKey, noEndpointsRest);

  for (const ip of [...sp.externalIPs, ...sp.loadBalancerVIPs]) {
    const key = frontKey(ip);
    if (usesExternal) add(NAMES.serviceIPs, key, externalRest(key));
    if (!sp.hasExternalEndpoints) add(NAMES.noEndpointServices, key, noEndpointsRest);
  }

  if (sp.nodePort !== 0) {
    if (usesExternal) add(NAMES.serviceNodePorts, nodePortKey, nodePortRest());
    if (!sp.hasExternalEndpoints) add(NAMES.noEndpointNodePorts, nodePortKey, noEndpointsRest);
  }

  if (sp.loadBalancerVIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0) {
    const allowed = allowedSources(ctx, sp);
    for (const lbip of sp.loadBalancerVIPs) {
      const key = frontKey(lbip);
      add(NAMES.firewallIPs, key);
      for (const src of allowed) add(NAMES.firewallAllow, flat(key, " . ", src));
    }
  }

  for (const ep of sp.allReachableEndpoints) {
    if (ep.isLocal) add(NAMES.hairpin, flat(ep.ip, " . ", ep.ip));
  }
  // Not kept (the model keeps the keys, texts, lists and chains it claims, not these arrays).
  return { sets, keys, rests, lists, chains };
}

/**
 * The sources a load-balancer IP accepts: the ranges, plus the service's own LB IPs when a range
 * contains the node's IP (a node reaching a VIP it owns arrives with the VIP as source).
 */
function allowedSources(ctx: Context, sp: ServicePort): string[] {
  const parsed: ParsedCIDR[] = [];
  let allowFromNode = false;
  for (const r of sp.loadBalancerSourceRanges) {
    const c = parseCIDRSloppy(r);
    if (c === null) continue;
    parsed.push(c);
    if (ctx.nodeIP !== null && cidrContains(c.cidr, ctx.nodeIP)) allowFromNode = true;
  }
  if (allowFromNode) {
    const hostBits = ctx.family === "IPv4" ? 32 : 128;
    for (const ip of sp.loadBalancerVIPs) {
      const c = parseCIDRSloppy(`${ip}/${hostBits}`);
      if (c !== null) parsed.push(c);
    }
  }
  // The interval set refuses overlapping elements, so nested ranges collapse to the outer one.
  return outermost(parsed).map(intervalText);
}

/** Rules of `service-…` / `local-…` for ClientIP affinity: sticky endpoints first, then a pick. */
function affinityRules(ctx: Context, sp: ServicePort, endpoints: readonly Endpoint[]): string[] {
  const { ipX } = ctx;
  const timeout = sp.sessionAffinity?.timeoutSeconds ?? 10800;
  const proto = sp.protocol.toLowerCase();
  const keys = affinityKeys(sp, endpoints).map((k) =>
    `${ipX} saddr . numgen random mod 1 offset ${k}`
  );
  const stick = (ep: Endpoint, i: number) =>
    `update @${NAMES.affinity} { ${keys[i]} timeout ${timeout}s } ` +
    `meta l4proto ${proto} dnat ${ipX} to ${ep.ipPort}`;
  const rules = endpoints.map((ep, i) => `${keys[i]} @${NAMES.affinity} ${stick(ep, i)}`);
  const n = endpoints.length;
  endpoints.forEach((ep, i) => {
    rules.push(i < n - 1 ? `numgen random mod ${n - i} == 0 ${stick(ep, i)}` : stick(ep, i));
  });
  return rules;
}

/** Rules of `external-…` for a service port with ClientIP affinity. */
function externalAffinityRules(
  ctx: Context,
  sp: ServicePort,
  names: { cluster: string; local: string },
  toLocal: boolean,
): string[] {
  if (!sp.externalPolicyLocal) return [`${ctx.markStmt} goto ${names.cluster}`];
  const rules: string[] = [];
  if (ctx.isLocal !== null) {
    rules.push(`${ctx.isLocal} goto ${names.cluster} comment "short-circuit pod traffic"`);
  }
  rules.push(
    `fib saddr type local ${ctx.markStmt} goto ${names.cluster} ` +
      `comment "masquerade and short-circuit local traffic"`,
  );
  if (toLocal) rules.push(`goto ${names.local}`);
  return rules;
}

/** A string that changes whenever `ctx` would change any rule or skeleton element. */
export function contextKey(ctx: Context): string {
  return JSON.stringify(ctx);
}
