/**
 * The contract between the sync loop and a proxy mode. A backend turns the model's snapshot into
 * rules (pure) and hands them to the kernel (through the {@linkcode CommandRunner} seam).
 *
 * @module
 */

import type { ImplementedProxyMode, ProxyConfig } from "../config/types.ts";
import type { TableSnapshot } from "../model/types.ts";
import type { CommandRunner } from "../runner.ts";
import type { Logger } from "../log.ts";

/** The settings from the resolved config that change what rules look like. */
export interface RenderOptions {
  /** The fwmark bit that marks packets for masquerading (`masqueradeBit`, default 14). */
  readonly masqueradeBit: number;
  /** SNAT every packet sent to a ClusterIP. */
  readonly masqueradeAll: boolean;
  /** iptables, IPv4 only: accept NodePorts on 127.0.0.0/8 (needs route_localnet). */
  readonly localhostNodePorts: boolean;
  /**
   * `nodePortAddresses`: CIDRs and/or the keyword `primary` (the node's primary IP of the
   * family, from the snapshot's `nodeIPs[0]`). Empty means every local address.
   */
  readonly nodePortAddresses: readonly string[];
}

/** Reads the render-relevant settings out of the resolved config. */
export function renderOptionsFrom(config: ProxyConfig): RenderOptions {
  return {
    masqueradeBit: config.masqueradeBit,
    masqueradeAll: config.masqueradeAll,
    localhostNodePorts: config.localhostNodePorts,
    nodePortAddresses: config.nodePortAddresses,
  };
}

/** What a backend needs from outside. */
export interface BackendDeps {
  readonly runner: CommandRunner;
  readonly log: Logger;
  readonly options: RenderOptions;
  /** Kill a hung iptables-restore / nft after this long. @default 60_000 */
  readonly applyTimeoutMs?: number;
}

/** One sync request from the sync loop. */
export interface SyncRequest {
  readonly snapshot: TableSnapshot;
  /**
   * Rewrite everything (first sync, every `syncPeriod`, after any failure). When false the
   * backend may write only what changed since its last successful sync; it must still fall back
   * to a full sync when it has no successful sync to build on.
   */
  readonly full: boolean;
}

/** What a sync did, for logs and metrics. */
export interface SyncOutcome {
  /** `skipped`: the rendered rules were identical to what the kernel already has. */
  readonly kind: "full" | "partial" | "skipped";
  /** Rules (iptables) or rule/element lines (nftables) written, per family. */
  readonly rulesWritten: number;
  /** Bytes handed to the kernel tools. */
  readonly bytesWritten: number;
}

/** A proxy mode. */
export interface ProxyBackend {
  readonly mode: ImplementedProxyMode;
  /** Pure and deterministic: the full ruleset of both families, labelled, for `--dry-run`. */
  renderFull(snapshot: TableSnapshot): string;
  /**
   * Programs the kernel atomically per family. On failure throws {@linkcode ApplyError} and the
   * previous rules stay in force; the next call must then be a full sync.
   */
  sync(request: SyncRequest): Promise<SyncOutcome>;
  /** Removes every table, chain and jump rule this mode installs (no API server needed). */
  cleanup(): Promise<void>;
}

/** The kernel refused (or the tool could not run) a ruleset; nothing of it was applied. */
export class ApplyError extends Error {
  /** Every family whose transaction failed in this sync (`family` first). */
  readonly families: readonly ("IPv4" | "IPv6")[];

  /**
   * @param message What failed, including the tool's message and the offending line.
   * @param family The IP family whose transaction failed (the first, when several did).
   * @param options `families` lists every failed family when more than one did.
   */
  constructor(
    message: string,
    readonly family: "IPv4" | "IPv6",
    options?: ErrorOptions & { families?: readonly ("IPv4" | "IPv6")[] },
  ) {
    super(message, options);
    this.name = "ApplyError";
    this.families = options?.families ?? [family];
  }
}
