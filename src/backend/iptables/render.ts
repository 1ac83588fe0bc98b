/**
 * Pure renderer of iptables mode: one family's snapshot (plus render options, a few host facts
 * and the previous render's state) → the `iptables-restore --noflush` input for the filter and
 * nat tables, as upstream's `syncProxyRules` writes it (reference §2.3).
 *
 * Output layout is the canonical form of upstream's unit tests (`sortIPTablesRules`): per table,
 * `KUBE-NODEPORTS` and `KUBE-SERVICES` first, then the other chains in name order, each chain's
 * rules together in their upstream order, `-X` lines last. The kernel sees the same chains and
 * rules as with upstream's interleaved payload, and goldens can be compared with upstream's
 * expected outputs line by line.
 *
 * A partial render (KEP-3453) declares and fills only the chains of service ports whose object
 * changed since `previous` (the model reuses unchanged objects) and the top-level chains whose
 * rules changed, and deletes chains that are no longer used. No clock, no I/O, no randomness.
 *
 * @module
 */

import type { RenderOptions } from "../backend.ts";
import {
  cidrContains,
  type Endpoint,
  type IPFamily,
  type LocalTrafficDetector,
  parseCIDRSloppy,
  parseIPSloppy,
  type ProxySnapshot,
  type ServicePort,
} from "../../model/mod.ts";
import {
  endpointChain,
  endpointChains,
  isServiceChainName,
  KUBE_EXTERNAL_SERVICES,
  KUBE_FIREWALL,
  KUBE_FORWARD,
  KUBE_MARK_MASQ,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_PROXY_CANARY,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
  servicePortChainOrder,
  servicePortChains,
} from "./chain_names.ts";
import { type ChainBlock, RestoreInput, type RestoreSection } from "./restore_input.ts";

/** Above this many endpoints (all service ports together) comments on SVC/SEP rules are dropped. */
export const LARGE_CLUSTER_ENDPOINTS_THRESHOLD = 1000;

/** Facts about the host that change the rules; detected by the backend, defaults for dry runs. */
export interface IptablesHostFacts {
  /**
   * The addresses on the host's interfaces (any family). Used only when `nodePortAddresses` lists
   * CIDRs (upstream matches them against interface addresses). Null: use the snapshot's node IPs
   * and the loopback address instead.
   */
  readonly hostAddresses: readonly string[] | null;
  /** `MASQUERADE --random-fully` is available (iptables ≥ 1.6.2). */
  readonly randomFully: boolean;
  /** `net.netfilter.nf_conntrack_tcp_be_liberal` is set: no DROP rule for INVALID packets. */
  readonly conntrackTCPLiberal: boolean;
}

/** What a dry run assumes: a current iptables, a strict conntrack, node IPs as host addresses. */
export const DEFAULT_HOST_FACTS: IptablesHostFacts = Object.freeze({
  hostAddresses: null,
  randomFully: true,
  conntrackTCPLiberal: false,
});

/** Everything one render depends on. */
export interface IptablesRenderInput {
  /** One family's snapshot. */
  readonly snapshot: ProxySnapshot;
  /** The render-relevant settings. */
  readonly options: RenderOptions;
  /** Host facts; {@linkcode DEFAULT_HOST_FACTS} when omitted. */
  readonly host?: IptablesHostFacts;
  /**
   * Rewrite every chain (and declare the canary chains). When false, a partial render is made if
   * `previous` allows one; otherwise the render is full anyway.
   */
  readonly full: boolean;
  /** The state of the last render that reached the kernel, or null. */
  readonly previous?: IptablesRenderState | null;
  /** Service-port ids the model reports as changed: rendered even if their object is reused. */
  readonly changed?: Iterable<string>;
  /**
   * The chains currently in the nat table (from `iptables-save -t nat`): on a full render, the
   * service chains among them that are no longer used are deleted (leftovers of an earlier run
   * or of upstream kube-proxy).
   */
  readonly existingNatChains?: Iterable<string>;
  /**
   * Which top-level chains (KUBE-SERVICES, KUBE-NODEPORTS, …) a partial render rewrites:
   * `changed` (default) only those whose rules differ from `previous`, `always` all of them as
   * upstream does. The kernel ends up the same; skipping unchanged ones keeps a one-endpoint
   * change at 10k services from re-sending 10k KUBE-SERVICES rules.
   */
  readonly partialTopLevel?: "changed" | "always";
}

/** What one service port contributed to a render; opaque outside this module. */
export interface PortEntry {
  /** The object rendered; an identical object next time means nothing to rewrite. */
  readonly sp: ServicePort;
  /** Every nat chain this port owns. */
  readonly chains: readonly string[];
  /** Its rules in the top-level chains (rewritten on every sync). */
  readonly top: TopRules;
}

/** The part of a render a later partial render builds on. Keep the last one that was applied. */
export interface IptablesRenderState {
  /** The family rendered. */
  readonly family: IPFamily;
  /** Settings the per-port rules depend on; a partial render needs the same key. */
  readonly portKey: string;
  /** Rules of each top-level chain as last written, by `table/chain`. */
  readonly top: ReadonlyMap<string, readonly string[]>;
  /** Every service port rendered, by id. */
  readonly ports: ReadonlyMap<string, PortEntry>;
}

