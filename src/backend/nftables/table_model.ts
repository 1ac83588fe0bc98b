/**
 * One family's table as claims: every service port's {@linkcode Contribution} is kept, and every
 * element and per-service chain remembers which service ports wrote it. The winner of a key is
 * the first claimant in snapshot order (upstream leaves such conflicts to Go's map order; we make
 * them deterministic). A fresh build gives the full ruleset; {@linkcode TableModel.advance} moves
 * the model to a new snapshot and returns the transaction for just the service ports whose
 * objects changed, so a one-endpoint update costs a few map lookups, not a re-render of the
 * cluster. Pure: no I/O, no clock.
 *
 * Endpoint lists live in one map per pick family and list size N (`service-endpoints-3`). A list
 * that changes size moves between maps, which is a plain element update: verdict maps (whose
 * updates make the kernel re-validate the whole table) change only when a destination appears,
 * disappears, changes kind, or has a large list whose size changes. The model claims whole
 * lists (the snapshot's own endpoint arrays) and writes their elements only into transactions,
 * so the endpoints of a large cluster are held once, by the snapshot.
 *
 * @module
 */

import type { RenderOptions } from "../backend.ts";
import {
  compareServicePorts,
  type Endpoint,
  type ProxySnapshot,
  sameAddress,
  type ServicePort,
} from "../../model/mod.ts";
import { type FamilyTransaction, orderedTransaction } from "./incremental.ts";
import {
  endpointMapName,
  largeListsMapName,
  PICK_FAMILIES,
  type PickFamily,
  PRESET_LIST_SIZES,
} from "./names.ts";
import {
  type Context,
  contextFor,
  contextKey,
  contribute,
  type Contribution,
  endpointElementRest,
  endpointMapSpec,
  largeListRest,
  largePickChain,
  skeleton,
} from "./rules.ts";
import {
  type NftChain,
  type NftRuleset,
  type NftRulesetSource,
  type NftSet,
  type NftSetDeclaration,
  Statements,
} from "./ruleset.ts";

interface Claim<T> {
  readonly owner: ServicePort;
  readonly value: T;
}

/** Claims on one key, sorted by owner; a lone claim is stored bare (the common case). */
type Claims<T> = Claim<T> | Claim<T>[];

function winner<T>(claims: Claims<T> | undefined): T | undefined {
  if (claims === undefined) return undefined;
  return Array.isArray(claims) ? claims[0]?.value : claims.value;
}

function addClaim<T>(map: Map<string, Claims<T>>, key: string, owner: ServicePort, value: T) {
  const cur = map.get(key);
  if (cur === undefined) {
    map.set(key, { owner, value });
    return;
  }
  const list = Array.isArray(cur) ? cur : [cur];
  if (list.some((c) => c.owner === owner)) return;
  let i = list.length;
  while (i > 0 && compareServicePorts(list[i - 1]!.owner, owner) > 0) i--;
  list.splice(i, 0, { owner, value });
  if (!Array.isArray(cur)) map.set(key, list);
}

function removeClaim<T>(map: Map<string, Claims<T>>, key: string, owner: ServicePort) {
  const cur = map.get(key);
  if (cur === undefined) return;
  if (!Array.isArray(cur)) {
    if (cur.owner === owner) map.delete(key);
    return;
  }
  const rest = cur.filter((c) => c.owner !== owner);
  if (rest.length === 0) map.delete(key);
  else if (rest.length === 1) map.set(key, rest[0]!);
  else map.set(key, rest);
}

/** Large lists (above the preset sizes) have a map and chain only while some list has that size. */
function isLarge(n: number): boolean {
  return n > PRESET_LIST_SIZES;
}

/** Element key of the `i`th endpoint of the list under `key`. */
function elementKey(key: string, i: number): string {
  return `${key} . ${i}`;
}

type Endpoints = readonly Endpoint[];

/** `service-large` → `service`, for each pick family. */
const LARGE_LISTS_MAPS: ReadonlyMap<string, PickFamily> = new Map(
  PICK_FAMILIES.map((f) => [largeListsMapName(f), f]),
);

