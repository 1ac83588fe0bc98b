/**
 * Hands iptables mode's rules to the kernel through the {@linkcode CommandRunner} seam:
 * `iptables-restore -w 5 --noflush --counters` (one atomic transaction per family, input
 * streamed in chunks), `iptables-save` to list existing chains, and the jump rules from the
 * built-in chains, ensured with `iptables -C` / `-I … 1` as upstream does. Failures become
 * {@linkcode ApplyError}s that quote the rejected line with its number and neighbours.
 *
 * @module
 */

import { ApplyError } from "../backend.ts";
import type { IPFamily } from "../../model/mod.ts";
import { CommandNotFoundError, type CommandResult, type CommandRunner } from "../../runner.ts";
import {
  KUBE_EXTERNAL_SERVICES,
  KUBE_FIREWALL,
  KUBE_FORWARD,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
} from "./chain_names.ts";
import { restoreChunks } from "./render.ts";

/** Wait up to 5 s for the xtables lock (upstream's `-w 5`). */
export const WAIT_ARGS: readonly string[] = ["-w", "5"];
/** `--noflush`: leave chains we do not declare alone; `--counters` as upstream's RestoreAll. */
export const RESTORE_ARGS: readonly string[] = [...WAIT_ARGS, "--noflush", "--counters"];
/** How long one iptables command may take unless the caller says otherwise. */
export const DEFAULT_TIMEOUT_MS = 60_000;

/** The iptables tables kube-proxy writes. */
export type IptablesTable = "filter" | "nat" | "mangle";

/** The command names for one family. */
export interface FamilyTools {
  /** `iptables` / `ip6tables`. */
  readonly iptables: string;
  /** `iptables-restore` / `ip6tables-restore`. */
  readonly restore: string;
  /** `iptables-save` / `ip6tables-save`. */
  readonly save: string;
}

/** `iptables*` for IPv4, `ip6tables*` for IPv6. */
export function familyTools(family: IPFamily): FamilyTools {
  return family === "IPv4"
    ? { iptables: "iptables", restore: "iptables-restore", save: "iptables-save" }
    : { iptables: "ip6tables", restore: "ip6tables-restore", save: "ip6tables-save" };
}

/**
 * Runs `iptables-restore` / `ip6tables-restore` with `lines` streamed to stdin. Resolves when the
 * whole input was committed; otherwise throws {@linkcode ApplyError} (nothing of it applied).
 */
export async function restore(
  runner: CommandRunner,
  family: IPFamily,
  lines: readonly string[],
  timeoutMs: number = DEFAULT_TIMEOUT_MS,
): Promise<void> {
  const tool = familyTools(family).restore;
  const result = await run(runner, family, tool, RESTORE_ARGS, {
    stdin: restoreChunks(lines),
    timeoutMs,
  });
  if (result.code !== 0 || result.timedOut) {
    throw new ApplyError(restoreFailureMessage(tool, family, result, lines), family);
  }
}

/**
 * The message of a failed restore: the tool's complaint, then the line it names (iptables says
 * `line N failed`, iptables-nft `Error occurred at line: N`) with three lines either side.
 */
export function restoreFailureMessage(
  tool: string,
  family: IPFamily,
  result: CommandResult,
  lines: readonly string[],
): string {
  if (result.timedOut) {
    return `${tool} did not finish within the apply timeout for ${family} and was killed; ` +
      `the previous rules stay in force`;
  }
  const complaint = toolMessage(result);
  let message = `${tool} rejected the ${family} rules (exit status ${result.code})` +
    (complaint === "" ? "" : `: ${complaint}`);
  const match = /\bline:? (\d+)/i.exec(result.stderr);
  if (match !== null) {
    const lineNo = Number(match[1]);
    message += `\nat line ${lineNo} of its input:\n${excerpt(lines, lineNo)}`;
  }
  return message;
}

