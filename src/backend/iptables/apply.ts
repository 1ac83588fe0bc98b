/**
 * Hands iptables mode's rules to the kernel through the {@linkcode CommandRunner} seam:
 * `iptables-restore -w 5 --noflush --counters` (one atomic transaction per family, input
 * streamed in chunks), `iptables-save` to list existing chains, and the jump rules from the
 * built-in chains: found missing from one listing per table (not one `iptables -C` per rule, each
 * of which re-reads the whole table) and inserted with `-I CHAIN 1` lines, in upstream's order,
 * inside that same transaction. Failures become {@linkcode ApplyError}s that quote the rejected
 * line with its number and neighbours.
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
import { commentArg } from "./render.ts";
import { lineChunks } from "../line_chunks.ts";

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
 * Runs `iptables-restore` / `ip6tables-restore` with `lines` streamed to stdin, made as the tool
 * reads them. Resolves with the bytes written once the whole input was committed; otherwise
 * throws {@linkcode ApplyError} (nothing of it applied). `lines` is read again for the error's
 * excerpt, so it must give the same lines each time (a `RestoreInput` does).
 */
export async function restore(
  runner: CommandRunner,
  family: IPFamily,
  lines: Iterable<string>,
  timeoutMs: number = DEFAULT_TIMEOUT_MS,
): Promise<number> {
  const tool = familyTools(family).restore;
  let bytes = 0;
  const chunks = function* (): Generator<string> {
    for (const chunk of lineChunks(lines)) {
      bytes += chunk.length;
      yield chunk;
    }
  };
  const result = await run(runner, family, tool, RESTORE_ARGS, { stdin: chunks(), timeoutMs });
  if (result.code !== 0 || result.timedOut) {
    throw new ApplyError(restoreFailureMessage(tool, family, result, lines), family);
  }
  return bytes;
}

/**
 * The message of a failed restore: the tool's complaint, then the line it names (iptables says
 * `line N failed`, iptables-nft `Error occurred at line: N`) with three lines either side.
 */
