/**
 * iptables mode as a {@linkcode ProxyBackend}: renders each family with
 * {@linkcode renderIptables}, applies it with `iptables-restore` / `ip6tables-restore`, and keeps
 * the state of the last successful render in memory so the next sync can be partial (KEP-3453).
 * A sync is full when the caller asks, on the first sync, and after any failure.
 *
 * @module
 */

import {
  ApplyError,
  type BackendDeps,
  type ProxyBackend,
  type SyncOutcome,
  type SyncRequest,
} from "../backend.ts";
import type { IPFamily, ProxySnapshot, TableSnapshot } from "../../model/mod.ts";
import { CommandNotFoundError } from "../../runner.ts";
import {
  chainsOf,
  DEFAULT_TIMEOUT_MS,
  ensureKubeletChain,
  familyTools,
  missingJumpRules,
  type MissingJumps,
  restore,
  saveTable,
  WAIT_ARGS,
  withJumpRules,
} from "./apply.ts";
import { nameServicePorts } from "./chain_names.ts";
import { cleanupIptables } from "./cleanup.ts";
import {
  DEFAULT_HOST_FACTS,
  type IptablesHostFacts,
  type IptablesRenderState,
  renderIptables,
} from "./render.ts";
import { restoreText } from "./restore_input.ts";

/** Optional knobs of {@linkcode IptablesBackend}, mostly for tests. */
export interface IptablesBackendOptions {
  /**
   * The host's interface addresses, asked on every sync when `nodePortAddresses` lists CIDRs.
   * Null: use the Node's addresses. Default: `Deno.networkInterfaces()` when permitted.
   */
  readonly hostAddresses?: () => readonly string[] | null;
}

/** Failure counters, for the sync loop's metrics. */
export interface IptablesBackendStats {
  /** Failed restores per family (upstream `sync_proxy_rules_iptables_restore_failures_total`). */
  readonly restoreFailures: Record<IPFamily, number>;
  /** The subset that were partial syncs (`…_partial_restore_failures_total`). */
  readonly partialRestoreFailures: Record<IPFamily, number>;
}

/** What the first sync learns about the host. */
interface Probe {
  readonly randomFully: boolean;
  /** iptables-nft: listing one chain is cheap, listing a whole large table is not. */
  readonly nfTables: boolean;
  readonly conntrackTCPLiberal: boolean;
  readonly ipv6: boolean;
}

const FAMILIES: readonly IPFamily[] = ["IPv4", "IPv6"];

/** The iptables proxy mode. */
export class IptablesBackend implements ProxyBackend {
  /** Always `iptables`. */
  readonly mode = "iptables" as const;
  /** Failure counters since start. */
  readonly stats: IptablesBackendStats = {
    restoreFailures: { IPv4: 0, IPv6: 0 },
    partialRestoreFailures: { IPv4: 0, IPv6: 0 },
  };

  readonly #deps: BackendDeps;
  readonly #timeoutMs: number;
  readonly #hostAddresses: () => readonly string[] | null;
  readonly #state: Record<IPFamily, IptablesRenderState | null> = { IPv4: null, IPv6: null };
  readonly #needFull: Record<IPFamily, boolean> = { IPv4: true, IPv6: true };
  /** List the nat table for stale chains: until a full sync succeeded, and after failures. */
  readonly #listNat: Record<IPFamily, boolean> = { IPv4: true, IPv6: true };
  #probe: Promise<Probe> | null = null;
  #probed: Probe | null = null;
  #routeLocalnetSet = false;
  #warnedNoIPv6 = false;

  /**
   * Creates the backend; nothing runs until the first sync.
   * @param deps Runner, logger and render options.
   * @param options Where host addresses come from (tests pin them).
   */
  constructor(deps: BackendDeps, options: IptablesBackendOptions = {}) {
    this.#deps = deps;
    this.#timeoutMs = deps.applyTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#hostAddresses = options.hostAddresses ?? systemHostAddresses;
  }

  /**
   * Both families' full restore input, each under a `# IPv4 (iptables-restore)` /
   * `# IPv6 (ip6tables-restore)` label. Uses what the first sync learnt about the host, or
   * defaults (modern iptables, strict conntrack) before any sync.
   */
  renderFull(snapshot: TableSnapshot): string {
    const sections = FAMILIES.map((family) => {
      const result = renderIptables({
        snapshot: familySnapshot(snapshot, family),
        options: this.#deps.options,
        host: this.#hostFacts(),
        full: true,
      });
      return `# ${family} (${familyTools(family).restore})\n${restoreText(result.input)}`;
    });
    return sections.join("\n");
  }

