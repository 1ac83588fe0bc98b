/**
 * What a node namespace's netfilter tables hold, normalised for comparison: used to prove that
 * switching modes leaves no rules of the other mode, and that `--cleanup` restores the tables as
 * they were before the proxy started.
 *
 * @module
 */

import type { ImplementedProxyMode } from "../../src/config/types.ts";
import type { CommandRunner } from "../../src/runner.ts";

/** The normalised rules of one namespace. */
export interface RulesSnapshot {
  /**
   * `iptables-save` and `ip6tables-save`: one entry per user chain (`ip nat :KUBE-SERVICES`) and
   * per rule (`ip nat -A OUTPUT …`), sorted. Built-in chains without rules are left out: they
   * exist as soon as anything touches a table, and cleanup (upstream's too) leaves them.
   */
  readonly xtables: readonly string[];
  /** `nft list ruleset` without the tables iptables-nft manages (covered by `xtables`). */
  readonly nft: string;
}

/** iptables-nft's tables: they show up in `nft list ruleset` too. */
const XTABLES = /^table (ip|ip6) (nat|filter|mangle|raw|security) \{$/;

async function output(runner: CommandRunner, command: string, args: string[]): Promise<string> {
  const result = await runner.run(command, args, { timeoutMs: 30_000 });
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed (${result.code}): ${result.stderr}`);
  }
  return result.stdout;
}

/** Parses `iptables-save` output into `family table entry` lines. */
export function normaliseSave(family: "ip" | "ip6", text: string): string[] {
  const out: string[] = [];
  let table = "";
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) table = line.slice(1);
    else if (line.startsWith(":")) {
      const [chain, policy] = line.slice(1).split(" ");
      if (policy === "-") out.push(`${family} ${table} :${chain}`);
    } else if (line.startsWith("-A ")) out.push(`${family} ${table} ${line}`);
  }
  return out;
}

/** Drops iptables-nft's tables from `nft list ruleset` output. */
export function withoutXtables(ruleset: string): string {
  const kept: string[] = [];
  let skipping = false;
  for (const line of ruleset.split("\n")) {
    if (!skipping && XTABLES.test(line)) {
      skipping = true;
      continue;
    }
    if (skipping) {
      if (line === "}") skipping = false;
      continue;
    }
    kept.push(line);
  }
  return kept.join("\n").trim();
}

/** Reads the namespace's rules through `runner`. */
export async function takeRulesSnapshot(runner: CommandRunner): Promise<RulesSnapshot> {
  const [v4, v6, nft] = await Promise.all([
    output(runner, "iptables-save", []),
    output(runner, "ip6tables-save", []),
    output(runner, "nft", ["list", "ruleset"]),
  ]);
  return {
    xtables: [...normaliseSave("ip", v4), ...normaliseSave("ip6", v6)].sort(),
    nft: withoutXtables(nft),
  };
}

/**
 * Removes kubelet's anti-martian chain `KUBE-FIREWALL` (filter) and its INPUT/OUTPUT jumps.
 * iptables mode installs them as duplicates of kubelet's, and upstream's cleanup deliberately
 * leaves them ("we create these on startup but do not delete them in CleanupLeftovers").
 */
export function withoutKubeletChains(snapshot: RulesSnapshot): RulesSnapshot {
  const kubelet =
    /^ip6? filter (:KUBE-FIREWALL$|-A KUBE-FIREWALL |-A (INPUT|OUTPUT) -j KUBE-FIREWALL$)/;
  return { ...snapshot, xtables: snapshot.xtables.filter((l) => !kubelet.test(l)) };
}

/** The parts of `snapshot` that belong to `mode`: KUBE-* chains, or the kube-proxy tables. */
export function rulesOfMode(snapshot: RulesSnapshot, mode: ImplementedProxyMode): string[] {
  if (mode === "iptables") {
    return withoutKubeletChains(snapshot).xtables.filter((l) => l.includes("KUBE-"));
  }
  return snapshot.nft.split("\n").filter((l) => /^table (ip|ip6|inet) kube-proxy \{$/.test(l));
}

/**
 * Adds foreign rules to the namespace (an iptables chain and jump, an ip6tables rule, an nft
 * table) so the cleanup check also proves the proxy leaves other software's rules alone.
 */
export async function addSentinelRules(runner: CommandRunner): Promise<void> {
  await output(runner, "iptables", ["-w", "-t", "nat", "-N", "E2E-SENTINEL"]);
  await output(runner, "iptables", [
    "-w",
    "-t",
    "nat",
    "-A",
    "POSTROUTING",
    "-s",
    "203.0.113.99/32",
    "-j",
    "E2E-SENTINEL",
  ]);
  await output(runner, "ip6tables", [
    "-w",
    "-t",
    "filter",
    "-A",
    "INPUT",
    "-s",
    "2001:db8:ffff::99/128",
    "-j",
    "ACCEPT",
  ]);
  await output(runner, "nft", ["add", "table", "inet", "e2e_sentinel"]);
  await output(runner, "nft", [
    "add",
    "chain",
    "inet",
    "e2e_sentinel",
    "probe",
    "{ type filter hook input priority 10; policy accept; }",
  ]);
}
