/**
 * Pure render of nftables mode: one family's {@linkcode ProxySnapshot} → the {@linkcode NftRuleset}
 * of its `kube-proxy` table, and the `nft -f` transaction that installs it from scratch.
 *
 * The layout (README.md in this folder explains every rule) keeps the number of chains and rules
 * independent of the cluster size: a Service adds only set and map elements. Endpoint selection is
 * one shared chain per endpoint count N (`internal-N` …) whose single rule DNATs through a map
 * keyed by `daddr . protocol . port . numgen random mod N`. Only ClientIP session affinity needs
 * per-service chains, because the affinity lookup must name the endpoint.
 *
 * Same snapshot and options → byte-identical output: everything follows the snapshot's sorted
 * order, and nothing reads the clock, randomness or the host.
 *
 * @module
 */

import type { RenderOptions } from "../backend.ts";
import type { IPFamily, ProxySnapshot, TableSnapshot } from "../../model/mod.ts";
import { nftFamily, TABLE, TABLE_COMMENT } from "./names.ts";
import { type NftRuleset, type NftRulesetSource, rulesetSource, Statements } from "./ruleset.ts";
import { TableModel } from "./table_model.ts";
import {
  elementLines,
  type FamilyTransaction,
  ruleLines,
  streamedTransaction,
} from "./incremental.ts";

/**
 * The families this node proxies, as upstream decides dual-stack: a family is served when the
 * node has an address of it. A node without any address falls back to IPv4, as upstream does.
 * (Programming an `ip6` table on a host whose kernel has IPv6 disabled would fail every sync.)
 */
export function familyActive(snapshot: TableSnapshot, family: IPFamily): boolean {
  const own = family === "IPv4" ? snapshot.v4 : snapshot.v6;
  if (own.nodeIPs.length > 0) return true;
  return family === "IPv4" && snapshot.v6.nodeIPs.length === 0;
}

/**
 * Renders one family's table from scratch. Pure and deterministic: the same snapshot and options
 * give an identical ruleset (chains, sets and elements in the same order).
 */
export function renderRuleset(snapshot: ProxySnapshot, options: RenderOptions): NftRuleset {
  return TableModel.build(snapshot, options).toRuleset();
}

/**
 * The transaction that installs `ruleset` from scratch and atomically replaces whatever table of
 * that name exists (ours, upstream's, or a half-written one): `add table` + `delete table` + the
 * full content, as one `nft -f` input.
 */
export function replaceTransaction(ruleset: NftRuleset): string[] {
  return [...replaceTransactionFrom(rulesetSource(ruleset)).lines];
}

/**
 * {@linkcode replaceTransaction} of a source whose elements are produced while writing, as a
 * {@linkcode streamedTransaction} (lines written while they are fed to nft).
 */
export function replaceTransactionFrom(source: NftRulesetSource): FamilyTransaction {
  return streamedTransaction(() => replaceLines(source), []);
}

function* replaceLines(source: NftRulesetSource): Generator<string, number> {
  const st = new Statements(source.family);
  yield `add table ${st.table}`;
  yield `delete table ${st.table}`;
  yield `add table ${st.table} { comment "${TABLE_COMMENT}" ; }`;
  for (const set of source.sets.values()) yield st.addSet(set);
  for (const chain of source.chains.values()) yield st.addChain(chain);
  let objects = yield* ruleLines(source, st);
  for (const set of source.sets.values()) objects += yield* elementLines(source, st, set.name);
  return objects;
}

/** The transaction that removes one family's table if it exists. */
export function deleteTableTransaction(family: IPFamily): string[] {
  const table = `${nftFamily(family)} ${TABLE}`;
  return [`add table ${table}`, `delete table ${table}`];
}

/**
 * `--dry-run`: the start-up transaction of both families, each under a `#` heading (valid nft
 * comments, so the output can be fed to `nft -f`). A family the node has no address of is only
 * deleted, as start-up does.
 */
export function renderNftables(snapshot: TableSnapshot, options: RenderOptions): string {
  const parts: string[] = [];
  for (const family of [snapshot.v4, snapshot.v6]) {
    const table = `table ${nftFamily(family.family)} ${TABLE}`;
    if (familyActive(snapshot, family.family)) {
      parts.push(`# ${family.family}: ${table}`);
      parts.push(...replaceTransactionFrom(TableModel.build(family, options).source()).lines);
    } else {
      parts.push(`# ${family.family}: ${table} (the node has no ${family.family} address)`);
      parts.push(...deleteTableTransaction(family.family));
    }
  }
  return parts.join("\n") + "\n";
}
