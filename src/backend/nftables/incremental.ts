/**
 * Pure transaction builders that move a committed table to a new render without reading the
 * kernel: the smallest diff (the normal sync), an in-place rewrite that keeps the kernel-filled
 * affinity set (a full sync while the table is known good), and the deferred deletion of chains
 * that went out of use.
 *
 * Chains that go out of use are flushed at once but deleted only by a later transaction: before
 * Linux 6.2 a chain that a just-deleted map element pointed to still counts as referenced for a
 * moment, so deleting it in the same transaction fails (upstream defers by a second, too).
 *
 * @module
 */

import type { IPFamily } from "../../model/mod.ts";
import type { NftChain, NftRuleset, NftRulesetSource, NftSetDeclaration } from "./ruleset.ts";
import { ELEMENTS_PER_STATEMENT, Statements } from "./ruleset.ts";

/** One family's transaction, with what it does to the chain bookkeeping. */
export interface FamilyTransaction {
  /**
   * The `nft -f` input, one statement per line. Whole-table transactions produce their lines
   * afresh on each iteration (see {@linkcode streamedTransaction}).
   */
  readonly lines: Iterable<string>;
  /** Rules added plus elements added or deleted (for `SyncOutcome.rulesWritten`). */
  readonly objects: number;
  /** Chains flushed because they are no longer used; delete them in a later transaction. */
  readonly staleChains: readonly string[];
}

/**
 * A transaction whose lines are written again each time they are iterated and never held all at
 * once: a whole table at 10k Services is ~12 MB of text that cost ~27 MiB of heap as an array
 * of lines, on top of everything else a full sync holds. `write` yields the lines and returns
 * the number of objects; `objects` is known after one complete iteration (reading it earlier
 * runs one, so never spread such a transaction into a new object: that reads it). Each
 * iteration gives the same lines: `write` must be pure.
 */
export function streamedTransaction(
  write: () => Generator<string, number>,
  staleChains: readonly string[],
): FamilyTransaction {
  let objects: number | null = null;
  const lines: Iterable<string> = {
    *[Symbol.iterator]() {
      objects = yield* write();
    },
  };
  return {
    lines,
    get objects(): number {
      if (objects === null) { for (const _ of lines); }
      return objects ?? 0;
    },
    staleChains,
  };
}

/** True when `lines` has no line (without producing more than the first). */
export function isEmptyTransaction(lines: Iterable<string>): boolean {
  for (const _ of lines) return false;
  return true;
}

/** The statements of one transaction, grouped by what they do. */
export interface TransactionParts {
  readonly flushes: readonly string[];
  readonly elementDeletes: readonly string[];
  readonly setDeletes: readonly string[];
  readonly setAdds: readonly string[];
  readonly chainAdds: readonly string[];
  readonly ruleAdds: readonly string[];
  readonly elementAdds: readonly string[];
}

/**
 * Puts the parts in the one order nft accepts: flushed rules stop using a map or set before it
 * is deleted; maps, sets and chains exist before rules and elements name them.
 */
export function orderedTransaction(
  parts: TransactionParts,
  objects: number,
  staleChains: readonly string[],
): FamilyTransaction {
  return {
    lines: [
      ...parts.flushes,
      ...parts.elementDeletes,
      ...parts.setDeletes,
      ...parts.setAdds,
      ...parts.chainAdds,
      ...parts.ruleAdds,
      ...parts.elementAdds,
    ],
    objects,
    staleChains,
  };
}

function sameRules(a: NftChain, b: NftChain): boolean {
  if (a.rules.length !== b.rules.length) return false;
  for (let i = 0; i < a.rules.length; i++) if (a.rules[i] !== b.rules[i]) return false;
  return true;
}

function sameDeclaration(a: NftSetDeclaration, b: NftSetDeclaration): boolean {
  return a.kind === b.kind && a.spec === b.spec && a.dynamic === b.dynamic;
}

function references(chain: NftChain, sets: ReadonlySet<string>): boolean {
  if (sets.size === 0) return false;
  for (const rule of chain.rules) {
    for (const m of rule.matchAll(/@([A-Za-z0-9_./-]+)/g)) {
      if (sets.has(m[1] ?? "")) return true;
    }
  }
  return false;
}

/**
 * The smallest transaction from `prev` (what the kernel holds) to `next`: changed chains are
 * flushed and rewritten, new chains and sets added, map and set elements added, deleted or
 * replaced one by one, sets whose declaration changed re-created. Returns null when the change
 * cannot be made in place (a base chain's hook changed): the caller must replace the table.
 */