/** One render of one family. */
export interface IptablesRenderResult {
  /** The family rendered. */
  readonly family: IPFamily;
  /** `skipped`: partial with nothing to change; `input` is empty and nothing needs applying. */
  readonly kind: "full" | "partial" | "skipped";
  /**
   * The restore input, made line by line as it is read (the backend streams it to the tool):
   * nothing holds a large input's text whole.
   */
  readonly input: RestoreInput;
  /** The restore input as an array of lines without newlines, made on each read (dry runs, tests). */
  readonly lines: readonly string[];
  /** `-A` lines in the input. */
  readonly rulesWritten: number;
  /** Bytes of the restore input (`restoreText(lines).length`), counted by making it on each read. */
  readonly bytes: number;
  /** nat chains deleted by this render (`-X`). */
  readonly deletedChains: readonly string[];
  /** The state to keep if this render is applied successfully. */
  readonly state: IptablesRenderState;
  /** The IPv4 localhost-NodePort behaviour is in effect (the backend sets `route_localnet`). */
  readonly localhostNodePorts: boolean;
}

/** Rules of one service port in the top-level chains, by chain. */
export interface TopRules {
  /** filter KUBE-NODEPORTS: the health-check NodePort ACCEPT. */
  readonly filterNodePorts: readonly string[];
  /** filter KUBE-SERVICES: REJECT/DROP for the ClusterIP. */
  readonly filterServices: readonly string[];
  /** filter KUBE-EXTERNAL-SERVICES: REJECT/DROP for external destinations. */
  readonly filterExternal: readonly string[];
  /** filter KUBE-PROXY-FIREWALL: DROP for LB IPs behind source ranges. */
  readonly filterFirewall: readonly string[];
  /** nat KUBE-SERVICES: ClusterIP, external IP and LB IP dispatch. */
  readonly natServices: readonly string[];
  /** nat KUBE-NODEPORTS: NodePort dispatch. */
  readonly natNodePorts: readonly string[];
}

const NONE: readonly string[] = Object.freeze([]);

/** Settings one service port's rules depend on. */
interface PortContext {
  readonly family: IPFamily;
  readonly masqueradeAll: boolean;
  readonly ifLocal: string | null;
  readonly ifNotLocal: string | null;
  /** The node's primary IP of this family (source-range check), or null. */
  readonly nodeIP: string | null;
  readonly largeCluster: boolean;
}

/**
 * Renders one family. Deterministic: the same input gives byte-identical output.
 *
 * ```ts
 * const r = renderIptables({ snapshot: table.snapshot().v4, options, full: true });
 * console.log(restoreText(r.lines));
 * ```
 */
export function renderIptables(input: IptablesRenderInput): IptablesRenderResult {
  const { snapshot, options } = input;
  const host = input.host ?? DEFAULT_HOST_FACTS;
  const family = snapshot.family;
  const mark = masqueradeMark(options.masqueradeBit);
  const nodePorts = resolveNodePortAddresses(family, options, snapshot, host);
  const localhostNodePorts = family === "IPv4" && options.localhostNodePorts &&
    nodePorts.containsIPv4Loopback;

  let endpointCount = 0;
  for (const sp of snapshot.servicePorts) endpointCount += sp.endpoints.length;
  const detector = detectorMatches(snapshot.localDetector);
  const ctx: PortContext = {
    family,
    masqueradeAll: options.masqueradeAll,
    ifLocal: detector.ifLocal,
    ifNotLocal: detector.ifNotLocal,
    nodeIP: snapshot.nodeIPs[0] ?? null,
    largeCluster: endpointCount > LARGE_CLUSTER_ENDPOINTS_THRESHOLD,
  };
  const portKey = [family, ctx.masqueradeAll, ctx.ifLocal, ctx.nodeIP, ctx.largeCluster].join("|");

  const fixed = fixedRules(family, mark, localhostNodePorts, nodePorts, host);

  const previous = input.previous ?? null;
  const partial = !input.full && previous !== null && previous.family === family &&
    previous.portKey === portKey;
  const hinted = new Set(partial ? input.changed ?? [] : []);

  const ports = new Map<string, PortEntry>();
  const blocks: ChainBlock[] = [];
  const deleted = new Set<string>();
  const top = {
    filterNodePorts: [] as string[],
    filterServices: [] as string[],
    filterExternal: [] as string[],
    filterFirewall: [] as string[],
    natServices: [] as string[],
    natNodePorts: [] as string[],
  };
  let rendered = 0;

  for (const sp of snapshot.servicePorts) {
    const before = previous?.ports.get(sp.id);
    let entry: PortEntry;
    if (partial && before !== undefined && before.sp === sp && !hinted.has(sp.id)) {
      entry = before;
    } else {
      const r = renderServicePort(sp, ctx);
      entry = { sp, chains: r.blocks.map((b) => b.name), top: r.top };
      for (const b of r.blocks) blocks.push(b);
      rendered++;
      if (partial && before !== undefined) {
        const now = new Set(entry.chains);
        for (const c of before.chains) if (!now.has(c)) deleted.add(c);
      }
    }
    ports.set(sp.id, entry);
    appendTop(top, entry.top);
  }

  if (partial) {
    for (const [id, before] of previous.ports) {
      if (!ports.has(id)) { for (const c of before.chains) deleted.add(c); }
    }
  } else {
    const candidates: string[] = [];
    for (const c of input.existingNatChains ?? []) if (isServiceChainName(c)) candidates.push(c);
    for (const [id, before] of previous?.ports ?? []) {
      // A port rendered from the same object owns the same chains (they follow from it alone).
      if (ports.get(id)?.sp !== before.sp) candidates.push(...before.chains);
    }
    if (candidates.length > 0) {
      const active = new Set<string>();
      for (const e of ports.values()) for (const c of e.chains) active.add(c);
      for (const c of candidates) if (!active.has(c)) deleted.add(c);
    }
  }

  // The top-level chains, in upstream's test layout order; KUBE-FIREWALL only where it exists.
  const topChains: TopChain[] = [
    topChain("filter", KUBE_NODEPORTS, top.filterNodePorts),
    topChain("filter", KUBE_SERVICES, top.filterServices),
    topChain("filter", KUBE_EXTERNAL_SERVICES, top.filterExternal),
    ...(localhostNodePorts ? [topChain("filter", KUBE_FIREWALL, fixed.filterFirewall)] : []),
    topChain("filter", KUBE_FORWARD, fixed.filterForward),
    topChain("filter", KUBE_PROXY_FIREWALL, top.filterFirewall),
    topChain("nat", KUBE_NODEPORTS, top.natNodePorts),
    topChain("nat", KUBE_SERVICES, top.natServices.concat(fixed.natDispatch)),
    topChain("nat", KUBE_MARK_MASQ, fixed.natMarkMasq),
    topChain("nat", KUBE_POSTROUTING, fixed.natPostrouting),
  ];
  const state: IptablesRenderState = {
    family,
    portKey,
    top: new Map(topChains.map((c) => [c.key, c.rules])),
    ports,
  };
  const changedTop = partial
    ? topChains.filter((c) => !sameRules(previous.top.get(c.key), c.rules))
    : topChains;
  const written = partial && input.partialTopLevel !== "always" ? changedTop : topChains;
  if (partial && rendered === 0 && deleted.size === 0 && changedTop.length === 0) {
    return skippedResult(family, state, localhostNodePorts);
  }

  const sections: RestoreSection[] = [];
  const filterChains: ChainBlock[] = written.filter((c) => c.table === "filter");
  if (!partial) {
    // Sorted among the others, as in upstream's test layout; canaries only on full syncs.
    filterChains.splice(filterChains.length - 1, 0, topChain("filter", KUBE_PROXY_CANARY, NONE));
  }
  if (filterChains.length > 0) {
    sections.push({ table: "filter", chains: filterChains, deleted: NONE });
  }

  // nat: KUBE-NODEPORTS and KUBE-SERVICES first, then every other chain in name order.
  const natFirst: ChainBlock[] = [];
  for (const c of written) {
    if (c.table !== "nat") continue;
    if (c.name === KUBE_NODEPORTS || c.name === KUBE_SERVICES) natFirst.push(c);
    else blocks.push(c);
  }
  if (!partial) blocks.push({ name: KUBE_PROXY_CANARY, rules: NONE });
  const deletedChains = [...deleted].sort();
  for (const name of deletedChains) blocks.push({ name, rules: NONE });
  sortByName(blocks);
  if (natFirst.length + blocks.length > 0) {
    sections.push({ table: "nat", chains: natFirst.concat(blocks), deleted: deletedChains });
  }

  if (sections.length === 0) {
    // Only service ports without chains changed, and their top-level rules did not.
    return skippedResult(family, state, localhostNodePorts);
  }

  if (!partial) {
    // Upstream's canary watch polls the mangle table; create it in the same transaction.
    sections.push({
      table: "mangle",
      chains: [{ name: KUBE_PROXY_CANARY, rules: NONE }],
      deleted: NONE,
    });
  }

  return renderResult({
    family,
    kind: partial ? "partial" : "full",
    input: new RestoreInput(sections),
    deletedChains,
    state,
    localhostNodePorts,
  });
}