export function restoreFailureMessage(
  tool: string,
  family: IPFamily,
  result: CommandResult,
  lines: Iterable<string>,
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
export function excerpt(lines: Iterable<string>, lineNo: number, context = 3): string {
  const from = Math.max(1, lineNo - context);
  // Read only up to the window: the input may be made as it is read.
  const window: string[] = [];
  let n = 0;
  for (const line of lines) {
    n++;
    if (n > lineNo + context) break;
    if (n >= from) window.push(line);
  }
  const to = from + window.length - 1;
  const width = String(Math.max(to, from)).length;
  return window
    .map((line, i) =>
      `${from + i === lineNo ? ">" : " "} ${String(from + i).padStart(width)} | ${line}`
    )
    .join("\n");
}

/** Runs `iptables-save -t table` and returns the names of the chains in it. */
export async function savedChains(
  runner: CommandRunner,
  family: IPFamily,
  table: IptablesTable,
  timeoutMs: number = DEFAULT_TIMEOUT_MS,
): Promise<string[]> {
  return chainsOf(await saveTable(runner, family, table, timeoutMs));
}

/** The chain names declared (`:NAME POLICY [p:b]`) in `iptables-save` output. */
export function chainsOf(saveOutput: string): string[] {
  const chains: string[] = [];
  // Line by line without splitting: a large cluster's nat table lists 400k lines.
  for (let start = 0; start < saveOutput.length;) {
    let end = saveOutput.indexOf("\n", start);
    if (end < 0) end = saveOutput.length;
    if (saveOutput.charCodeAt(start) === 0x3a) {
      const space = saveOutput.indexOf(" ", start);
      chains.push(saveOutput.slice(start + 1, space < 0 || space > end ? end : space));
    }
    start = end + 1;
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

/** The built-in chains the jump rules of each table start from. */
export const JUMP_SOURCE_CHAINS: Readonly<Record<"filter" | "nat", readonly string[]>> = Object
  .freeze({
    filter: ["INPUT", "FORWARD", "OUTPUT"],
    nat: ["PREROUTING", "OUTPUT", "POSTROUTING"],
  });

/**
 * The arguments of one `iptables-save` / `iptables -S` line, as the shell would split it: words
 * separated by spaces, double quotes grouping words, backslash escaping the next character (the
 * way iptables prints comments).
 */
export function splitRuleLine(line: string): string[] {
  const args: string[] = [];
  let current = "";
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "\\" && i + 1 < line.length) {
      current += line[++i];
      inWord = true;
    } else if (c === '"') {
      quoted = !quoted;
      inWord = true;
    } else if (c === " " && !quoted) {
      if (inWord) args.push(current);
      current = "";
      inWord = false;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (inWord) args.push(current);
  return args;
}

/**
 * The jump rules of `rules` that a listing of their table shows (`iptables-save -t TABLE` or
 * `iptables -S CHAIN` output): a rule counts as present when some `-A FROM …` line has exactly
 * its arguments, which is what `iptables -C` checks.
 */
export function presentJumpRules(listing: string, rules: readonly JumpRule[]): Set<JumpRule> {
  const wanted = new Map<string, JumpRule[]>();
  for (const rule of rules) {
    const key = [rule.from, ...jumpRuleSpec(rule)].join("\0");
    wanted.set(key, [...(wanted.get(key) ?? []), rule]);
  }
  const froms = new Set(rules.map((r) => `-A ${r.from} `));
  const present = new Set<JumpRule>();
  // A nat listing of a large cluster has 400k lines; look only at the built-in chains' rules.
  for (let start = 0; start < listing.length;) {
    let end = listing.indexOf("\n", start);
    if (end < 0) end = listing.length;
    if (listing.startsWith("-A ", start)) {
      const space = listing.indexOf(" ", start + 3);
      if (space > 0 && space < end && froms.has(listing.slice(start, space + 1))) {
        const key = splitRuleLine(listing.slice(start + 3, end)).join("\0");
        for (const rule of wanted.get(key) ?? []) present.add(rule);
      }
    }
    start = end + 1;
  }
  return present;
}

/**
 * Lists the rules of some chains of a table with `iptables -S CHAIN`, one process per chain.
 * With iptables-nft this reads just those chains (milliseconds); `iptables-save` of a large nat
 * table takes seconds to minutes. Throws {@linkcode ApplyError} when a listing fails.
 */
export async function listChains(
  runner: CommandRunner,
  family: IPFamily,
  table: IptablesTable,
  chains: readonly string[],
  timeoutMs: number = DEFAULT_TIMEOUT_MS,
): Promise<string> {
  const tool = familyTools(family).iptables;
  const results = await Promise.all(
    chains.map((chain) =>
      run(runner, family, tool, [...WAIT_ARGS, "-t", table, "-S", chain], { timeoutMs })
    ),
  );
  results.forEach((result, i) => {
    if (result.code !== 0 || result.timedOut) {
      throw new ApplyError(
        `Cannot check kube-proxy's jump rules: ${tool} -t ${table} -S ${chains[i]} failed for ` +
          `${family} (exit status ${result.code}): ${
            result.timedOut ? "timed out" : toolMessage(result)
          }`,
        family,
      );
    }
  });
  return results.map((r) => r.stdout).join("\n");
}

/**
 * Runs `iptables-save -t table` and returns its output. Throws {@linkcode ApplyError} when it
 * fails.
 */
export async function saveTable(
  runner: CommandRunner,
  family: IPFamily,
  table: IptablesTable,
  timeoutMs: number = DEFAULT_TIMEOUT_MS,
): Promise<string> {
  const tool = familyTools(family).save;
  const result = await run(runner, family, tool, ["-t", table], { timeoutMs });
  if (result.code !== 0 || result.timedOut) {
    throw new ApplyError(
      `${tool} -t ${table} failed for ${family} (exit status ${result.code}): ` +
        (result.timedOut ? "timed out" : toolMessage(result)),
      family,
    );
  }
  return result.stdout;
}

/** The jump rules a full sync must insert, found from listings of the built-in chains. */
export interface MissingJumps {
  /** Missing rules, in upstream's order (that of `JUMP_RULES` then `KUBELET_JUMP_RULES`). */
  readonly rules: readonly JumpRule[];
  /** Some of kubelet's jumps are missing, so its KUBE-FIREWALL chain may be missing too. */
  readonly kubeletJumpMissing: boolean;
}

/**
 * Which jump rules are missing. `natListing`: an `iptables-save -t nat` output the caller has or
 * is getting (a full sync lists nat for stale chains anyway); when it is, or turns out, null,
 * the nat built-in chains are listed. The filter ones always are (`iptables -S`, one process per
 * chain, started before this returns). Throws {@linkcode ApplyError} when a listing fails:
 * nothing may be applied without knowing.
 */
export async function missingJumpRules(
  runner: CommandRunner,
  family: IPFamily,
  natListing: string | null | Promise<string | null>,
  timeoutMs: number = DEFAULT_TIMEOUT_MS,
): Promise<MissingJumps> {
  const all = [...JUMP_RULES, ...KUBELET_JUMP_RULES];
  const listNat = () => listChains(runner, family, "nat", JUMP_SOURCE_CHAINS.nat, timeoutMs);
  const [filter, nat] = await Promise.all([
    listChains(runner, family, "filter", JUMP_SOURCE_CHAINS.filter, timeoutMs),
    natListing === null ? listNat() : Promise.resolve(natListing).then((n) => n ?? listNat()),
  ]);
  const present = new Set([
    ...presentJumpRules(filter, all.filter((r) => r.table === "filter")),
    ...presentJumpRules(nat, all.filter((r) => r.table === "nat")),
  ]);
  const rules = all.filter((r) => !present.has(r));
  return {
    rules,
    kubeletJumpMissing: KUBELET_JUMP_RULES.some((r) => !present.has(r)),
  };
}

/**
 * Creates kubelet's KUBE-FIREWALL chain in filter (`-N`; "already exists" is fine), for when a
 * kubelet jump must be inserted and the restore input does not declare the chain.
 */
export async function ensureKubeletChain(
  runner: CommandRunner,
  family: IPFamily,
  timeoutMs: number = DEFAULT_TIMEOUT_MS,
): Promise<void> {
  const tool = familyTools(family).iptables;
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

/**
 * `lines` (a restore input) with the missing jump rules inserted (`-I FROM 1 …`, in upstream's
 * order, so the kernel ends with upstream's order) at the end of their table's section, or in
 * a section of their own when the input has none for that table. Inserting inside the sync's
 * transaction costs nothing extra; each `iptables -I` would re-read, and with iptables-legacy
 * rewrite, the whole table (seconds at 10k services).
 */
export function withJumpRules(
  lines: Iterable<string>,
  rules: readonly JumpRule[],
): Iterable<string> {
  if (rules.length === 0) return lines;
  const byTable = new Map<string, string[]>();
  for (const rule of rules) {
    const line = ["-I", rule.from, "1", ...jumpRuleSpec(rule).map(restoreWord)].join(" ");
    byTable.set(rule.table, [...(byTable.get(rule.table) ?? []), line]);
  }
  // Re-readable, as `lines` is: a failed restore's message reads the input again.
  return {
    *[Symbol.iterator](): Generator<string> {
      const inserts = new Map(byTable);
      let table: string | null = null;
      for (const line of lines) {
        if (line.startsWith("*")) table = line.slice(1);
        else if (line === "COMMIT" && table !== null) {
          yield* inserts.get(table) ?? [];
          inserts.delete(table);
        }
        yield line;
      }
      for (const [name, extra] of inserts) yield* [`*${name}`, ...extra, "COMMIT"];
    },
  };
}

/** One argument as restore input spells it: quoted when it holds spaces (comments). */
function restoreWord(arg: string): string {
  return /^[A-Za-z0-9._/:,!-]+$/.test(arg) ? arg : commentArg(arg);
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