export function diffTransaction(prev: NftRuleset, next: NftRuleset): FamilyTransaction | null {
  const st = new Statements(next.family);
  const recreate = new Set<string>();
  for (const [name, set] of next.sets) {
    const old = prev.sets.get(name);
    if (old !== undefined && !sameDeclaration(old, set)) recreate.add(name);
  }

  const rewrite: string[] = [];
  for (const [name, chain] of next.chains) {
    const old = prev.chains.get(name);
    if (old === undefined) continue;
    if ((old.hook ?? "") !== (chain.hook ?? "")) return null;
    if (!sameRules(old, chain) || references(chain, recreate)) rewrite.push(name);
  }
  const stale = [...prev.chains.keys()].filter((name) => !next.chains.has(name));

  const flushes = [...rewrite, ...stale].map((name) => `flush chain ${st.table} ${name}`);
  const elementDeletes: string[] = [];
  const setDeletes: string[] = [];
  const setAdds: string[] = [];
  const elementAdds: string[] = [];
  let objects = 0;

  for (const [name, set] of next.sets) {
    const old = prev.sets.get(name);
    if (old === undefined || recreate.has(name)) {
      if (old !== undefined) setDeletes.push(`delete ${old.kind} ${st.table} ${name}`);
      setAdds.push(st.addSet(set));
      if (!set.dynamic) {
        st.addElements(set, elementAdds);
        objects += set.elements.size;
      }
      continue;
    }
    if (set.dynamic) continue;
    const deleted: string[] = [];
    const added: string[] = [];
    for (const [key, value] of old.elements) {
      const now = set.elements.get(key);
      if (now === undefined) deleted.push(key);
      else if (now !== value) {
        deleted.push(key);
        added.push(key);
      }
    }
    for (const key of set.elements.keys()) if (!old.elements.has(key)) added.push(key);
    if (deleted.length > 0) st.deleteElements(set, deleted, elementDeletes);
    if (added.length > 0) st.addElements(set, elementAdds, added);
    objects += deleted.length + added.length;
  }
  for (const [name, old] of prev.sets) {
    if (!next.sets.has(name)) setDeletes.push(`delete ${old.kind} ${st.table} ${name}`);
  }

  const chainAdds: string[] = [];
  const ruleAdds: string[] = [];
  for (const [name, chain] of next.chains) {
    if (prev.chains.has(name)) continue;
    chainAdds.push(st.addChain(chain));
    st.addRules(chain, ruleAdds);
  }
  for (const name of rewrite) {
    const chain = next.chains.get(name);
    if (chain !== undefined) st.addRules(chain, ruleAdds);
  }
  objects += ruleAdds.length;

  return orderedTransaction(
    { flushes, elementDeletes, setDeletes, setAdds, chainAdds, ruleAdds, elementAdds },
    objects,
    stale,
  );
}

/**
 * A full rewrite of a table that is known to hold `prev`: every rule, set and element is written
 * again (repairing anything that drifted), but the table stays, so the kernel-filled affinity
 * set keeps its entries and established sessions stay sticky.
 */
export function refreshTransaction(
  prev: NftRulesetSource,
  next: NftRulesetSource,
): FamilyTransaction {
  const stale = [...prev.chains.keys()].filter((name) => !next.chains.has(name));
  return streamedTransaction(() => refreshLines(prev, next), stale);
}

function* refreshLines(prev: NftRulesetSource, next: NftRulesetSource): Generator<string, number> {
  const st = new Statements(next.family);
  yield `add table ${st.table}`;
  yield `flush table ${st.table}`;
  for (const [name, old] of prev.sets) {
    // Static sets are re-created rather than flushed: nft 1.0.6 cannot load a rule naming a
    // typeof map it has to read back from the kernel, but one declared in the same batch works.
    const set = next.sets.get(name);
    if (set === undefined || !set.dynamic || !sameDeclaration(old, set)) {
      yield `delete ${old.kind} ${st.table} ${name}`;
    }
  }
  const filled: string[] = [];
  for (const [name, set] of next.sets) {
    const old = prev.sets.get(name);
    if (set.dynamic && old !== undefined && sameDeclaration(old, set)) continue;
    yield st.addSet(set);
    if (!set.dynamic) filled.push(name);
  }
  for (const chain of next.chains.values()) yield st.addChain(chain);
  let objects = yield* ruleLines(next, st);
  for (const name of filled) objects += yield* elementLines(next, st, name);
  return objects;
}

/** Every chain's rules, one chain at a time; returns how many. */
export function* ruleLines(source: NftRulesetSource, st: Statements): Generator<string, number> {
  const buffer: string[] = [];
  let objects = 0;
  for (const chain of source.chains.values()) {
    st.addRules(chain, buffer);
    objects += buffer.length;
    yield* buffer;
    buffer.length = 0;
  }
  return objects;
}

/**
 * One set's `add element` statements, one statement's worth of elements at a time (a map of
 * every endpoint is megabytes of text); returns how many elements.
 */
export function* elementLines(
  source: NftRulesetSource,
  st: Statements,
  name: string,
): Generator<string, number> {
  const buffer: string[] = [];
  let batch: (readonly [string, string])[] = [];
  let objects = 0;
  for (const entry of source.elements(name)) {
    batch.push(entry);
    if (batch.length < ELEMENTS_PER_STATEMENT) continue;
    objects += st.addElementEntries(name, batch, buffer);
    yield* buffer;
    buffer.length = 0;
    batch = [];
  }
  objects += st.addElementEntries(name, batch, buffer);
  yield* buffer;
  return objects;
}

/** Deletes chains that earlier transactions flushed and left unused. */
export function deleteChainsTransaction(family: IPFamily, chains: readonly string[]): string[] {
  const st = new Statements(family);
  return chains.map((name) => `delete chain ${st.table} ${name}`);
}
