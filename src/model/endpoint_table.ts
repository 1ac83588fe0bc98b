/**
 * The endpoint table: applies Service, EndpointSlice and Node events and hands out immutable,
 * sorted per-family snapshots plus what changed since the previous one.
 *
 * Events only parse the object and mark its Service dirty. Dirty Services are recomputed when
 * someone asks (`hasPendingChanges()` or `snapshot()`) and compared with what was last
 * snapshotted: a Service that came back to that state drops out, so a flap costs one
 * recomputation and no revision. Unchanged `ServicePort` objects are reused across snapshots,
 * which is also how a backend can tell them apart by identity.
 *
 * @module
 */

import type { V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node";
import { servicePortEqual } from "./_equal.ts";
import { compact, flat } from "./compact.ts";
import {
  buildServicePort,
  type CategorizeContext,
  type EndpointContext,
  mergeSlices,
  type ParsedSlice,
  parseEndpointSlice,
  portMatchKey,
} from "./endpoints.ts";
import { buildLocalDetectors, detectorsEqual } from "./local_detect.ts";
import { type NodeFacts, nodeFactsEqual, parseNode, sameStrings, UNKNOWN_NODE } from "./node.ts";
import { serviceObjectOf, sliceObjectOf } from "./saved_objects.ts";
import { type ParsedService, parseService, servicePortBases } from "./service_port.ts";
import type {
  IPFamily,
  LocalTrafficDetector,
  ModelWarning,
  NodeInfo,
  ProxySnapshot,
  ServicePort,
  SyncSource,
  TableOptions,
  TableSnapshot,
} from "./types.ts";

const FAMILIES: readonly IPFamily[] = ["IPv4", "IPv6"];
/** Above this many changed Services a full re-sort beats splicing into the sorted lists. */
const INCREMENTAL_LIMIT = 256;
const NONE: readonly string[] = Object.freeze([]);

/**
 * The computed ports of one Service, its IPv4 ones first; absent from the maps when it has none.
 * One list rather than one per family: most Services have one family, and a pair object per
 * Service cost 0.4 MiB at 10k.
 */
type ServiceResult = readonly ServicePort[];

/** A recomputed Service that differs from the committed one. */
interface StagedChange {
  readonly result: ServiceResult | null;
  readonly changedIds: readonly string[];
}

/** What the table holds for one Service key; dropped from the table once it holds nothing. */
class ServiceEntry {
  /** The Service, if it exists and is proxied. */
  service: ParsedService | undefined = undefined;
  /** Its slices, sorted by id so merging does not depend on event order; a lone one bare. */
  slices: ParsedSlice | readonly ParsedSlice[] | undefined = undefined;
  /** Its ports as last snapshotted. */
  committed: ServiceResult | undefined = undefined;

  isEmpty(): boolean {
    return this.service === undefined && this.slices === undefined &&
      this.committed === undefined;
  }
}

function slicesOf(entry: ServiceEntry): readonly ParsedSlice[] {
  const slices = entry.slices;
  return slices === undefined
    ? NO_SLICES
    : Array.isArray(slices)
    ? slices
    : [slices as ParsedSlice];
}

/** Committed node-level state, compared to decide `nodeChanged`. */
interface NodeState {
  readonly known: boolean;
  readonly facts: NodeFacts;
  readonly detectors: { readonly IPv4: LocalTrafficDetector; readonly IPv6: LocalTrafficDetector };
}

/**
 * The Services and EndpointSlices a table holds, rebuilt as API objects in namespace/name order
 * (what the state file stores). Built one at a time as they are iterated.
 */
export interface SavedObjects {
  /** Every Service the table uses. */
  readonly services: Iterable<V1Service>;
  /** Every EndpointSlice the table uses. */
  readonly endpointSlices: Iterable<V1EndpointSlice>;
}

/** `build` of what `pick` finds in each value, in key order, one at a time. */
function* inKeyOrder<T, U, R>(
  map: ReadonlyMap<string, T>,
  pick: (value: T) => U | undefined,
  build: (value: U) => R,
): Generator<R> {
  for (const key of [...map.keys()].sort()) {
    const value = map.get(key);
    const picked = value === undefined ? undefined : pick(value);
    if (picked !== undefined) yield build(picked);
  }
}

/** Compares service ports the way snapshots are sorted: by key, then protocol. */
export function compareServicePorts(a: ServicePort, b: ServicePort): number {
  if (a.key !== b.key) return a.key < b.key ? -1 : 1;
  if (a.protocol !== b.protocol) return a.protocol < b.protocol ? -1 : 1;
  return 0;
}

/**
 * The one owner of Kubernetes semantics. Feed it informer events; take `snapshot()` when
 * `synced` and `hasPendingChanges()` say so. Never throws on bad objects: it records warnings.
 */
export class EndpointTable {
  readonly #options: TableOptions;
  readonly #epCtx: EndpointContext;
  readonly #preferSameNode: boolean;

  /**
   * Per Service key: the Service, its slices and its committed ports, in one entry (three maps
   * of 10k entries cost ~0.44 MiB each, a slice list per Service ~0.5 MiB more).
   */
  readonly #byService = new Map<string, ServiceEntry>();
  readonly #slices = new Map<string, ParsedSlice>();
  #nodeKnown = false;
  #nodeFacts: NodeFacts = UNKNOWN_NODE;

  readonly #syncedSources = new Set<SyncSource>();
  readonly #warnings = new Map<string, readonly ModelWarning[]>();
  #warningsChanged = false;
  #reportedWarnings = new Set<string>();
  #warningList: readonly ModelWarning[] = Object.freeze([]);

  readonly #dirty = new Set<string>();
  readonly #staged = new Map<string, StagedChange>();
  #committedNode: NodeState;
  #sorted: { IPv4: readonly ServicePort[]; IPv6: readonly ServicePort[] };
  #revision = 0;
  #last: { v4: ProxySnapshot; v6: ProxySnapshot; node: NodeInfo };

  /** Creates an empty table for the node described by `options`. */
  constructor(options: TableOptions) {
    this.#options = options;
    this.#preferSameNode = options.featureGates?.PreferSameTrafficDistribution ?? true;
    this.#epCtx = { nodeName: options.nodeName, preferSameNode: this.#preferSameNode };
    this.#committedNode = this.#currentNodeState();
    this.#sorted = { IPv4: Object.freeze([]), IPv6: Object.freeze([]) };
    this.#last = {
      v4: this.#familySnapshot("IPv4", this.#committedNode),
      v6: this.#familySnapshot("IPv6", this.#committedNode),
      node: this.#nodeInfo(),
    };
  }

  /** True once Services, EndpointSlices and the Node have each been delivered in full. */
  get synced(): boolean {
    return this.#syncedSources.size === 3;
  }

  /** The revision of the last snapshot taken (0 before anything was snapshotted). */
  get revision(): number {
    return this.#revision;
  }

  /** Call when a source's initial list has been delivered (upstream `On*Synced`). */
  markSynced(source: SyncSource): void {
    this.#syncedSources.add(source);
  }

  /** Call for a Service seen for the first time; an existing one is treated as updated. */
  onServiceAdd(service: V1Service): void {
    this.#upsertService(service);
  }

  /** Call when a Service changed; `previous` is the last version delivered. */
  onServiceUpdate(previous: V1Service, current: V1Service): void {
    const before = objectKey(previous);
    if (before !== objectKey(current)) this.#deleteService(before);
    this.#upsertService(current);
  }

  /** Call when a Service was deleted; unknown Services are ignored. */
  onServiceDelete(service: V1Service): void {
    this.#deleteService(objectKey(service));
  }

  /** Call for an EndpointSlice seen for the first time; an existing one is treated as updated. */
  onEndpointSliceAdd(slice: V1EndpointSlice): void {
    this.#upsertSlice(slice);
  }

  /** Call when an EndpointSlice changed (its endpoints, or even its Service label). */
  onEndpointSliceUpdate(previous: V1EndpointSlice, current: V1EndpointSlice): void {
    const before = objectKey(previous);
    if (before !== objectKey(current)) this.#deleteSlice(before);
    this.#upsertSlice(current);
  }

  /** Call when an EndpointSlice was deleted; unknown slices are ignored. */
  onEndpointSliceDelete(slice: V1EndpointSlice): void {
    this.#deleteSlice(objectKey(slice));
  }

  /** Call for a Node; only this node's own Node object is used, others are ignored. */
  onNodeAdd(node: V1Node): void {
    if (node.metadata?.name !== this.#options.nodeName) return;
    const messages: string[] = [];
    const facts = guarded(() => parseNode(node, messages), messages) ?? UNKNOWN_NODE;
    this.#setWarnings("Node", "", this.#options.nodeName, messages);
    this.#setNode(true, facts);
  }

  /** Call when a Node changed; only this node's own Node object is used. */
  onNodeUpdate(_previous: V1Node, current: V1Node): void {
    this.onNodeAdd(current);
  }

  /** Call when a Node was deleted; this node then has no zone and no addresses. */
  onNodeDelete(node: V1Node): void {
    if (node.metadata?.name !== this.#options.nodeName) return;
    this.#setWarnings("Node", "", this.#options.nodeName, []);
    this.#setNode(false, UNKNOWN_NODE);
  }

  /**
   * True when a snapshot taken now would differ from the last one for this node. Changes that
   * returned to their last-snapshotted state are dropped here.
   */
  hasPendingChanges(): boolean {
    this.#resolve();
    return this.#staged.size > 0 || !nodeStateEqual(this.#committedNode, this.#currentNodeState());
  }

  /**
   * The current per-family view and what changed since the previous call. The revision
   * increases only when a service port or node-level fact changed; objects are frozen and
   * unchanged ones are the same objects as in the previous snapshot.
   */
  snapshot(): TableSnapshot {
    this.#resolve();
    const changed = new Set<string>();
    const changedServices = new Set<string>();
    for (const [key, change] of this.#staged) {
      for (const id of change.changedIds) changed.add(id);
      changedServices.add(key);
    }
    const nodeState = this.#currentNodeState();
    const nodeChanged = !nodeStateEqual(this.#committedNode, nodeState);

    if (this.#staged.size > 0) this.#commitServices();
    if (changed.size > 0 || nodeChanged) {
      this.#revision++;
      this.#committedNode = nodeState;
      this.#last = {
        v4: this.#familySnapshot("IPv4", nodeState, this.#last.v4),
        v6: this.#familySnapshot("IPv6", nodeState, this.#last.v6),
        node: this.#nodeInfo(),
      };
    }
    const { warnings, newWarnings } = this.#takeWarnings();
    return Object.freeze({
      revision: this.#revision,
      synced: this.synced,
      node: this.#last.node,
      v4: this.#last.v4,
      v6: this.#last.v6,
      changed: changed.size === 0 ? NONE : Object.freeze([...changed].sort()),
      changedServices: changedServices.size === 0
        ? NONE
        : Object.freeze([...changedServices].sort()),
      nodeChanged,
      warnings,
      newWarnings,
    });
  }

  /**
   * What the table holds, as API objects that parse back to the same state: Services and
   * EndpointSlices it ignores or dropped are absent, and so are fields it never reads.
   */
  objectsToSave(): SavedObjects {
    return {
      services: inKeyOrder(this.#byService, (e) => e.service, serviceObjectOf),
      endpointSlices: inKeyOrder(this.#slices, (slice) => slice, sliceObjectOf),
    };
  }

  #upsertService(service: V1Service): void {
    const key = objectKey(service);
    const messages: string[] = [];
    const parsed = guarded(() => parseService(service, messages), messages);
    this.#setWarnings("Service", namespaceOf(service), nameOf(service), messages);
    // The parsed key, not `key`, goes into the map: one string per Service for the map, the
    // Service and its slices' serviceKey (V8 folds equal strings used as keys into one).
    if (parsed !== null) this.#entry(parsed.key).service = parsed;
    else this.#update(key, (e) => e.service = undefined);
    this.#markDirty(key);
  }

  #deleteService(key: string): void {
    const [namespace, name] = splitKey(key);
    this.#setWarnings("Service", namespace, name, []);
    if (this.#byService.get(key)?.service === undefined) return;
    this.#update(key, (e) => e.service = undefined);
    this.#markDirty(key);
  }

  #upsertSlice(slice: V1EndpointSlice): void {
    const id = objectKey(slice);
    const messages: string[] = [];
    const parsed = guarded(() => parseEndpointSlice(slice, this.#epCtx, messages), messages);
    this.#setWarnings("EndpointSlice", namespaceOf(slice), nameOf(slice), messages);
    this.#removeSlice(id);
    if (parsed === null) return;
    this.#slices.set(parsed.id, parsed);
    const entry = this.#entry(parsed.serviceKey);
    const group = slicesOf(entry);
    if (group.length === 0) {
      entry.slices = parsed;
    } else {
      let i = 0;
      while (i < group.length && (group[i]?.id ?? "") < id) i++;
      entry.slices = Object.freeze([...group.slice(0, i), parsed, ...group.slice(i)]);
    }
    this.#markDirty(parsed.serviceKey);
  }

  #deleteSlice(id: string): void {
    const [namespace, name] = splitKey(id);
    this.#setWarnings("EndpointSlice", namespace, name, []);
    this.#removeSlice(id);
  }

  #removeSlice(id: string): void {
    const old = this.#slices.get(id);
    if (old === undefined) return;
    this.#slices.delete(id);
    this.#update(old.serviceKey, (e) => {
      const rest = slicesOf(e).filter((s) => s !== old);
      e.slices = rest.length === 0 ? undefined : rest.length === 1 ? rest[0] : Object.freeze(rest);
    });
    this.#markDirty(old.serviceKey);
  }

  /** The entry of a Service key, made when missing. */
  #entry(key: string): ServiceEntry {
    let entry = this.#byService.get(key);
    if (entry === undefined) this.#byService.set(key, entry = new ServiceEntry());
    return entry;
  }

  /** Changes an existing entry, and drops it once it holds nothing. */
  #update(key: string, change: (entry: ServiceEntry) => void): void {
    const entry = this.#byService.get(key);
    if (entry === undefined) return;
    change(entry);
    if (entry.isEmpty()) this.#byService.delete(key);
  }

  #setNode(known: boolean, facts: NodeFacts): void {
    if (facts.zone !== this.#nodeFacts.zone) {
      // Only endpoints with zone hints depend on the zone; everything else stays valid.
      for (const [key, entry] of this.#byService) {
        if (slicesOf(entry).some((s) => s.hasZoneHints)) this.#markDirty(key);
      }
    }
    this.#nodeKnown = known;
    this.#nodeFacts = facts;
  }

  #markDirty(key: string): void {
    this.#dirty.add(key);
    this.#staged.delete(key);
  }

  #setWarnings(
    kind: ModelWarning["kind"],
    namespace: string,
    name: string,
    messages: string[],
  ): void {
    // The common case, a clean object in a clean table, needs no key string.
    if (messages.length === 0 && this.#warnings.size === 0) return;
    const id = `${kind}\u0000${namespace}\u0000${name}`;
    const old = this.#warnings.get(id);
    if (messages.length === 0) {
      if (old !== undefined) {
        this.#warnings.delete(id);
        this.#warningsChanged = true;
      }
      return;
    }
    const unique = [...new Set(messages)];
    if (old !== undefined && old.length === unique.length) {
      if (old.every((w, i) => w.message === unique[i])) return;
    }
    this.#warnings.set(
      id,
      Object.freeze(unique.map((message) => Object.freeze({ kind, namespace, name, message }))),
    );
    this.#warningsChanged = true;
  }

  #takeWarnings(): { warnings: readonly ModelWarning[]; newWarnings: readonly ModelWarning[] } {
    if (!this.#warningsChanged) return { warnings: this.#warningList, newWarnings: NO_WARNINGS };
    this.#warningsChanged = false;
    const all = [...this.#warnings.values()].flat().sort(compareWarnings);
    const seen = new Set<string>();
    const fresh: ModelWarning[] = [];
    for (const w of all) {
      const id = warningId(w);
      seen.add(id);
      if (!this.#reportedWarnings.has(id)) fresh.push(w);
    }
    this.#reportedWarnings = seen;
    this.#warningList = Object.freeze(all);
    return {
      warnings: this.#warningList,
      newWarnings: fresh.length === 0 ? NO_WARNINGS : Object.freeze(fresh),
    };
  }

  #categorizeContext(): CategorizeContext {
    return {
      nodeName: this.#options.nodeName,
      zone: this.#nodeFacts.zone,
      preferSameNode: this.#preferSameNode,
    };
  }

  #compute(key: string, ctx: CategorizeContext): ServiceResult | null {
    const entry = this.#byService.get(key);
    const svc = entry?.service;
    if (svc === undefined) return null;
    const slices = entry === undefined ? NO_SLICES : slicesOf(entry);
    const out: ServicePort[] = [];
    for (const family of FAMILIES) {
      const bases = servicePortBases(svc, family);
      if (bases.length === 0) continue;
      const merged = mergeSlices(slices, family);
      for (const b of bases) {
        out.push(buildServicePort(
          b,
          merged.byPort.get(portMatchKey(b.portName, b.protocol)),
          merged.localReadyCount,
          ctx,
        ));
      }
    }
    return out.length === 0 ? null : Object.freeze(compact(out));
  }

  /** Recomputes dirty Services and keeps only those that differ from the committed state. */
  #resolve(): void {
    if (this.#dirty.size === 0) return;
    const ctx = this.#categorizeContext();
    for (const key of this.#dirty) {
      const next = this.#compute(key, ctx);
      const change = diffService(this.#byService.get(key)?.committed, next);
      if (change === null) this.#staged.delete(key);
      else this.#staged.set(key, change);
    }
    this.#dirty.clear();
  }

  #commitServices(): void {
    const incremental = this.#staged.size <= INCREMENTAL_LIMIT;
    // A family's list is copied only when one of its ports changed, so the other family's
    // list (and ProxySnapshot) stays the very same object.
    const lists: { IPv4: ServicePort[] | null; IPv6: ServicePort[] | null } = {
      IPv4: null,
      IPv6: null,
    };
    for (const [key, change] of this.#staged) {
      const prev = this.#byService.get(key)?.committed;
      for (const family of FAMILIES) {
        const before = familyPorts(prev, family);
        const after = familyPorts(change.result, family);
        if (samePorts(before, after)) continue;
        const list = lists[family] ??= incremental ? [...this.#sorted[family]] : [];
        if (!incremental) continue;
        for (const p of before) {
          const i = lowerBound(list, p);
          if (list[i] !== undefined && compareServicePorts(list[i], p) === 0) list.splice(i, 1);
        }
        for (const p of after) list.splice(lowerBound(list, p), 0, p);
      }
      if (change.result !== null) this.#entry(key).committed = change.result;
      else this.#update(key, (e) => e.committed = undefined);
    }
    this.#staged.clear();
    for (const family of FAMILIES) {
      const list = lists[family];
      if (list === null) continue;
      if (!incremental) {
        for (const { committed } of this.#byService.values()) {
          for (const p of committed ?? NO_PORTS) if (p.family === family) list.push(p);
        }
        list.sort(compareServicePorts);
      }
      this.#sorted[family] = Object.freeze(list);
    }
  }

  #currentNodeState(): NodeState {
    const facts = this.#nodeFacts;
    const detectors = buildLocalDetectors(this.#options, facts.podCIDRs);
    return { known: this.#nodeKnown, facts, detectors };
  }

  #nodeInfo(): NodeInfo {
    return Object.freeze({
      name: this.#options.nodeName,
      known: this.#nodeKnown,
      zone: this.#nodeFacts.zone,
    });
  }

  #familySnapshot(family: IPFamily, node: NodeState, previous?: ProxySnapshot): ProxySnapshot {
    const servicePorts = this.#sorted[family];
    if (
      previous !== undefined && previous.servicePorts === servicePorts &&
      sameStrings(previous.nodeIPs, node.facts.nodeIPs[family]) &&
      sameStrings(previous.podCIDRs, node.facts.podCIDRs[family]) &&
      detectorsEqual(previous.localDetector, node.detectors[family])
    ) {
      return previous;
    }
    let reachable = 0;
    for (const p of servicePorts) reachable += p.allReachableEndpoints.length;
    return Object.freeze({
      family,
      servicePorts,
      nodeIPs: node.facts.nodeIPs[family],
      podCIDRs: node.facts.podCIDRs[family],
      localDetector: node.detectors[family],
      reachableEndpointCount: reachable,
    });
  }
}

