/**
 * `--cleanup` for iptables mode (upstream `CleanupLeftovers`): removes the jump rules from the
 * built-in chains, then flushes and deletes every chain iptables mode owns, in both families.
 * Needs no API server and tolerates whatever is already gone: absent rules and chains are
 * skipped, and a family whose tools or kernel support are missing is skipped with a log line.
 *
 * Kubelet's KUBE-FIREWALL chain and its jumps are left alone, as upstream does: kubelet owns them.
 *
 * @module
 */

import type { IPFamily } from "../../model/mod.ts";
import type { Logger } from "../../log.ts";
import { CommandNotFoundError, type CommandRunner } from "../../runner.ts";
import { ApplyError } from "../backend.ts";
import {
  familyTools,
  type IptablesTable,
  JUMP_RULES,
  jumpRuleSpec,
  restore,
  run,
  savedChains,
  toolMessage,
  WAIT_ARGS,
} from "./apply.ts";
import {
  isServiceChainName,
  KUBE_EXTERNAL_SERVICES,
  KUBE_FORWARD,
  KUBE_MARK_MASQ,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_PROXY_CANARY,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
} from "./chain_names.ts";

/** Chains of old upstream releases (before KUBE-EXT-), removed so a node upgraded in place is clean. */
const LEGACY_PREFIXES = ["KUBE-XLB-"] as const;

/** The fixed chains iptables mode owns, per table. */
export const OWNED_CHAINS: Readonly<Record<IptablesTable, readonly string[]>> = Object.freeze({
  nat: [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ, KUBE_PROXY_CANARY],
  filter: [
    KUBE_SERVICES,
    KUBE_EXTERNAL_SERVICES,
    KUBE_FORWARD,
    KUBE_NODEPORTS,
    KUBE_PROXY_FIREWALL,
    KUBE_PROXY_CANARY,
  ],
  mangle: [KUBE_PROXY_CANARY],
});

/** Some parts of the cleanup failed; everything else was still removed. */
export class IptablesCleanupError extends Error {
  /** One sentence per failed step. */
  readonly problems: readonly string[];

  /**
   * Lists what went wrong.
   * @param problems One sentence per failed step.
   */
  constructor(problems: readonly string[], options?: ErrorOptions) {
    super(`iptables cleanup was incomplete: ${problems.join("; ")}`, options);
    this.name = "IptablesCleanupError";
    this.problems = problems;
  }
}

/**
 * Removes every jump rule and chain of iptables mode in both families. Throws
 * {@linkcode IptablesCleanupError} listing what could not be removed.
 */
export async function cleanupIptables(
  runner: CommandRunner,
  log: Logger,
  timeoutMs?: number,
): Promise<void> {
  const problems: string[] = [];
  for (const family of ["IPv4", "IPv6"] as const) {
    await cleanupFamily(runner, log, family, problems, timeoutMs);
  }
  if (problems.length > 0) throw new IptablesCleanupError(problems);
}

async function cleanupFamily(
  runner: CommandRunner,
  log: Logger,
  family: IPFamily,
  problems: string[],
  timeoutMs: number | undefined,
): Promise<void> {
  const tools = familyTools(family);
  // Listing nat first tells whether this family can be cleaned at all.
  let natChains: string[];
  try {
    natChains = await savedChains(runner, family, "nat", timeoutMs);
  } catch (error) {
    if (error instanceof ApplyError && error.cause instanceof CommandNotFoundError) {
      log.info("Skipping iptables cleanup: tools not available", { family, tool: tools.save });
      return;
    }
    log.warn("Skipping iptables cleanup: cannot list the nat table", {
      family,
      error: error instanceof Error ? error.message : String(error),
    });
    return;
  }

  // Unlink first, so the chains are unreferenced when they are deleted.
  for (const rule of JUMP_RULES) {
    const spec = jumpRuleSpec(rule);
    // A rule inserted twice (e.g. by two proxies racing) needs two deletions; bound the loop.
    for (let attempt = 0; attempt < 10; attempt++) {
      const r = await run(
        runner,
        family,
        tools.iptables,
        [...WAIT_ARGS, "-t", rule.table, "-D", rule.from, ...spec],
        { timeoutMs: timeoutMs ?? 60_000 },
      );
      if (r.code !== 0 || r.timedOut) {
        // Exit status 1/2: no such rule or chain, which is what we want.
        if (r.timedOut || r.code > 2) {
          problems.push(
            `${family}: removing the jump from ${rule.table}/${rule.from} to ${rule.to} failed: ` +
              toolMessage(r),
          );
        }
        break;
      }
    }
  }

  for (const table of ["nat", "filter", "mangle"] as const) {
    let present: string[];
    try {
      present = table === "nat" ? natChains : await savedChains(runner, family, table, timeoutMs);
    } catch (error) {
      problems.push(`${family}: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    const owned = new Set(OWNED_CHAINS[table]);
    const doomed = present
      .filter((c) =>
        owned.has(c) ||
        (table === "nat" &&
          (isServiceChainName(c) || LEGACY_PREFIXES.some((p) => c.startsWith(p))))
      )
      .sort();
    if (doomed.length === 0) continue;
    try {
      await restore(runner, family, deletionInput(table, doomed), timeoutMs);
      log.info("Removed iptables chains", { family, table, chains: doomed.length });
    } catch (error) {
      // Something else (an old kubelet, a CNI plugin) may still jump to KUBE-MARK-MASQ.
      if (table === "nat" && doomed.includes(KUBE_MARK_MASQ)) {
        const rest = doomed.filter((c) => c !== KUBE_MARK_MASQ);
        try {
          await restore(runner, family, deletionInput(table, rest), timeoutMs);
          log.warn("Kept KUBE-MARK-MASQ: another component still uses it", { family });
          continue;
        } catch {
          // Report the original failure below.
        }
      }
      problems.push(`${family}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

/** Restore input that flushes (`:CHAIN`) and deletes (`-X`) the given chains of one table. */
export function deletionInput(table: IptablesTable, chains: readonly string[]): string[] {
  return [
    `*${table}`,
    ...chains.map((c) => `:${c} - [0:0]`),
    ...chains.map((c) => `-X ${c}`),
    "COMMIT",
  ];
}
