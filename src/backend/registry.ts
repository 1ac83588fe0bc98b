/**
 * The proxy modes this binary implements, as a static table (a computed dynamic import would be
 * left out of the compiled binary).
 *
 * @module
 */

import type { ImplementedProxyMode } from "../config/types.ts";
import type { CommandRunner } from "../runner.ts";
import type { Logger } from "../log.ts";
import type { BackendDeps, ProxyBackend } from "./backend.ts";
import { IptablesBackend } from "./iptables/backend.ts";
import { NftablesBackend } from "./nftables/backend.ts";
import { cleanupIptables } from "./iptables/cleanup.ts";
import { cleanupNftables } from "./nftables/cleanup.ts";

/** Builds the backend of each mode. */
export const BACKENDS: Readonly<Record<ImplementedProxyMode, (deps: BackendDeps) => ProxyBackend>> =
  {
    iptables: (deps) => new IptablesBackend(deps),
    nftables: (deps) => new NftablesBackend(deps),
  };

/** Removes each mode's rules (for `--cleanup` and for switching modes). */
export const CLEANUPS: Readonly<
  Record<ImplementedProxyMode, (runner: CommandRunner, log: Logger) => Promise<void>>
> = {
  iptables: (runner, log) => cleanupIptables(runner, log),
  nftables: (runner, log) => cleanupNftables(runner, log),
};