  /**
   * Renders and applies both families. Full when `request.full`, on the first sync and after
   * a failure; otherwise only changed service ports are rewritten. A family that fails keeps
   * its previous rules; the other family is still synced; one ApplyError names every family
   * that failed.
   */
  async sync(request: SyncRequest): Promise<SyncOutcome> {
    const probe = await this.#probeHost();
    const host = this.#hostFacts();
    let full = false;
    let partial = false;
    let rulesWritten = 0;
    let bytesWritten = 0;
    const failures: { family: IPFamily; error: unknown }[] = [];

    for (const family of FAMILIES) {
      const snapshot = familySnapshot(request.snapshot, family);
      if (family === "IPv6" && !probe.ipv6) {
        if (snapshot.servicePorts.length > 0 && !this.#warnedNoIPv6) {
          this.#deps.log.warn("IPv6 iptables is not available: IPv6 Services are not proxied", {
            servicePorts: snapshot.servicePorts.length,
          });
          this.#warnedNoIPv6 = true;
        }
        continue;
      }
      const wantFull = request.full || this.#needFull[family] || this.#state[family] === null;
      try {
        const listing = wantFull ? this.#listForFullSync(family, snapshot, probe) : null;
        // The listings run as child processes; hash the chain names meanwhile (a first render
        // of 10k services spends ~100 ms on sha256), so the render finds them cached.
        if (listing !== null) nameServicePorts(snapshot.servicePorts);
        const listed = listing === null ? null : await listing;
        const result = renderIptables({
          snapshot,
          options: this.#deps.options,
          host,
          full: wantFull,
          previous: this.#state[family],
          changed: request.snapshot.changed,
          ...(listed?.natChains == null ? {} : { existingNatChains: listed.natChains }),
        });
        if (result.kind === "skipped") {
          this.#state[family] = result.state;
          continue;
        }
        if (result.localhostNodePorts) await this.#setRouteLocalnet();
        const jumps = listed?.missing.rules ?? [];
        // The restore input declares kubelet's chain only for IPv4 localhost NodePorts.
        if (listed?.missing.kubeletJumpMissing && !result.localhostNodePorts) {
          await ensureKubeletChain(this.#deps.runner, family, this.#timeoutMs);
        }
        const written = await restore(
          this.#deps.runner,
          family,
          withJumpRules(result.input, jumps),
          restoreTimeoutMs(this.#timeoutMs, result.input.lineCount + jumps.length),
        );
        this.#state[family] = result.state;
        this.#needFull[family] = false;
        if (wantFull) this.#listNat[family] = false;
        if (result.kind === "full") full = true;
        else partial = true;
        rulesWritten += result.rulesWritten + jumps.length;
        bytesWritten += written;
        this.#deps.log.info("Synced iptables rules", {
          family,
          kind: result.kind,
          servicePorts: snapshot.servicePorts.length,
          rules: result.rulesWritten,
          deletedChains: result.deletedChains.length,
        }, 2);
      } catch (error) {
        // Whatever reached the kernel, the next sync must rebuild everything.
        this.#needFull[family] = true;
        this.#listNat[family] = true;
        this.stats.restoreFailures[family]++;
        if (!wantFull) this.stats.partialRestoreFailures[family]++;
        // The sync loop logs each distinct failure once at error level; this is the detail.
        this.#deps.log.info("Failed to sync iptables rules", {
          family,
          full: wantFull,
          error: error instanceof Error ? error.message : String(error),
        }, 2);
        failures.push({ family, error });
      }
    }

    const [first, ...others] = failures;
    if (first !== undefined) {
      const message = (error: unknown) => error instanceof Error ? error.message : String(error);
      throw new ApplyError(
        [first, ...others].map((f) => message(f.error)).join("\n"),
        first.family,
        { cause: first.error, families: failures.map((f) => f.family) },
      );
    }
    return {
      kind: full ? "full" : partial ? "partial" : "skipped",
      rulesWritten,
      bytesWritten,
    };
  }

  /** Removes every chain and jump rule of iptables mode in both families. */
  async cleanup(): Promise<void> {
    await cleanupIptables(this.#deps.runner, this.#deps.log, this.#timeoutMs);
    this.#state.IPv4 = this.#state.IPv6 = null;
    this.#needFull.IPv4 = this.#needFull.IPv6 = true;
  }

  /**
   * What a full sync must know about the kernel: the nat chains (to delete leftovers of an
   * earlier run or of upstream kube-proxy) and which jump rules are missing.
   *
   * The nat table is listed whole (`iptables-save -t nat`) on the first full sync, after a
   * failure, and always with iptables-legacy, where any listing reads the whole table anyway.
   * Otherwise — periodic full syncs with iptables-nft, where saving a 10k-service table takes
   * minutes — the last successful sync's state says which chains exist, and only the built-in
   * chains are listed for the jump rules. Like upstream, a failed nat listing only means stale
   * chains stay until a later full sync; a failed listing of the jump rules fails the sync.
   */
  #listForFullSync(
    family: IPFamily,
    snapshot: ProxySnapshot,
    probe: Probe,
  ): Promise<{ natChains: string[] | null; missing: MissingJumps }> {
    // Every listing process is started before this returns, so they run while the caller works.
    const natSave = this.#listNat[family] || !probe.nfTables
      ? this.#saveNat(family, snapshot)
      : null;
    const missing = missingJumpRules(this.#deps.runner, family, natSave, this.#timeoutMs);
    return Promise.all([natSave, missing]).then(([nat, missing]) => ({
      natChains: nat == null ? null : chainsOf(nat),
      missing,
    }));
  }

  /** `iptables-save -t nat`, or null (with a warning) when it fails for any reason but a missing tool. */
  async #saveNat(family: IPFamily, snapshot: ProxySnapshot): Promise<string | null> {
    // Listing is as slow as restoring on iptables-nft; size the timeout like the restore's.
    const lines = 6 * snapshot.servicePorts.length + 3 * snapshot.reachableEndpointCount;
    try {
      return await saveTable(
        this.#deps.runner,
        family,
        "nat",
        restoreTimeoutMs(this.#timeoutMs, lines),
      );
    } catch (error) {
      if (error instanceof ApplyError && error.cause instanceof CommandNotFoundError) throw error;
      this.#deps.log.warn("Cannot list the nat table: stale chains will not be deleted", {
        family,
        error: error instanceof Error ? error.message : String(error),
      });
      return null;
    }
  }

  #hostFacts(): IptablesHostFacts {
    const probe = this.#probed;
    const needsAddresses = this.#deps.options.nodePortAddresses.length > 0;
    return {
      hostAddresses: needsAddresses ? this.#hostAddresses() : null,
      randomFully: probe?.randomFully ?? DEFAULT_HOST_FACTS.randomFully,
      conntrackTCPLiberal: probe?.conntrackTCPLiberal ?? DEFAULT_HOST_FACTS.conntrackTCPLiberal,
    };
  }

  /** Learns the iptables version, the conntrack liberal setting and IPv6 support, once. */
  #probeHost(): Promise<Probe> {
    this.#probe ??= (async () => {
      const [version, conntrackTCPLiberal, ipv6] = await Promise.all([
        this.#quietRun("iptables", ["--version"]),
        this.#quietRun("sysctl", ["-n", "net.netfilter.nf_conntrack_tcp_be_liberal"]).then(
          (out) => out !== null && out.trim() !== "" && out.trim() !== "0",
        ),
        this.#quietRun("ip6tables", [...WAIT_ARGS, "-t", "nat", "-S", "POSTROUTING"]).then(
          (out) => out !== null,
        ),
      ]);
      const probe = {
        randomFully: version === null ? true : supportsRandomFully(version),
        // Unknown: list tables whole, which is right for both variants.
        nfTables: version !== null && version.includes("nf_tables"),
        conntrackTCPLiberal,
        ipv6,
      };
      this.#deps.log.info("Probed iptables host facts", probe, 2);
      this.#probed = probe;
      return probe;
    })();
    return this.#probe;
  }

  /** stdout of a successful command, or null when it failed or is not installed. */
  async #quietRun(command: string, args: readonly string[]): Promise<string | null> {
    try {
      const r = await this.#deps.runner.run(command, args, { timeoutMs: this.#timeoutMs });
      return r.code === 0 && !r.timedOut ? r.stdout : null;
    } catch (error) {
      if (error instanceof CommandNotFoundError) return null;
      throw error;
    }
  }

  /** localhost NodePorts need `route_localnet` (upstream sets it once at start). */
  async #setRouteLocalnet(): Promise<void> {
    if (this.#routeLocalnetSet) return;
    const out = await this.#quietRun("sysctl", ["-w", "net.ipv4.conf.all.route_localnet=1"]);
    if (out === null) {
      this.#deps.log.warn(
        "Could not set net.ipv4.conf.all.route_localnet=1: NodePorts on 127.0.0.1 will not work; " +
          "set iptables.localhostNodePorts to false or nodePortAddresses to silence this",
      );
    }
    // Try once: a node without the sysctl tool will not grow one.
    this.#routeLocalnetSet = true;
  }
}