/** The ports of `result` in `family` (the list itself when they all are). */
function familyPorts(
  result: ServiceResult | null | undefined,
  family: IPFamily,
): readonly ServicePort[] {
  if (result === null || result === undefined) return NO_PORTS;
  let n = 0;
  for (const p of result) if (p.family === family) n++;
  if (n === result.length) return result;
  return n === 0 ? NO_PORTS : result.filter((p) => p.family === family);
}

function samePorts(a: readonly ServicePort[], b: readonly ServicePort[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const NO_PORTS: readonly ServicePort[] = Object.freeze([]);
const NO_SLICES: readonly ParsedSlice[] = Object.freeze([]);
const NO_WARNINGS: readonly ModelWarning[] = Object.freeze([]);

/**
 * Compares a recomputed Service with the committed one. Returns null when nothing changed;
 * otherwise the new result, with unchanged ports replaced by their committed objects.
 */
function diffService(
  prev: ServiceResult | undefined,
  next: ServiceResult | null,
): StagedChange | null {
  const changedIds: string[] = [];
  if (next === null) {
    if (prev === undefined) return null;
    for (const p of prev) if (!changedIds.includes(p.id)) changedIds.push(p.id);
    return { result: null, changedIds };
  }
  const reused: ServicePort[] = [];
  for (const family of FAMILIES) {
    const before = familyPorts(prev, family);
    const after = familyPorts(next, family);
    for (const p of after) {
      const old = before.find((o) => o.id === p.id);
      if (old !== undefined && servicePortEqual(old, p)) reused.push(old);
      else {
        if (!changedIds.includes(p.id)) changedIds.push(p.id);
        reused.push(p);
      }
    }
    for (const o of before) {
      if (!after.some((p) => p.id === o.id) && !changedIds.includes(o.id)) changedIds.push(o.id);
    }
  }
  return changedIds.length === 0 ? null : { result: Object.freeze(compact(reused)), changedIds };
}

/**
 * Runs a parser; if a structurally broken object (say `null` inside a list of a hand-written
 * objects file) makes it throw, the object is ignored with a warning instead.
 */
function guarded<T>(parse: () => T, messages: string[]): T | null {
  try {
    return parse();
  } catch (e: unknown) {
    messages.push(`Ignoring malformed object: ${e instanceof Error ? e.message : String(e)}`);
    return null;
  }
}

function nodeStateEqual(a: NodeState, b: NodeState): boolean {
  return a.known === b.known && nodeFactsEqual(a.facts, b.facts) &&
    detectorsEqual(a.detectors.IPv4, b.detectors.IPv4) &&
    detectorsEqual(a.detectors.IPv6, b.detectors.IPv6);
}

function lowerBound(list: readonly ServicePort[], p: ServicePort): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const m = list[mid];
    if (m !== undefined && compareServicePorts(m, p) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function namespaceOf(o: { metadata?: { namespace?: string } }): string {
  return o.metadata?.namespace ?? "";
}

function nameOf(o: { metadata?: { name?: string } }): string {
  return o.metadata?.name ?? "";
}

function objectKey(o: { metadata?: { namespace?: string; name?: string } }): string {
  return flat(namespaceOf(o), "/", nameOf(o));
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf("/");
  return [key.slice(0, i), key.slice(i + 1)];
}

function warningId(w: ModelWarning): string {
  return `${w.kind}\u0000${w.namespace}\u0000${w.name}\u0000${w.message}`;
}

function compareWarnings(a: ModelWarning, b: ModelWarning): number {
  const x = warningId(a);
  const y = warningId(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
