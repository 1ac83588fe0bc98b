/**
 * `--cleanup` for nftables mode (upstream `CleanupLeftovers`): deletes `table ip kube-proxy` and
 * `table ip6 kube-proxy`, ours or upstream's. Nothing else is ours, so nothing else is touched.
 * Absent tables are fine (`add table` + `delete table` deletes one whether or not it existed), and
 * each family is its own transaction so a host without IPv6 netfilter still gets IPv4 cleaned.
 *
 * @module
 */

import type { IPFamily } from "../../model/mod.ts";
import type { Logger } from "../../log.ts";
import { CommandNotFoundError, type CommandRunner } from "../../runner.ts";
import { ApplyError } from "../backend.ts";
import { runNft } from "./apply.ts";
import { deleteTableTransaction } from "./render.ts";

/** Some table could not be deleted; the other family was still cleaned. */
export class NftablesCleanupError extends Error {
  /** @param problems One sentence per family that failed. */
  constructor(readonly problems: readonly string[], options?: ErrorOptions) {
    super(`nftables cleanup was incomplete: ${problems.join("; ")}`, options);
    this.name = "NftablesCleanupError";
  }
}

/**
 * Deletes both `kube-proxy` tables. Without an `nft` binary there is nothing to clean (logged).
 * Throws {@linkcode NftablesCleanupError} listing the families that failed.
 */
export async function cleanupNftables(
  runner: CommandRunner,
  log: Logger,
  timeoutMs?: number,
): Promise<void> {
  const problems: string[] = [];
  for (const family of ["IPv4", "IPv6"] as const satisfies readonly IPFamily[]) {
    try {
      await runNft(runner, family, deleteTableTransaction(family), timeoutMs);
      log.info("Deleted nftables table", { family, table: "kube-proxy" }, 2);
    } catch (error) {
      if (error instanceof ApplyError && error.cause instanceof CommandNotFoundError) {
        log.info("Skipping nftables cleanup: nft is not installed", {});
        return;
      }
      problems.push(error instanceof Error ? error.message : String(error));
    }
  }
  if (problems.length > 0) throw new NftablesCleanupError(problems);
}