/**
 * The kill timeout of one restore. iptables-nft's restore time grows with the square of the
 * ruleset (each jump looks its target chain up linearly: ~2 s for 44k lines, ~10 min for 440k),
 * so a fixed timeout would kill a large first sync every time and retry it forever. The base
 * timeout covers up to 50k lines and is scaled quadratically beyond.
 */
export function restoreTimeoutMs(baseMs: number, lines: number): number {
  const scale = Math.max(1, Math.ceil(lines / 50_000));
  return baseMs * scale * scale;
}

function familySnapshot(snapshot: TableSnapshot, family: IPFamily): ProxySnapshot {
  return family === "IPv4" ? snapshot.v4 : snapshot.v6;
}

/** `iptables vX.Y.Z …` is at least 1.6.2 (upstream `HasRandomFully`); unknown means yes. */
export function supportsRandomFully(versionOutput: string): boolean {
  const m = /v(\d+)\.(\d+)\.(\d+)/.exec(versionOutput);
  if (m === null) return true;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (major !== 1) return major > 1;
  if (minor !== 6) return minor > 6;
  return patch >= 2;
}

/** The host's interface addresses, or null when `--allow-sys` was not granted. */
function systemHostAddresses(): readonly string[] | null {
  try {
    const status = Deno.permissions.querySync({ name: "sys", kind: "networkInterfaces" });
    if (status.state !== "granted") return null;
    return Deno.networkInterfaces().map((i) => i.address);
  } catch {
    return null;
  }
}
