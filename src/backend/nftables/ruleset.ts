/**
 * The in-memory form of one family's `kube-proxy` table: chains with their rules, and sets/maps
 * with their elements. Renders produce it, transactions are computed from it, and the backend
 * keeps the last committed one so incremental syncs never have to `nft list` the kernel.
 *
 * @module
 */

import type { IPFamily } from "../../model/mod.ts";
import { type NftFamily, nftFamily, TABLE } from "./names.ts";

/** One chain: its hook (base chains only) and its rules, in order. */
export interface NftChain {
  readonly name: string;
  /** `type nat hook prerouting priority -100 ;` for base chains, absent for regular ones. */
  readonly hook?: string;
  readonly rules: readonly string[];
}

/** One set or map: its declaration and its elements. */
export interface NftSet {
  readonly name: string;
  readonly kind: "set" | "map";
  /** The declaration body, e.g. `type ipv4_addr ; flags interval ;`. */
  readonly spec: string;
  /** Filled by the kernel (session affinity): never flushed or diffed, only declared. */
  readonly dynamic: boolean;
  /**
   * Element key → the text after the key (`""` for set elements, ` : value` for map elements,
   * optionally preceded by ` comment "…"`). Insertion order is the render order.
   */
  readonly elements: ReadonlyMap<string, string>;
}

/** A set's or map's declaration, without its elements. */
export type NftSetDeclaration = Omit<NftSet, "elements">;

/**
 * A table whose elements are produced on demand, so writing a large one never holds every
 * element twice (once as a map entry, once in the statement text). Same order as
 * {@linkcode NftRuleset}.
 */
export interface NftRulesetSource {
  readonly family: IPFamily;
  /** Chains in declaration order. */
  readonly chains: ReadonlyMap<string, NftChain>;
  /** Sets and maps in declaration order. */
  readonly sets: ReadonlyMap<string, NftSetDeclaration>;
  /** A set's elements in render order, each as `[key, text after the key]`. */
  elements(set: string): Iterable<readonly [string, string]>;
}

/** A materialised ruleset as a source. */
export function rulesetSource(ruleset: NftRuleset): NftRulesetSource {
  return {
    family: ruleset.family,
    chains: ruleset.chains,
    sets: ruleset.sets,
    elements: (name) => ruleset.sets.get(name)?.elements ?? [],
  };
}

/** One family's table. */
export interface NftRuleset {
  readonly family: IPFamily;
  /** Chains in declaration order. */
  readonly chains: ReadonlyMap<string, NftChain>;
  /** Sets and maps in declaration order. */
  readonly sets: ReadonlyMap<string, NftSet>;
}

/** Collects a ruleset; the first writer of an element key wins (deterministic: render order). */
export class RulesetBuilder {
  readonly #chains = new Map<string, NftChain>();
  readonly #sets = new Map<string, NftSet & { elements: Map<string, string> }>();

  /** @param family The family of the table being built. */
  constructor(readonly family: IPFamily) {}

  /** Declares a chain (once; a second declaration of the same name is ignored). */
  chain(name: string, rules: readonly string[], hook?: string): void {
    if (this.#chains.has(name)) return;
    this.#chains.set(name, hook === undefined ? { name, rules } : { name, hook, rules });
  }

  /** True when `name` was declared. */
  hasChain(name: string): boolean {
    return this.#chains.has(name);
  }

  /** Declares a set or map. */
  set(name: string, kind: "set" | "map", spec: string, dynamic = false): void {
    this.#sets.set(name, { name, kind, spec, dynamic, elements: new Map() });
  }

  /** Adds an element unless its key is already there. */
  element(set: string, key: string, rest = ""): void {
    const s = this.#sets.get(set);
    if (s === undefined) throw new Error(`nftables render bug: element for undeclared set ${set}`);
    if (!s.elements.has(key)) s.elements.set(key, rest);
  }

  /** True when `set` already holds `key`. */
  hasElement(set: string, key: string): boolean {
    return this.#sets.get(set)?.elements.has(key) ?? false;
  }

  /** The finished ruleset. */
  build(): NftRuleset {
    return { family: this.family, chains: this.#chains, sets: this.#sets };
  }
}

/** Elements per `add element` / `delete element` statement. */
export const ELEMENTS_PER_STATEMENT = 512;

/** Statement prefixes of one family's table. */
export class Statements {
  readonly nft: NftFamily;
  readonly table: string;

  /** @param family The table's family. */
  constructor(family: IPFamily) {
    this.nft = nftFamily(family);
    this.table = `${this.nft} ${TABLE}`;
  }

  /** `add chain …` (with the hook for base chains). */
  addChain(chain: NftChain): string {
    return chain.hook === undefined
      ? `add chain ${this.table} ${chain.name}`
      : `add chain ${this.table} ${chain.name} { ${chain.hook} }`;
  }

  /** `add rule …` for every rule of the chain. */
  addRules(chain: NftChain, out: string[]): void {
    const prefix = `add rule ${this.table} ${chain.name} `;
    for (const rule of chain.rules) out.push(prefix + rule);
  }

  /** `add set|map …`. */
  addSet(set: NftSetDeclaration): string {
    return `add ${set.kind} ${this.table} ${set.name} { ${set.spec} }`;
  }

  /** `add element` statements for the given keys (all elements when omitted). */
  addElements(set: NftSet, out: string[], keys?: Iterable<string>): void {
    if (keys === undefined) {
      this.addElementEntries(set.name, set.elements, out);
      return;
    }
    const entries = function* () {
      for (const key of keys) yield [key, set.elements.get(key) ?? ""] as const;
    };
    this.addElementEntries(set.name, entries(), out);
  }

  /** `add element` statements for `[key, text after the key]` pairs; returns how many. */
  addElementEntries(
    setName: string,
    entries: Iterable<readonly [string, string]>,
    out: string[],
  ): number {
    let batch: string[] = [];
    let count = 0;
    const flush = () => {
      if (batch.length === 0) return;
      out.push(`add element ${this.table} ${setName} { ${batch.join(", ")} }`);
      batch = [];
    };
    for (const [key, rest] of entries) {
      batch.push(key + rest);
      count++;
      if (batch.length === ELEMENTS_PER_STATEMENT) flush();
    }
    flush();
    return count;
  }

  /** `delete element` statements for the given keys. */
  deleteElements(set: NftSet, keys: readonly string[], out: string[]): void {
    for (let i = 0; i < keys.length; i += ELEMENTS_PER_STATEMENT) {
      const batch = keys.slice(i, i + ELEMENTS_PER_STATEMENT);
      out.push(`delete element ${this.table} ${set.name} { ${batch.join(", ")} }`);
    }
  }
}

/** Number of rules and elements in a ruleset (what `SyncOutcome.rulesWritten` counts). */
export function objectCount(ruleset: NftRuleset): number {
  let n = 0;
  for (const c of ruleset.chains.values()) n += c.rules.length;
  for (const s of ruleset.sets.values()) n += s.elements.size;
  return n;
}