/** One family's table: skeleton plus claims. */
export class TableModel {
  readonly #ctx: Context;
  readonly #ctxKey: string;
  readonly #skeleton: NftRuleset;
  /**
   * The service ports in the model: the snapshot's own sorted list, so it costs nothing of its
   * own (a map by id cost 0.44 MiB at 10k ports, and a set of the new ids ~0.5 MiB of garbage on
   * every sync). A port's contribution is not kept: it follows from the object and the context
   * alone, so it is computed again when the port changes (a few µs for one port, against ~4 MiB
   * held at 10k × 10).
   */
  #ports: readonly ServicePort[] = [];
  /** Map name → key → claims on the text after the key. */
  readonly #elements = new Map<string, Map<string, Claims<string>>>();
  /**
   * Set name → element → how many claim it. A set's element has no value, so every claimant
   * writes the same and no owner needs keeping: a count instead of a claim object per element
   * (11k of them at 10k Services, mostly ClusterIPs that every port of a Service claims).
   */
  readonly #members = new Map<string, Map<string, number>>();
  /** Pick family → destination key → claims on its endpoint list. */
  readonly #lists = new Map<PickFamily, Map<string, Claims<Endpoints>>>();
  /** Per-service chain name → claims on the chain. */
  readonly #chains = new Map<string, Claims<NftChain>>();
  /** Endpoint map name → number of elements it holds (absent: none). */
  readonly #mapSizes = new Map<string, number>();
  /** Endpoint map name → its family and list size. */
  readonly #mapInfo = new Map<string, readonly [PickFamily, number]>();