/** The result of a render whose text is made only when asked for. */
function renderResult(
  fields: Omit<IptablesRenderResult, "lines" | "rulesWritten" | "bytes">,
): IptablesRenderResult {
  const input = fields.input;
  return {
    ...fields,
    get lines(): readonly string[] {
      return [...input];
    },
    get rulesWritten(): number {
      return input.ruleCount;
    },
    get bytes(): number {
      let n = 0;
      for (const line of input) n += line.length + 1;
      return n;
    },
  };
}

function skippedResult(
  family: IPFamily,
  state: IptablesRenderState,
  localhostNodePorts: boolean,
): IptablesRenderResult {
  return renderResult({
    family,
    kind: "skipped",
    input: EMPTY_INPUT,
    deletedChains: NONE,
    state,
    localhostNodePorts,
  });
}

const EMPTY_INPUT = new RestoreInput([]);

/** A top-level chain of one table with its rules. */
interface TopChain extends ChainBlock {
  readonly table: "filter" | "nat";
  /** `table/chain`, the key of {@linkcode IptablesRenderState.top}. */
  readonly key: string;
}

function topChain(table: "filter" | "nat", name: string, rules: readonly string[]): TopChain {
  return { table, name, rules, key: `${table}/${name}` };
}

/** Equal rule lists. Unchanged ports reuse their rule strings, so most checks are identity. */
function sameRules(a: readonly string[] | undefined, b: readonly string[]): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Upstream's mark for bit `bit` as the unit tests spell it: `0x4000` for bit 14. */
export function masqueradeMark(bit: number): string {
  return "0x" + (2 ** bit).toString(16);
}

const probabilities: string[] = [];

/**
 * `fmt.Sprintf("%0.10f", 1/n)`. `toFixed` rounds exact ties up where Go rounds them to even;
 * for 1/n that differs only at n = 2048 (1/2048 = 0.00048828125 exactly).
 */
export function probability(n: number): string {
  let p = probabilities[n];
  if (p === undefined) {
    p = n === 2048 ? "0.0004882812" : (1 / n).toFixed(10);
    probabilities[n] = p;
  }
  return p;
}

/**
 * A `--comment` argument as upstream writes it: bare when it is a single word (`ns1/svc1:p80`),
 * double-quoted otherwise. Characters that could break restore syntax (quotes, backslashes,
 * control and non-ASCII characters) become `_`; the kernel keeps at most 255 bytes.
 */
