/**
 * Stale UDP conntrack cleanup, as upstream did with the `conntrack` tool (reference §5;
 * `pkg/proxy/conntrack/cleanup.go` before its netlink rewrite). Service rules match only new
 * flows, so a UDP flow keeps its old DNAT until its conntrack entry expires; these deletions make
 * clients reach the new endpoints at once:
 *
 * - a UDP service port that went from no serving endpoints to some (it may have "black-hole"
 *   entries from when it REJECTed), or that was deleted: entries to its ClusterIP, external
 *   IPs and load-balancer IPs on its port, and to its NodePort;
 * - a serving endpoint that is gone (or stopped serving): entries DNATed to it, for the ClusterIP,
 *   external IPs, load-balancer IPs and NodePort.
 *
 * {@linkcode staleConntrackDeletions} decides (pure); {@linkcode ConntrackCleaner} runs them.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { IPFamily, ProxySnapshot, ServicePort, TableSnapshot } from "../model/mod.ts";
import { CommandNotFoundError, type CommandRunner } from "../runner.ts";

/** One `conntrack` invocation. */
export interface ConntrackDeletion {
  readonly family: IPFamily;
  /** Arguments after the program name, e.g. `-D -p udp --orig-dst 172.30.0.41 --dport 53`. */
  readonly args: readonly string[];
  /** The service port (`ServicePort.key`) it is for, for logs. */
  readonly servicePort: string;
}

/**
 * Pure: the deletions needed to move from `previous` (the last snapshot the kernel got, or
 * undefined at start-up, when every UDP service with endpoints counts as newly active, as
 * upstream's first sync does) to `next`. Deduplicated, in a stable order.
 */
export function staleConntrackDeletions(
  previous: TableSnapshot | undefined,
  next: TableSnapshot,
): ConntrackDeletion[] {
  const out: ConntrackDeletion[] = [];
  const seen = new Set<string>();
  const add = (family: IPFamily, servicePort: string, args: string[]) => {
    if (family === "IPv6") args.push("-f", "ipv6");
    const key = args.join(" ");
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ family, args, servicePort });
  };
  for (const [before, after] of [[previous?.v4, next.v4], [previous?.v6, next.v6]] as const) {
    familyDeletions(before, after, add);
  }
  return out;
}

type Add = (family: IPFamily, servicePort: string, args: string[]) => void;

function familyDeletions(before: ProxySnapshot | undefined, after: ProxySnapshot, add: Add) {
  const old = udpPorts(before);
  const now = udpPorts(after);
  // Services that stopped existing, and those that just got their first serving endpoint.
  for (const [id, sp] of old) {
    if (!now.has(id)) serviceDeletions(sp, add);
  }
  for (const [id, sp] of now) {
    const was = old.get(id);
    if (servingCount(sp) > 0 && (was === undefined || servingCount(was) === 0)) {
      serviceDeletions(sp, add);
    }
  }
  // Serving endpoints that went away, for service ports that still exist.
  for (const [id, was] of old) {
    const sp = now.get(id);
    if (sp === undefined) continue;
    const stillServing = new Set(sp.endpoints.filter((e) => e.serving).map((e) => e.ipPort));
    for (const ep of was.endpoints) {
      if (!ep.serving || stillServing.has(ep.ipPort)) continue;
      if (sp.nodePort !== 0) {
        add(sp.family, sp.key, [
          "-D",
          "-p",
          "udp",
          "--dport",
          String(sp.nodePort),
          "--dst-nat",
          ep.ip,
        ]);
      }
      for (const ip of [sp.clusterIP, ...sp.externalIPs, ...sp.loadBalancerVIPs]) {
        add(sp.family, sp.key, ["-D", "-p", "udp", "--orig-dst", ip, "--dst-nat", ep.ip]);
      }
    }
  }
}

function serviceDeletions(sp: ServicePort, add: Add): void {
  for (const ip of [sp.clusterIP, ...sp.externalIPs, ...sp.loadBalancerVIPs]) {
    add(sp.family, sp.key, ["-D", "-p", "udp", "--orig-dst", ip, "--dport", String(sp.port)]);
  }
  if (sp.nodePort !== 0) {
    add(sp.family, sp.key, ["-D", "-p", "udp", "--dport", String(sp.nodePort)]);
  }
}

function udpPorts(view: ProxySnapshot | undefined): Map<string, ServicePort> {
  const out = new Map<string, ServicePort>();
  for (const sp of view?.servicePorts ?? []) {
    if (sp.protocol === "UDP") out.set(sp.id, sp);
  }
  return out;
}

function servingCount(sp: ServicePort): number {
  return sp.endpoints.filter((e) => e.serving).length;
}

/** What one batch of deletions did. */
export interface ConntrackResult {
  /** Invocations that ran and succeeded (including "0 flow entries"). */
  readonly succeeded: number;
  /** Invocations that failed (logged). */
  readonly failed: number;
  /** Flow entries the tool reported deleted. */
  readonly entriesDeleted: number;
  /** False when the `conntrack` tool is not installed; the batch was skipped. */
  readonly toolPresent: boolean;
}

/** Runs deletions through the runner seam. */
export class ConntrackCleaner {
  readonly #runner: CommandRunner;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  #warnedMissing = false;

  /**
   * @param runner Starts `conntrack`.
   * @param log Where failures go.
   * @param timeoutMs Kill a hung `conntrack` after this long. @default 10_000
   */
  constructor(runner: CommandRunner, log: Logger, timeoutMs = 10_000) {
    this.#runner = runner;
    this.#log = log;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Runs each deletion in order. Nothing here throws: a missing tool is one warning per
   * process; other failures are logged and cleanup stays best-effort, as upstream.
   */
  async apply(deletions: readonly ConntrackDeletion[]): Promise<ConntrackResult> {
    let succeeded = 0;
    let failed = 0;
    let entriesDeleted = 0;
    for (const deletion of deletions) {
      this.#log.info("Clearing conntrack entries", {
        servicePort: deletion.servicePort,
        args: deletion.args.join(" "),
      }, 4);
      let result;
      try {
        result = await this.#runner.run("conntrack", deletion.args, {
          timeoutMs: this.#timeoutMs,
        });
      } catch (error) {
        if (error instanceof CommandNotFoundError) {
          if (!this.#warnedMissing) {
            this.#warnedMissing = true;
            this.#log.warn(
              "The conntrack tool is not installed: stale UDP conntrack entries will not be " +
                "removed, so UDP clients may keep reaching removed endpoints until their " +
                "entries time out; install conntrack (conntrack-tools)",
              {},
            );
          }
          return { succeeded, failed, entriesDeleted, toolPresent: false };
        }
        failed++;
        this.#log.error("Failed to run conntrack", { args: deletion.args.join(" "), err: error });
        continue;
      }
      const output = `${result.stderr}\n${result.stdout}`;
      const count = /(\d+) flow entries have been deleted/.exec(output)?.[1];
      if (result.code === 0 || (result.code === 1 && count === "0")) {
        succeeded++;
        entriesDeleted += Number(count ?? 0);
      } else {
        failed++;
        this.#log.error("Failed to delete stale conntrack entries", {
          servicePort: deletion.servicePort,
          args: deletion.args.join(" "),
          code: result.code,
          output: result.stderr.trim() || result.stdout.trim(),
        });
      }
    }
    return { succeeded, failed, entriesDeleted, toolPresent: true };
  }
}