  private constructor(ctx: Context) {
    this.#ctx = ctx;
    this.#ctxKey = contextKey(ctx);
    this.#skeleton = skeleton(ctx);
    for (const [name, set] of this.#skeleton.sets) {
      (set.kind === "set" ? this.#members : this.#elements).set(name, new Map());
    }
    for (const family of PICK_FAMILIES) this.#lists.set(family, new Map());
  }

  /**
   * The model of `snapshot` from scratch. `onProgress` is called after every 1024 service ports
   * (the program collects garbage there when enough has piled up).
   */
  static build(
    snapshot: ProxySnapshot,
    options: RenderOptions,
    onProgress?: () => void,
  ): TableModel {
    const model = new TableModel(contextFor(snapshot, options));
    model.#ports = snapshot.servicePorts;
    let n = 0;
    for (const sp of snapshot.servicePorts) {
      model.#claim(sp, contribute(model.#ctx, sp));
      if (++n % 1024 === 0) onProgress?.();
    }
    for (const [family, lists] of model.#lists) {
      for (const claims of lists.values()) {
        const endpoints = winner(claims);
        if (endpoints !== undefined) model.#resize(family, endpoints.length, endpoints.length);
      }
    }
    return model;
  }

  /** True when the table has a chain of this name (fixed, large-list or per-service). */
  hasChain(name: string): boolean {
    if (this.#skeleton.chains.has(name) || this.#chains.has(name)) return true;
    for (const [map, [family, n]] of this.#mapInfo) {
      if (isLarge(n) && (this.#mapSizes.get(map) ?? 0) > 0) {
        if (largePickChain(this.#ctx, family, n).name === name) return true;
      }
    }
    return false;
  }

  /**
   * The full ruleset: skeleton sets with the winning elements, the endpoint maps (by family and
   * size), skeleton chains with the pick chains filled in, then per-service chains.
   */
  toRuleset(): NftRuleset {
    const source = this.source();
    const sets = new Map<string, NftSet>();
    for (const [name, set] of source.sets) {
      sets.set(name, { ...set, elements: new Map(source.elements(name)) });
    }
    return { family: source.family, chains: source.chains, sets };
  }

  /**
   * {@linkcode toRuleset} with elements produced while they are written: what a full
   * transaction is written from, so a large table is never held twice.
   */
  source(): NftRulesetSource {
    // Winning lists per family and size, in claim order: the element order of every render.
    const bySize = new Map<PickFamily, Map<number, (readonly [string, Endpoints])[]>>();
    for (const [family, lists] of this.#lists) {
      const sizes = new Map<number, (readonly [string, Endpoints])[]>();
      for (const [key, claims] of lists) {
        const endpoints = winner(claims);
        if (endpoints === undefined) continue;
        let bucket = sizes.get(endpoints.length);
        if (bucket === undefined) sizes.set(endpoints.length, bucket = []);
        bucket.push([key, endpoints]);
      }
      bySize.set(family, sizes);
    }
    const sets = new Map<string, NftSetDeclaration>();
    for (const [name, { elements: _elements, ...declaration }] of this.#skeleton.sets) {
      sets.set(name, declaration);
    }
    const chains = new Map<string, NftChain>(this.#skeleton.chains);
    const listsOfMap = new Map<string, (readonly [string, Endpoints])[]>();
    for (const [family, sizes] of bySize) {
      for (const [n, lists] of sizes) listsOfMap.set(endpointMapName(family, n), lists);
    }
    for (const [family, sizes] of bySize) {
      for (const n of [...sizes.keys()].filter(isLarge).sort((a, b) => a - b)) {
        const name = endpointMapName(family, n);
        const spec = endpointMapSpec(this.#ctx, family, n);
        sets.set(name, { name, kind: "map", spec, dynamic: false });
      }
    }
    for (const [family, sizes] of bySize) {
      for (const n of [...sizes.keys()].filter(isLarge).sort((a, b) => a - b)) {
        const chain = largePickChain(this.#ctx, family, n);
        chains.set(chain.name, chain);
      }
    }
    for (const claims of this.#chains.values()) {
      const chain = winner(claims);
      if (chain !== undefined && !chains.has(chain.name)) chains.set(chain.name, chain);
    }

    const skeletonSets = this.#skeleton.sets;
    const claimed = this.#elements;
    const members = this.#members;
    const lists = this.#lists;
    const elements = function* (name: string): Generator<readonly [string, string]> {
      const set = skeletonSets.get(name);
      if (set !== undefined) {
        yield* set.elements;
        for (const [key, claims] of claimed.get(name) ?? []) {
          const rest = winner(claims);
          if (rest !== undefined && !set.elements.has(key)) yield [key, rest];
        }
        for (const key of members.get(name)?.keys() ?? []) {
          if (!set.elements.has(key)) yield [key, ""];
        }
      }
      for (const [key, endpoints] of listsOfMap.get(name) ?? []) {
        for (let i = 0; i < endpoints.length; i++) {
          yield [elementKey(key, i), endpointElementRest(endpoints[i]!)];
        }
      }
      const family = LARGE_LISTS_MAPS.get(name);
      if (family === undefined) return;
      for (const [key, claims] of lists.get(family) ?? []) {
        const rest = largeListRest(family, winner(claims)?.length ?? 0);
        if (rest !== null) yield [key, rest];
      }
    };
    return { family: this.#ctx.family, chains, sets, elements };
  }

  /**
   * Moves the model to `snapshot` and returns the transaction that does the same to the kernel,
   * touching only service ports whose objects changed (the model hands out a new object exactly
   * when something changed). Returns null, leaving the model as it was, when node-level facts or
   * options changed: then every rule may differ and the caller should rebuild and diff.
   */
  advance(snapshot: ProxySnapshot, options: RenderOptions): FamilyTransaction | null {
    const ctx = contextFor(snapshot, options);
    if (contextKey(ctx) !== this.#ctxKey) return null;

    const before = new Map<string, Map<string, string | undefined>>();
    const listsBefore = new Map<PickFamily, Map<string, Endpoints | undefined>>();
    const chainsBefore = new Map<string, NftChain | undefined>();
    const note = (c: Contribution) => {
      for (let i = 0; i < c.sets.length; i++) {
        const ns = c.sets[i]!;
        const key = c.keys[i]!;
        let seen = before.get(ns);
        if (seen === undefined) before.set(ns, seen = new Map());
        if (!seen.has(key)) seen.set(key, this.#elementWinner(ns, key));
      }
      for (const { family, key } of c.lists) {
        let seen = listsBefore.get(family);
        if (seen === undefined) listsBefore.set(family, seen = new Map());
        if (!seen.has(key)) seen.set(key, winner(this.#lists.get(family)?.get(key)));
      }
      for (const chain of c.chains) {
        if (!chainsBefore.has(chain.name)) {
          chainsBefore.set(chain.name, winner(this.#chains.get(chain.name)));
        }
      }
    };

    // Both lists are sorted by key and protocol: one walk pairs each port with its previous
    // object. (Were they not, a port would only be taken out and put back, which is still right:
    // every key's winner before the change is noted before anything touches it.)
    const prev = this.#ports;
    const next = snapshot.servicePorts;
    for (let i = 0, j = 0; i < prev.length || j < next.length;) {
      const old = prev[i];
      const sp = next[j];
      const order = old === undefined ? 1 : sp === undefined ? -1 : compareServicePorts(old, sp);
      if (order <= 0) i++;
      if (order >= 0) j++;
      if (old === sp) continue;
      if (order <= 0 && old !== undefined) {
        // Same context key: the old port's contribution is what it claimed.
        const was = contribute(ctx, old);
        note(was);
        this.#unclaim(old, was);
      }
      if (order >= 0 && sp !== undefined) {
        const contribution = contribute(ctx, sp);
        note(contribution);
        this.#claim(sp, contribution);
      }
    }
    this.#ports = next;

    // Element changes, per actual set or map.
    const deletes = new Map<string, string[]>();
    const adds = new Map<string, Map<string, string>>();
    const push = <T>(m: Map<string, T>, name: string, make: () => T): T => {
      let v = m.get(name);
      if (v === undefined) m.set(name, v = make());
      return v;
    };
    const sizesBefore = new Map<string, number>();
    const resize = (family: PickFamily, n: number, delta: number) => {
      const map = endpointMapName(family, n);
      if (!sizesBefore.has(map)) sizesBefore.set(map, this.#mapSizes.get(map) ?? 0);
      this.#resize(family, n, delta);
    };
    for (const [ns, keys] of before) {
      if (!this.#elements.has(ns) && !this.#members.has(ns)) continue;
      for (const [key, was] of keys) {
        const now = this.#elementWinner(ns, key);
        if (now === was) continue;
        if (was !== undefined) push(deletes, ns, () => []).push(key);
        if (now !== undefined) push(adds, ns, () => new Map()).set(key, now);
      }
    }
    for (const [family, keys] of listsBefore) {
      const claims = this.#lists.get(family)!;
      for (const [key, was] of keys) {
        const now = winner(claims.get(key));
        if (now === was) continue;
        const wasN = was?.length ?? 0;
        const nowN = now?.length ?? 0;
        // Same size: the elements stay in their map and only those that differ are replaced.
        const sameMap = wasN === nowN;
        for (let i = 0; i < wasN; i++) {
          if (sameMap && sameAddress(was![i]!, now![i]!)) continue;
          push(deletes, endpointMapName(family, wasN), () => []).push(elementKey(key, i));
        }
        for (let i = 0; i < nowN; i++) {
          if (sameMap && sameAddress(was![i]!, now![i]!)) continue;
          push(adds, endpointMapName(family, nowN), () => new Map())
            .set(elementKey(key, i), endpointElementRest(now![i]!));
        }
        if (!sameMap) {
          if (wasN > 0) resize(family, wasN, -wasN);
          if (nowN > 0) resize(family, nowN, nowN);
          const largeWas = largeListRest(family, wasN);
          const largeNow = largeListRest(family, nowN);
          const largeMap = largeListsMapName(family);
          if (largeWas !== null) push(deletes, largeMap, () => []).push(key);
          if (largeNow !== null) push(adds, largeMap, () => new Map()).set(key, largeNow);
        }
      }
    }

    const st = new Statements(ctx.family);
    const flushes: string[] = [];
    const elementDeletes: string[] = [];
    const setDeletes: string[] = [];
    const setAdds: string[] = [];
    const chainAdds: string[] = [];
    const ruleAdds: string[] = [];
    const elementAdds: string[] = [];
    const stale: string[] = [];
    let objects = 0;

    // A large list size that appears or disappears brings or takes its map and chain.
    const gone = new Set<string>();
    for (const [map, was] of sizesBefore) {
      const [family, n] = this.#mapInfo.get(map)!;
      if (!isLarge(n)) continue;
      const now = this.#mapSizes.get(map) ?? 0;
      if ((was > 0) === (now > 0)) continue;
      const chain = largePickChain(ctx, family, n);
      if (now === 0) {
        gone.add(map);
        flushes.push(`flush chain ${st.table} ${chain.name}`);
        stale.push(chain.name);
        setDeletes.push(`delete map ${st.table} ${map}`);
      } else {
        setAdds.push(
          st.addSet({
            name: map,
            kind: "map",
            spec: endpointMapSpec(ctx, family, n),
            dynamic: false,
          }),
        );
        chainAdds.push(st.addChain(chain));
        st.addRules(chain, ruleAdds);
      }
    }

    for (const [name, was] of chainsBefore) {
      const now = winner(this.#chains.get(name));
      if (now === undefined) {
        if (was !== undefined) {
          flushes.push(`flush chain ${st.table} ${name}`);
          stale.push(name);
        }
      } else if (was === undefined) {
        chainAdds.push(st.addChain(now));
        st.addRules(now, ruleAdds);
      } else if (was !== now && !sameRules(was, now)) {
        flushes.push(`flush chain ${st.table} ${name}`);
        st.addRules(now, ruleAdds);
      }
    }

    for (const [name, keys] of deletes) {
      if (gone.has(name)) continue;
      st.deleteElements(setFor(name), keys, elementDeletes);
      objects += keys.length;
    }
    for (const [name, elements] of adds) {
      st.addElements({ ...setFor(name), elements }, elementAdds);
      objects += elements.size;
    }
    objects += ruleAdds.length;
    return orderedTransaction(
      { flushes, elementDeletes, setDeletes, setAdds, chainAdds, ruleAdds, elementAdds },
      objects,
      stale,
    );
  }

  /** Counts `delta` elements into (or out of) the map of `family`'s lists of size `n`. */
  #resize(family: PickFamily, n: number, delta: number): void {
    const map = endpointMapName(family, n);
    this.#mapInfo.set(map, [family, n]);
    const size = (this.#mapSizes.get(map) ?? 0) + delta;
    if (size === 0) this.#mapSizes.delete(map);
    else this.#mapSizes.set(map, size);
  }

  /** The text after `key` in set or map `ns` ("" for a set), or undefined when not there. */
  #elementWinner(ns: string, key: string): string | undefined {
    const members = this.#members.get(ns);
    if (members === undefined) return winner(this.#elements.get(ns)?.get(key));
    return members.has(key) ? "" : undefined;
  }

  #claim(sp: ServicePort, c: Contribution): void {
    for (let i = 0; i < c.sets.length; i++) {
      const key = c.keys[i]!;
      const members = this.#members.get(c.sets[i]!);
      if (members !== undefined) {
        members.set(key, (members.get(key) ?? 0) + 1);
        continue;
      }
      const map = this.#elements.get(c.sets[i]!);
      if (map !== undefined) addClaim(map, key, sp, c.rests[i]!);
    }
    for (const list of c.lists) {
      addClaim(this.#lists.get(list.family)!, list.key, sp, list.endpoints);
    }
    for (const chain of c.chains) addClaim(this.#chains, chain.name, sp, chain);
  }

  #unclaim(sp: ServicePort, c: Contribution): void {
    for (let i = 0; i < c.sets.length; i++) {
      const key = c.keys[i]!;
      const members = this.#members.get(c.sets[i]!);
      if (members !== undefined) {
        // Claims and unclaims come from the same contribution, so the counts match exactly.
        const left = (members.get(key) ?? 0) - 1;
        if (left > 0) members.set(key, left);
        else members.delete(key);
        continue;
      }
      const map = this.#elements.get(c.sets[i]!);
      if (map !== undefined) removeClaim(map, key, sp);
    }
    for (const list of c.lists) removeClaim(this.#lists.get(list.family)!, list.key, sp);
    for (const chain of c.chains) removeClaim(this.#chains, chain.name, sp);
  }
}

/** Statement helpers only need a set's name and kind. */
function setFor(name: string): NftSet {
  return { name, kind: "set", spec: "", dynamic: false, elements: new Map() };
}

function sameRules(a: NftChain, b: NftChain): boolean {
  if (a.rules.length !== b.rules.length) return false;
  for (let i = 0; i < a.rules.length; i++) if (a.rules[i] !== b.rules[i]) return false;
  return true;
}