/** Lines `lineNo`±`context` (1-based), numbered, the named one marked with `>`. */
export function excerpt(lines: readonly string[], lineNo: number, context = 3): string {
  const from = Math.max(1, lineNo - context);
  const to = Math.min(lines.length, lineNo + context);
  const width = String(to).length;
  const out: string[] = [];
  for (let n = from; n <= to; n++) {
    out.push(`${n === lineNo ? ">" : " "} ${String(n).padStart(width)} | ${lines[n - 1] ?? ""}`);
  }
  return out.join("\n");
}

/** Runs `iptables-save -t table` and returns the names of the chains in it. */
export async function savedChains(
  runner: CommandRunner,
  family: IPFamily,
  table: IptablesTable,
  timeoutMs: number = DEFAULT_TIMEOUT_MS,
): Promise<string[]> {
  const tool = familyTools(family).save;
  const result = await run(runner, family, tool, ["-t", table], { timeoutMs });
  if (result.code !== 0 || result.timedOut) {
    throw new ApplyError(
      `${tool} -t ${table} failed for ${family} (exit status ${result.code}): ` +
        toolMessage(result),
      family,
    );
  }
  return chainsOf(result.stdout);
}

/** The chain names declared (`:NAME POLICY [p:b]`) in `iptables-save` output. */
export function chainsOf(saveOutput: string): string[] {
  const chains: string[] = [];
  for (const line of saveOutput.split("\n")) {
    if (line.startsWith(":")) {
      const end = line.indexOf(" ");
      chains.push(end < 0 ? line.slice(1) : line.slice(1, end));
    }
  }
  return chains;
}

/** A rule in a built-in chain that sends traffic into one of kube-proxy's chains. */
export interface JumpRule {
  /** The table of both chains. */
  readonly table: IptablesTable;
  /** The built-in chain the rule sits in. */
  readonly from: string;
  /** Kube-proxy's chain it jumps to. */
  readonly to: string;
  /** Its comment; empty for kubelet's duplicates, which carry none. */
  readonly comment: string;
  /** Matches before the comment. */
  readonly extra: readonly string[];
}

const NEW: readonly string[] = ["-m", "conntrack", "--ctstate", "NEW"];

/**
 * Upstream's `iptablesJumpChains`, in upstream's order: each is inserted at position 1, so on a
 * fresh host the kernel ends up with the same order as under upstream kube-proxy.
 */