export function commentArg(text: string): string {
  // One pass over the characters: this runs for every rule of large clusters.
  let bare = text.length > 0;
  let safe = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) safe = false;
    else if (!isBareChar(c)) bare = false;
  }
  let out = safe ? text : text.replace(/[^\x20-\x7e]|["\\]/g, "_");
  if (out.length > 255) out = out.slice(0, 255);
  return bare ? out : `"${out}"`;
}

/** `[A-Za-z0-9._/:-]`: characters upstream's unquoted comments consist of. */
function isBareChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x2d && c <= 0x3a) ||
    c === 0x5f;
}

/**
 * The concatenation of `parts` as one flat string. A template literal makes a rope of one node
 * per part, which every later copy (streaming to the tool, `--dry-run`) walks again: for the
 * 300k endpoint rules of 10k services × 10, joining once halves the cost of streaming them.
 */
function flat(...parts: (string | number)[]): string {
  return parts.join("");
}

function byName(a: ChainBlock, b: ChainBlock): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Groups of nat chain names, numbered in name order: the first part of a sort key. */
const enum Group {
  Ext = 0,
  Fw = 1,
  MarkMasq = 2,
  Postrouting = 3,
  ProxyCanary = 4,
  Sep = 5,
  Svc = 6,
  Svl = 7,
}

/** A sort key's group part: the 40 bits below it hold {@linkcode ChainName.order}. */
const GROUP_UNIT = 2 ** 40;

/** The {@linkcode Group} of a nat chain name, or -1 for names of any other shape. */
function groupOf(name: string): number {
  if (!name.startsWith("KUBE-")) return -1;
  switch (name.charCodeAt(5)) {
    case 0x45: // E
      return name.startsWith("EXT-", 5) ? Group.Ext : -1;
    case 0x46: // F
      return name.startsWith("FW-", 5) ? Group.Fw : -1;
    case 0x4d: // M
      return name === KUBE_MARK_MASQ ? Group.MarkMasq : -1;
    case 0x50: // P
      return name === KUBE_POSTROUTING
        ? Group.Postrouting
        : name === KUBE_PROXY_CANARY
        ? Group.ProxyCanary
        : -1;
    case 0x53: // S
      if (name.startsWith("SEP-", 5)) return Group.Sep;
      if (name.startsWith("SVC-", 5)) return Group.Svc;
      return name.startsWith("SVL-", 5) ? Group.Svl : -1;
    default:
      return -1;
  }
}

/** Position of each base32 character in ASCII order (`2`–`7`, then `A`–`Z`); -1 otherwise. */
const BASE32_RANK = (() => {
  const rank = new Int8Array(128).fill(-1);
  for (let c = 0x32; c <= 0x37; c++) rank[c] = c - 0x32;
  for (let c = 0x41; c <= 0x5a; c++) rank[c] = c - 0x41 + 6;
  return rank;
})();

/**
 * A number that sorts nat chain names like their strings do, up to the 8th hash character:
 * group × 2⁴⁰ + {@linkcode ChainName.order}. -1 for names of any other shape. The renderer knows
 * the keys of the chains it names; this parses the others (fixed and stale chains).
 */
function chainSortKey(name: string): number {
  const group = groupOf(name);
  if (group < 0) return -1;
  const prefix = group === Group.Fw ? 8 : 9;
  if (group === Group.MarkMasq || group === Group.Postrouting || group === Group.ProxyCanary) {
    return group * GROUP_UNIT;
  }
  if (name.length !== prefix + 16) return -1;
  let order = 0;
  for (let k = prefix; k < prefix + 16; k++) {
    const rank = BASE32_RANK[name.charCodeAt(k)] ?? -1;
    if (rank < 0) return -1;
    if (k < prefix + 8) order = order * 32 + rank;
  }
  return group * GROUP_UNIT + order;
}

/**
 * Sorts nat chain blocks by name. A large cluster has ~10 chains per service, and comparing
 * strings was the single largest cost of a full render, so names become 64-bit keys
 * ({@linkcode chainSortKey}, then the index) sorted as numbers; equal keys (a hash-prefix
 * collision) are then ordered by name. Names of any other shape fall back to a string sort.
 */
function sortByName(blocks: ChainBlock[]): void {
  const n = blocks.length;
  if (n < 64 || n >= 2 ** 21) {
    blocks.sort(byName);
    return;
  }
  const keys = new BigUint64Array(n);
  const halves = new Uint32Array(keys.buffer);
  // Little-endian hosts keep the low half first; check instead of assuming.
  const lowFirst = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const hiAt = lowFirst ? 1 : 0;
  const loAt = lowFirst ? 0 : 1;
  for (let i = 0; i < n; i++) {
    const block = blocks[i]!;
    const key = block.sortKey ?? chainSortKey(block.name);
    if (key < 0) {
      blocks.sort(byName);
      return;
    }
    // [key:43][index:21]
    halves[2 * i + hiAt] = Math.floor(key / 2 ** 11);
    halves[2 * i + loAt] = (key % 2 ** 11) * 2 ** 21 + i;
  }
  keys.sort();
  const sorted: ChainBlock[] = new Array(n);
  for (let i = 0; i < n; i++) {
    sorted[i] = blocks[halves[2 * i + loAt]! % 2 ** 21]!;
  }
  // Ties in group and hash prefix: order those runs by the full name.
  for (let i = 1; i < n;) {
    let j = i;
    while (j < n && sameKeyPrefix(halves, j, i - 1, hiAt, loAt)) j++;
    if (j > i) {
      const run = sorted.slice(i - 1, j).sort(byName);
      for (let k = 0; k < run.length; k++) sorted[i - 1 + k] = run[k]!;
    }
    i = j + 1;
  }
  for (let i = 0; i < n; i++) blocks[i] = sorted[i]!;
}

/** Keys `a` and `b` agree above their 21-bit index. */
function sameKeyPrefix(
  halves: Uint32Array,
  a: number,
  b: number,
  hiAt: number,
  loAt: number,
): boolean {
  return halves[2 * a + hiAt] === halves[2 * b + hiAt] &&
    halves[2 * a + loAt]! >>> 21 === halves[2 * b + loAt]! >>> 21;
}

function appendTop(into: { [K in keyof TopRules]: string[] }, from: TopRules): void {
  for (const r of from.filterNodePorts) into.filterNodePorts.push(r);
  for (const r of from.filterServices) into.filterServices.push(r);
  for (const r of from.filterExternal) into.filterExternal.push(r);
  for (const r of from.filterFirewall) into.filterFirewall.push(r);
  for (const r of from.natServices) into.natServices.push(r);
  for (const r of from.natNodePorts) into.natNodePorts.push(r);
}

/** `-s`/`-i` matches of a local-traffic detector (upstream `IfLocal` / `IfNotLocal`). */
function detectorMatches(
  d: LocalTrafficDetector,
): { ifLocal: string | null; ifNotLocal: string | null } {
  switch (d.kind) {
    case "cidr": {
      const cidr = d.cidrs[0];
      return cidr === undefined
        ? { ifLocal: null, ifNotLocal: null }
        : { ifLocal: `-s ${token(cidr)}`, ifNotLocal: `! -s ${token(cidr)}` };
    }
    case "interface":
      return { ifLocal: `-i ${token(d.name)}`, ifNotLocal: `! -i ${token(d.name)}` };
    case "interfacePrefix":
      return { ifLocal: `-i ${token(d.prefix)}+`, ifNotLocal: `! -i ${token(d.prefix)}+` };
    case "none":
      return { ifLocal: null, ifNotLocal: null };
  }
}