export const JUMP_RULES: readonly JumpRule[] = Object.freeze([
  jump(
    "filter",
    "INPUT",
    KUBE_EXTERNAL_SERVICES,
    "kubernetes externally-visible service portals",
    NEW,
  ),
  jump(
    "filter",
    "FORWARD",
    KUBE_EXTERNAL_SERVICES,
    "kubernetes externally-visible service portals",
    NEW,
  ),
  jump("filter", "INPUT", KUBE_NODEPORTS, "kubernetes health check service ports", []),
  jump("filter", "FORWARD", KUBE_SERVICES, "kubernetes service portals", NEW),
  jump("filter", "OUTPUT", KUBE_SERVICES, "kubernetes service portals", NEW),
  jump("filter", "FORWARD", KUBE_FORWARD, "kubernetes forwarding rules", []),
  jump("filter", "INPUT", KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", NEW),
  jump("filter", "OUTPUT", KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", NEW),
  jump("filter", "FORWARD", KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", NEW),
  jump("nat", "OUTPUT", KUBE_SERVICES, "kubernetes service portals", []),
  jump("nat", "PREROUTING", KUBE_SERVICES, "kubernetes service portals", []),
  jump("nat", "POSTROUTING", KUBE_POSTROUTING, "kubernetes postrouting rules", []),
]);

/**
 * Kubelet's own jumps to its anti-martian chain, which upstream kube-proxy also ensures (and,
 * being kubelet's, never removes).
 */
export const KUBELET_JUMP_RULES: readonly JumpRule[] = Object.freeze([
  jump("filter", "INPUT", KUBE_FIREWALL, "", []),
  jump("filter", "OUTPUT", KUBE_FIREWALL, "", []),
]);

function jump(
  table: IptablesTable,
  from: string,
  to: string,
  comment: string,
  extra: readonly string[],
): JumpRule {
  return Object.freeze({ table, from, to, comment, extra });
}

/** The rule specification of a jump (what follows `-C/-I/-D CHAIN`), as separate arguments. */
export function jumpRuleSpec(rule: JumpRule): string[] {
  const spec = [...rule.extra];
  if (rule.comment !== "") spec.push("-m", "comment", "--comment", rule.comment);
  spec.push("-j", rule.to);
  return spec;
}

/**
 * Makes sure every jump rule exists: `-C` and, when missing (exit status 1), `-I CHAIN 1`.
 * `createKubeletChain`: also create kubelet's KUBE-FIREWALL chain first (`-N`, "exists" is fine),
 * for when the restore input did not declare it. Returns the number of rules inserted.
 */
export async function ensureJumpRules(
  runner: CommandRunner,
  family: IPFamily,
  createKubeletChain: boolean,
  timeoutMs: number = DEFAULT_TIMEOUT_MS,
): Promise<number> {
  const tool = familyTools(family).iptables;
  if (createKubeletChain) {
    const r = await run(runner, family, tool, [...WAIT_ARGS, "-t", "filter", "-N", KUBE_FIREWALL], {
      timeoutMs,
    });
    if (r.timedOut || (r.code !== 0 && r.code !== 1)) {
      throw new ApplyError(
        `${tool} could not create chain ${KUBE_FIREWALL}: ${toolMessage(r)}`,
        family,
      );
    }
  }
  let inserted = 0;
  for (const rule of [...JUMP_RULES, ...KUBELET_JUMP_RULES]) {
    const spec = jumpRuleSpec(rule);
    const check = await run(
      runner,
      family,
      tool,
      [...WAIT_ARGS, "-t", rule.table, "-C", rule.from, ...spec],
      { timeoutMs },
    );
    if (check.code === 0 && !check.timedOut) continue;
    if (check.code !== 1 || check.timedOut) {
      throw new ApplyError(
        `${tool} -t ${rule.table} -C ${rule.from} … -j ${rule.to} failed for ${family} ` +
          `(exit status ${check.code}): ${toolMessage(check)}`,
        family,
      );
    }
    const insert = await run(
      runner,
      family,
      tool,
      [...WAIT_ARGS, "-t", rule.table, "-I", rule.from, "1", ...spec],
      { timeoutMs },
    );
    if (insert.code !== 0 || insert.timedOut) {
      throw new ApplyError(
        `${tool} could not insert the jump from ${rule.table}/${rule.from} to ${rule.to} for ` +
          `${family} (exit status ${insert.code}): ${toolMessage(insert)}`,
        family,
      );
    }
    inserted++;
  }
  return inserted;
}

/** Runs a command; a missing tool becomes an {@linkcode ApplyError} naming it. */
export async function run(
  runner: CommandRunner,
  family: IPFamily,
  command: string,
  args: readonly string[],
  options: { stdin?: Iterable<string>; timeoutMs: number },
): Promise<CommandResult> {
  try {
    return await runner.run(command, args, options);
  } catch (error) {
    if (error instanceof CommandNotFoundError) {
      throw new ApplyError(
        `Cannot run ${JSON.stringify(command)} for ${family}: install iptables ` +
          `(the ${family === "IPv4" ? "iptables" : "ip6tables"} tools) or run as root`,
        family,
        { cause: error },
      );
    }
    throw error;
  }
}

/** The tool's stderr (or stdout) without its generic "Try `iptables -h'" hint, on one line. */
export function toolMessage(result: CommandResult): string {
  const text = result.stderr.trim() === "" ? result.stdout : result.stderr;
  return text.split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("Try `"))
    .join("; ");
}