/** A configured value used as one restore argument: whitespace and quotes cannot split it. */
function token(value: string): string {
  return value.replace(/[^\x21-\x7e]|["'\\]/g, "_");
}

/** Rules and chains of one service port (upstream's per-service loop body). */
function renderServicePort(
  sp: ServicePort,
  ctx: PortContext,
): { top: TopRules; blocks: ChainBlock[] } {
  const chains = servicePortChains(sp);
  const proto = sp.protocol.toLowerCase();
  // Flat: the port's endpoint chains keep it until their rules are made.
  const pm = flat("-m ", proto, " -p ", proto);
  const spn = sp.key;
  const spnArg = commentArg(spn);
  const hasEndpoints = sp.hasAnyEndpoints;
  const hasInternal = sp.hasInternalEndpoints;
  const hasExternal = sp.hasExternalEndpoints;

  const internalChain = sp.internalPolicyLocal ? chains.svl : chains.svc;
  const externalPolicyChain = sp.externalPolicyLocal ? chains.svl : chains.svc;
  const usesCluster = sp.clusterEndpoints.length > 0 && sp.usesClusterEndpoints;
  const usesLocal = sp.localEndpoints.length > 0 && sp.usesLocalEndpoints;
  const usesExternal = hasEndpoints && sp.externallyAccessible;
  const usesFW = hasEndpoints && sp.loadBalancerVIPs.length > 0 &&
    sp.loadBalancerSourceRanges.length > 0;
  const lbChain = usesFW ? chains.fw : chains.ext;

  let internalTarget = "";
  let internalComment = "";
  let externalTarget = "";
  let externalComment = "";
  if (!hasEndpoints) {
    internalTarget = externalTarget = "REJECT";
    internalComment = externalComment = commentArg(`${spn} has no endpoints`);
  } else {
    if (!hasInternal) {
      internalTarget = "DROP";
      internalComment = commentArg(`${spn} has no local endpoints`);
    }
    if (!hasExternal) {
      externalTarget = "DROP";
      externalComment = commentArg(`${spn} has no local endpoints`);
    }
  }

  const filterNodePorts: string[] = [];
  const filterServices: string[] = [];
  const filterExternal: string[] = [];
  const filterFirewall: string[] = [];
  const natServices: string[] = [];
  const natNodePorts: string[] = [];
  const port = sp.port;

  const clusterIPComment = commentArg(`${spn} cluster IP`);
  if (hasInternal) {
    natServices.push(
      `-A ${KUBE_SERVICES} -m comment --comment ${clusterIPComment} ${pm} -d ${sp.clusterIP} ` +
        `--dport ${port} -j ${internalChain}`,
    );
  } else {
    filterServices.push(
      `-A ${KUBE_SERVICES} -m comment --comment ${internalComment} ${pm} -d ${sp.clusterIP} ` +
        `--dport ${port} -j ${internalTarget}`,
    );
  }

  const externalIPComment = commentArg(`${spn} external IP`);
  for (const ip of sp.externalIPs) {
    if (hasEndpoints) {
      natServices.push(
        `-A ${KUBE_SERVICES} -m comment --comment ${externalIPComment} ${pm} -d ${ip} ` +
          `--dport ${port} -j ${chains.ext}`,
      );
    }
    if (!hasExternal) {
      filterExternal.push(
        `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${externalComment} ${pm} -d ${ip} ` +
          `--dport ${port} -j ${externalTarget}`,
      );
    }
  }

  const lbComment = commentArg(`${spn} loadbalancer IP`);
  for (const ip of sp.loadBalancerVIPs) {
    if (hasEndpoints) {
      natServices.push(
        `-A ${KUBE_SERVICES} -m comment --comment ${lbComment} ${pm} -d ${ip} --dport ${port} ` +
          `-j ${lbChain}`,
      );
    }
    if (usesFW) {
      filterFirewall.push(
        `-A ${KUBE_PROXY_FIREWALL} -m comment --comment ` +
          `${commentArg(`${spn} traffic not accepted by ${chains.fw}`)} ${pm} -d ${ip} ` +
          `--dport ${port} -j DROP`,
      );
    }
  }
  if (!hasExternal) {
    for (const ip of sp.loadBalancerVIPs) {
      filterExternal.push(
        `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${externalComment} ${pm} -d ${ip} ` +
          `--dport ${port} -j ${externalTarget}`,
      );
    }
  }

  if (sp.nodePort !== 0) {
    if (hasEndpoints) {
      // NodePorts are not subject to loadBalancerSourceRanges (as upstream).
      natNodePorts.push(
        `-A ${KUBE_NODEPORTS} -m comment --comment ${spnArg} ${pm} --dport ${sp.nodePort} ` +
          `-j ${chains.ext}`,
      );
    }
    if (!hasExternal) {
      // Upstream matches any local destination here, whatever nodePortAddresses says.
      filterExternal.push(
        `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${externalComment} ` +
          `-m addrtype --dst-type LOCAL ${pm} --dport ${sp.nodePort} -j ${externalTarget}`,
      );
    }
  }

  if (sp.healthCheckNodePort !== 0) {
    // Accepted whether or not there are local endpoints: the health check reports that.
    filterNodePorts.push(
      `-A ${KUBE_NODEPORTS} -m comment --comment ${commentArg(`${spn} health check node port`)} ` +
        `-m tcp -p tcp --dport ${sp.healthCheckNodePort} -j ACCEPT`,
    );
  }

  // Per-service chains, in upstream's order of rules within each chain.
  const blocks: ChainBlock[] = [];
  const internalMasq: string[] = [];
  if (hasInternal) {
    const args =
      `-m comment --comment ${clusterIPComment} ${pm} -d ${sp.clusterIP} --dport ${port}`;
    if (ctx.masqueradeAll) {
      internalMasq.push(`-A ${internalChain} ${args} -j ${KUBE_MARK_MASQ}`);
    } else if (ctx.ifNotLocal !== null) {
      // Off-cluster traffic to a ClusterIP (e.g. via a static route to any node) may bounce
      // to another node, so it is masqueraded.
      internalMasq.push(`-A ${internalChain} ${args} ${ctx.ifNotLocal} -j ${KUBE_MARK_MASQ}`);
    }
  }

  if (usesExternal) {
    const rules: string[] = [];
    if (!sp.externalPolicyLocal) {
      rules.push(
        `-A ${chains.ext} -m comment --comment ` +
          `${commentArg(`masquerade traffic for ${spn} external destinations`)} ` +
          `-j ${KUBE_MARK_MASQ}`,
      );
    } else {
      if (ctx.ifLocal !== null) {
        // Pod → external destination acts as if it went out to the load balancer and back:
        // neither traffic policy applies, and the source is kept.
        rules.push(
          `-A ${chains.ext} -m comment --comment ` +
            `${commentArg(`pod traffic for ${spn} external destinations`)} ${ctx.ifLocal} ` +
            `-j ${chains.svc}`,
        );
      }
      // Host-originated traffic picks a local (often the VIP) source: masquerade it.
      rules.push(
        `-A ${chains.ext} -m comment --comment ` +
          `${commentArg(`masquerade LOCAL traffic for ${spn} external destinations`)} ` +
          `-m addrtype --src-type LOCAL -j ${KUBE_MARK_MASQ}`,
      );
      rules.push(
        `-A ${chains.ext} -m comment --comment ` +
          `${commentArg(`route LOCAL traffic for ${spn} external destinations`)} ` +
          `-m addrtype --src-type LOCAL -j ${chains.svc}`,
      );
    }
    if (hasExternal) rules.push(`-A ${chains.ext} -j ${externalPolicyChain}`);
    blocks.push({
      name: chains.ext,
      rules: kept(rules),
      sortKey: Group.Ext * GROUP_UNIT + servicePortChainOrder(sp),
    });
  }

  if (usesFW) {
    const prefix = `-A ${chains.fw} -m comment --comment ${lbComment}`;
    const rules: string[] = [];
    let allowFromNode = false;
    for (const cidr of sp.loadBalancerSourceRanges) {
      rules.push(`${prefix} -s ${cidr} -j ${chains.ext}`);
      if (ctx.nodeIP !== null && cidrContains(cidr, ctx.nodeIP)) allowFromNode = true;
    }
    // A VIP that is also a local address loops node → VIP traffic back with the VIP as source.
    if (allowFromNode) {
      for (const ip of sp.loadBalancerVIPs) rules.push(`${prefix} -s ${ip} -j ${chains.ext}`);
    }
    // Anything reaching the end was not DNATed; KUBE-PROXY-FIREWALL drops it in filter.
    rules.push(
      `-A ${chains.fw} -m comment --comment ` +
        commentArg(`other traffic to ${spn} will be dropped by KUBE-PROXY-FIREWALL`),
    );
    blocks.push({
      name: chains.fw,
      rules: kept(rules),
      sortKey: Group.Fw * GROUP_UNIT + servicePortChainOrder(sp),
    });
  }

  // Each endpoint's chain, named once: the split and affinity rules mention it again.
  const sepComment = ctx.largeCluster ? "" : ` -m comment --comment ${spnArg}`;
  const recipe = new PortEndpoints(sp, endpointChains(sp), sepComment, pm, ctx.largeCluster);
  const order = servicePortChainOrder(sp);

  if (usesCluster) {
    const head = internalChain === chains.svc ? kept(internalMasq) : NONE;
    const sortKey = Group.Svc * GROUP_UNIT + order;
    blocks.push(new DispatchChain(chains.svc, sortKey, head, recipe, sp.clusterEndpoints));
  }
  if (usesLocal) {
    const head = internalChain === chains.svl ? kept(internalMasq) : NONE;
    const sortKey = Group.Svl * GROUP_UNIT + order;
    blocks.push(new DispatchChain(chains.svl, sortKey, head, recipe, sp.localEndpoints));
  }

  const reachable = sp.allReachableEndpoints.length;
  for (let i = 0; i < reachable; i++) blocks.push(new EndpointChain(recipe, i));

  return {
    top: {
      filterNodePorts: kept(filterNodePorts),
      filterServices: kept(filterServices),
      filterExternal: kept(filterExternal),
      filterFirewall: kept(filterFirewall),
      natServices: kept(natServices),
      natNodePorts: kept(natNodePorts),
    },
    blocks,
  };
}

const keptEncoder = new TextEncoder();
const keptDecoder = new TextDecoder();

/**
 * Top-level rules as the render state keeps them until their port changes: each one a fresh flat
 * string. A rule built from template literals is held by V8 as a tree of its pieces (the comment
 * text, the port number, …), several times its length; re-decoding its bytes is the one copy
 * that is sure to be flat. At 10k Services × 10 the iptables state shrank from 29 to 21 MiB.
 */
function kept(rules: readonly string[]): readonly string[] {
  if (rules.length === 0) return NONE;
  return rules.map((rule) => keptDecoder.decode(keptEncoder.encode(rule)));
}

/**
 * A `KUBE-SVC-…`/`KUBE-SVL-…` chain, its rules made on each read: a full render holds one per
 * service port until the restore has read them.
 */
class DispatchChain implements ChainBlock {
  readonly name: string;
  readonly sortKey: number;
  readonly ruleCount: number;
  readonly #head: readonly string[];
  readonly #port: PortEndpoints;
  readonly #endpoints: readonly Endpoint[];

  constructor(
    name: string,
    sortKey: number,
    head: readonly string[],
    port: PortEndpoints,
    endpoints: readonly Endpoint[],
  ) {
    this.name = name;
    this.sortKey = sortKey;
    this.#head = head;
    this.#port = port;
    this.#endpoints = endpoints;
    this.ruleCount = head.length + endpointRuleCount(port.sp, endpoints);
  }

  get rules(): readonly string[] {
    const rules = [...this.#head];
    writeEndpointRules(rules, this.#port, this.name, this.#endpoints);
    return rules;
  }
}

/** What the rules of one service port's endpoint and dispatch chains are made from. */
class PortEndpoints {
  readonly sp: ServicePort;
  /** The chains of `sp.allReachableEndpoints`, in its order. */
  readonly seps: readonly string[];
  /** ` -m comment --comment …` of the `KUBE-SEP-…` rules, or "" in large clusters. */
  readonly comment: string;
  /** `-m tcp -p tcp` (or the port's protocol). */
  readonly pm: string;
  /** Per-endpoint comments are left out (upstream's large cluster mode). */
  readonly largeCluster: boolean;

  constructor(
    sp: ServicePort,
    seps: readonly string[],
    comment: string,
    pm: string,
    largeCluster: boolean,
  ) {
    this.sp = sp;
    this.seps = seps;
    this.comment = comment;
    this.pm = pm;
    this.largeCluster = largeCluster;
  }

  /** The `KUBE-SEP-…` chain of `endpoints[i]`. */
  sepOf(endpoints: readonly Endpoint[], i: number): string {
    const reachable = this.sp.allReachableEndpoints;
    if (endpoints === reachable) return this.seps[i]!;
    const ep = endpoints[i]!;
    const at = reachable.indexOf(ep);
    return at < 0 ? endpointChain(this.sp, ep).name : this.seps[at]!;
  }
}

/**
 * A `KUBE-SEP-…` chain (hairpin masquerade, then DNAT), its two rules made on each read. A full
 * render at 10k Services holds ~100k of them until the restore has read them, so each is two
 * fields; everything else is its port's.
 */
class EndpointChain implements ChainBlock {
  readonly #port: PortEndpoints;
  readonly #i: number;

  constructor(port: PortEndpoints, i: number) {
    this.#port = port;
    this.#i = i;
  }

  get name(): string {
    return this.#port.seps[this.#i]!;
  }

  get ruleCount(): number {
    return 2;
  }

  get rules(): readonly string[] {
    const { sp, comment, pm } = this.#port;
    const sep = this.name;
    const ep = sp.allReachableEndpoints[this.#i]!;
    const affinity = sp.sessionAffinity === null ? "" : ` -m recent --name ${sep} --set`;
    return [
      // Hairpin: a pod reaching itself through the Service must be masqueraded.
      flat("-A ", sep, comment, " -s ", ep.ip, " -j ", KUBE_MARK_MASQ),
      flat("-A ", sep, comment, affinity, " ", pm, " -j DNAT --to-destination ", ep.ipPort),
    ];
  }
}

/** How many rules {@linkcode writeEndpointRules} writes for `endpoints`. */
function endpointRuleCount(sp: ServicePort, endpoints: readonly Endpoint[]): number {
  return endpoints.length * (sp.sessionAffinity === null ? 1 : 2);
}

/** Upstream `writeServiceToEndpointRules`: affinity checks first, then the random split. */
function writeEndpointRules(
  rules: string[],
  port: PortEndpoints,
  chain: string,
  endpoints: readonly Endpoint[],
): void {
  const sp = port.sp;
  const comment = (ep: Endpoint) =>
    port.largeCluster ? "" : ` -m comment --comment ${commentArg(`${sp.key} -> ${ep.ipPort}`)}`;
  const n = endpoints.length;
  if (sp.sessionAffinity !== null) {
    const seconds = sp.sessionAffinity.timeoutSeconds;
    for (let i = 0; i < n; i++) {
      const sep = port.sepOf(endpoints, i);
      rules.push(
        flat(
          "-A ",
          chain,
          comment(endpoints[i]!),
          " -m recent --name ",
          sep,
          " --rcheck --seconds ",
          seconds,
          " --reap -j ",
          sep,
        ),
      );
    }
  }
  for (let i = 0; i < n; i++) {
    const sep = port.sepOf(endpoints, i);
    const split = i < n - 1
      ? ` -m statistic --mode random --probability ${probability(n - i)}`
      : "";
    rules.push(flat("-A ", chain, comment(endpoints[i]!), split, " -j ", sep));
  }
}

/** The rules that do not belong to any service port. */
interface FixedRules {
  readonly filterFirewall: readonly string[];
  readonly filterForward: readonly string[];
  readonly natMarkMasq: readonly string[];
  readonly natPostrouting: readonly string[];
  /** The last rules of nat KUBE-SERVICES: hand local destinations to KUBE-NODEPORTS. */
  readonly natDispatch: readonly string[];
}

function fixedRules(
  family: IPFamily,
  mark: string,
  localhostNodePorts: boolean,
  nodePorts: ResolvedNodePortAddresses,
  host: IptablesHostFacts,
): FixedRules {
  const filterFirewall = localhostNodePorts
    ? [
      // route_localnet opens 127/8 to the network (CVE-2020-8558); kubelet writes the same rule.
      `-A ${KUBE_FIREWALL} -m comment --comment "block incoming localnet connections" ` +
      `-d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
    ]
    : [];
  const filterForward: string[] = [];
  if (!host.conntrackTCPLiberal) {
    // INVALID packets would otherwise reset connections (kubernetes#74839).
    filterForward.push(`-A ${KUBE_FORWARD} -m conntrack --ctstate INVALID -j DROP`);
  }
  filterForward.push(
    `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" ` +
      `-m mark --mark ${mark}/${mark} -j ACCEPT`,
    `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" ` +
      `-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  );
  const natMarkMasq = [`-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${mark}`];
  const natPostrouting = [
    `-A ${KUBE_POSTROUTING} -m mark ! --mark ${mark}/${mark} -j RETURN`,
    // Clear the mark so a packet that traverses the stack again is not masqueraded twice.
    `-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${mark}`,
    `-A ${KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" ` +
    `-j MASQUERADE${host.randomFully ? " --random-fully" : ""}`,
  ];

  const dispatchComment =
    `-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain"`;
  const natDispatch: string[] = [];
  if (nodePorts.matchAll) {
    // IPv6 localhost NodePorts never work; IPv4 ones only with route_localnet.
    const exclude = family === "IPv6"
      ? " ! -d ::1/128"
      : localhostNodePorts
      ? ""
      : " ! -d 127.0.0.0/8";
    natDispatch.push(
      `-A ${KUBE_SERVICES} ${dispatchComment} -m addrtype --dst-type LOCAL${exclude} ` +
        `-j ${KUBE_NODEPORTS}`,
    );
  } else {
    for (const ip of nodePorts.addresses) {
      if (isLoopback(ip) && (family === "IPv6" || !localhostNodePorts)) continue;
      natDispatch.push(`-A ${KUBE_SERVICES} ${dispatchComment} -d ${ip} -j ${KUBE_NODEPORTS}`);
    }
  }

  return { filterFirewall, filterForward, natMarkMasq, natPostrouting, natDispatch };
}

/** `nodePortAddresses` resolved for one family (upstream `NewNodePortAddresses` + `GetNodeIPs`). */
interface ResolvedNodePortAddresses {
  /** No CIDR of this family (or a zero CIDR): every local address. */
  readonly matchAll: boolean;
  /** Upstream `ContainsIPv4Loopback`: some IPv4 CIDR covers 127.0.0.0. */
  readonly containsIPv4Loopback: boolean;
  /** When not `matchAll`: host addresses inside the CIDRs, canonical and sorted. */
  readonly addresses: readonly string[];
}

function resolveNodePortAddresses(
  family: IPFamily,
  options: RenderOptions,
  snapshot: ProxySnapshot,
  host: IptablesHostFacts,
): ResolvedNodePortAddresses {
  const cidrs: string[] = [];
  let containsIPv4Loopback = false;
  let matchAll = false;
  for (const entry of options.nodePortAddresses) {
    let text = entry.trim();
    if (text === "primary") {
      // Upstream turns `primary` into the node's primary IP of each family as a host CIDR.
      const ip = snapshot.nodeIPs[0];
      if (ip === undefined || isLoopback(ip)) continue;
      text = family === "IPv4" ? `${ip}/32` : `${ip}/128`;
    }
    const parsed = parseCIDRSloppy(text);
    if (parsed === null || parsed.family !== family) continue;
    if (family === "IPv4" && cidrContains(parsed.cidr, "127.0.0.0")) containsIPv4Loopback = true;
    if (parsed.prefix === 0) {
      matchAll = true;
      break;
    }
    cidrs.push(parsed.cidr);
  }
  if (cidrs.length === 0) {
    matchAll = true;
    if (family === "IPv4") containsIPv4Loopback = true;
  }
  if (matchAll) return { matchAll, containsIPv4Loopback, addresses: NONE };

  const candidates = host.hostAddresses ??
    [...snapshot.nodeIPs, family === "IPv4" ? "127.0.0.1" : "::1"];
  const found = new Set<string>();
  for (const raw of candidates) {
    const ip = parseIPSloppy(raw.trim());
    if (ip === null || ip.family !== family) continue;
    if (cidrs.some((c) => cidrContains(c, ip.ip))) found.add(ip.ip);
  }
  return { matchAll, containsIPv4Loopback, addresses: [...found].sort() };
}

function isLoopback(ip: string): boolean {
  return ip.includes(":") ? parseIPSloppy(ip)?.ip === "::1" : cidrContains("127.0.0.0/8", ip);
}
