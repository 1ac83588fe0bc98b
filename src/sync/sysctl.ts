/**
 * The kernel settings kube-proxy sets or checks at start-up (upstream
 * `pkg/proxy/conntrack/sysctls.go` and the iptables proxier's constructor):
 *
 * - `nf_conntrack_max` = max(`conntrack.maxPerCore` × CPUs, `conntrack.min`), capped at 2^20,
 *   only ever raised, and the conntrack `hashsize` raised to a quarter of it;
 * - the TCP established / close-wait timeouts, `nf_conntrack_tcp_be_liberal`, and the UDP
 *   timeouts from `conntrack.*` (0 = leave the kernel's value);
 * - `net.ipv4.conf.all.route_localnet=1` for iptables-mode NodePorts on 127.0.0.1;
 * - checks only: `net.ipv4.ip_forward` and `bridge-nf-call-iptables`.
 *
 * Unlike upstream 1.36 (kubernetes/kubernetes#141943), a read-only or missing /proc/sys entry
 * (containers, LXC) is a warning naming what will not work, never a reason to stop.
 *
 * @module
 */

import type { ConntrackConfig, ImplementedProxyMode, ProxyConfig } from "../config/types.ts";
import type { Logger } from "../log.ts";
import { cidrContains } from "../model/mod.ts";

/** Reads and writes kernel settings files (`/proc/sys/…`, `/sys/module/…`). */
export interface KernelFiles {
  read(path: string): Promise<string>;
  write(path: string, text: string): Promise<void>;
}

/** The real files, on Deno's file API. */
export const DENO_KERNEL_FILES: KernelFiles = {
  read: (path) => Deno.readTextFile(path),
  write: (path, text) => Deno.writeTextFile(path, text),
};

/** The settings that decide what is written. */
export interface SysctlSettings {
  readonly mode: ImplementedProxyMode;
  readonly localhostNodePorts: boolean;
  readonly nodePortAddresses: readonly string[];
  readonly conntrack: ConntrackConfig;
}

/** Picks {@linkcode SysctlSettings} out of the resolved config. */
export function sysctlSettingsFrom(config: ProxyConfig): SysctlSettings {
  return {
    mode: config.mode,
    localhostNodePorts: config.localhostNodePorts,
    nodePortAddresses: config.nodePortAddresses,
    conntrack: config.conntrack,
  };
}

/** What {@linkcode applySysctls} did. */
export interface SysctlReport {
  /** Settings changed, as `path=value`. */
  readonly written: readonly string[];
  /** Everything that could not be done or looks wrong (each also logged as a warning). */
  readonly warnings: readonly string[];
}

/** Upstream caps the scaled `nf_conntrack_max` so many-core machines do not waste memory. */
export const CONNTRACK_MAX_LIMIT = 1_048_576;

const NETFILTER = "/proc/sys/net/netfilter/";
const HASHSIZE = "/sys/module/nf_conntrack/parameters/hashsize";
const ROUTE_LOCALNET = "/proc/sys/net/ipv4/conf/all/route_localnet";
const IP_FORWARD = "/proc/sys/net/ipv4/ip_forward";
const BRIDGE_NF_CALL_IPTABLES = "/proc/sys/net/bridge/bridge-nf-call-iptables";

/**
 * Pure: the `nf_conntrack_max` upstream wants, or 0 to leave it alone (`maxPerCore` 0).
 */
export function conntrackMax(conntrack: ConntrackConfig, cpus: number): number {
  if (conntrack.maxPerCore <= 0) return 0;
  const scaled = conntrack.maxPerCore * cpus;
  if (scaled > CONNTRACK_MAX_LIMIT) return CONNTRACK_MAX_LIMIT;
  return scaled > conntrack.min ? scaled : conntrack.min;
}

/**
 * Pure: whether iptables mode accepts NodePorts on 127.0.0.1 and so needs `route_localnet`.
 * Upstream turns `localhostNodePorts` off unless `nodePortAddresses` is empty (every address)
 * or includes an IPv4 loopback CIDR.
 */
export function needsRouteLocalnet(settings: SysctlSettings): boolean {
  if (settings.mode !== "iptables" || !settings.localhostNodePorts) return false;
  if (settings.nodePortAddresses.length === 0) return true;
  return settings.nodePortAddresses.some((a) => a !== "primary" && cidrContains(a, "127.0.0.1"));
}

/** What {@linkcode applySysctls} needs from outside. */
export interface SysctlDeps {
  readonly files: KernelFiles;
  readonly log: Logger;
  /** The node's CPU count; see {@linkcode detectCpuCount}. */
  readonly cpus: number;
}

/** Sets and checks the kernel settings; never throws. */
export async function applySysctls(
  settings: SysctlSettings,
  deps: SysctlDeps,
): Promise<SysctlReport> {
  const written: string[] = [];
  const warnings: string[] = [];
  const warn = (message: string, fields: Record<string, unknown>) => {
    warnings.push(message);
    deps.log.warn(message, fields);
  };
  const readInt = async (path: string): Promise<number | undefined> => {
    try {
      const value = Number.parseInt((await deps.files.read(path)).trim(), 10);
      return Number.isNaN(value) ? undefined : value;
    } catch {
      return undefined;
    }
  };
  /** Writes `value` unless already set; on failure warns with `consequence`. */
  const setInt = async (
    path: string,
    value: number,
    consequence: string,
    onlyRaise = false,
  ): Promise<void> => {
    const current = await readInt(path);
    if (current === value || (onlyRaise && current !== undefined && current >= value)) return;
    deps.log.info("Set sysctl", { entry: entryName(path), value });
    try {
      await deps.files.write(path, String(value));
      written.push(`${path}=${value}`);
    } catch (error) {
      warn(`Cannot set ${entryName(path)} to ${value} (${describe(error)}): ${consequence}`, {
        entry: entryName(path),
        value,
        current: current ?? "unknown",
      });
    }
  };

  const ct = settings.conntrack;
  const max = conntrackMax(ct, deps.cpus);
  if (max > 0) {
    await setInt(
      `${NETFILTER}nf_conntrack_max`,
      max,
      "the conntrack table keeps its current size and may fill up under load",
      true,
    );
    const hashsize = await readInt(HASHSIZE);
    if (hashsize !== undefined && hashsize < Math.floor(max / 4)) {
      await setInt(
        HASHSIZE,
        Math.floor(max / 4),
        "conntrack lookups may be slower with a large table",
      );
    }
  }
  const seconds = (ms: number) => Math.floor(ms / 1000);
  if (ct.tcpEstablishedTimeoutMs > 0) {
    await setInt(
      `${NETFILTER}nf_conntrack_tcp_timeout_established`,
      seconds(ct.tcpEstablishedTimeoutMs),
      "idle TCP connections expire after the kernel's timeout instead",
    );
  }
  if (ct.tcpCloseWaitTimeoutMs > 0) {
    await setInt(
      `${NETFILTER}nf_conntrack_tcp_timeout_close_wait`,
      seconds(ct.tcpCloseWaitTimeoutMs),
      "CLOSE_WAIT connections expire after the kernel's timeout instead",
    );
  }
  if (ct.tcpBeLiberal) {
    await setInt(
      `${NETFILTER}nf_conntrack_tcp_be_liberal`,
      1,
      "out-of-window TCP packets stay INVALID",
    );
  }
  if (ct.udpTimeoutMs > 0) {
    await setInt(
      `${NETFILTER}nf_conntrack_udp_timeout`,
      seconds(ct.udpTimeoutMs),
      "unreplied UDP flows expire after the kernel's timeout instead",
    );
  }
  if (ct.udpStreamTimeoutMs > 0) {
    await setInt(
      `${NETFILTER}nf_conntrack_udp_timeout_stream`,
      seconds(ct.udpStreamTimeoutMs),
      "assured UDP flows expire after the kernel's timeout instead",
    );
  }

  if (needsRouteLocalnet(settings)) {
    deps.log.info(
      "Setting route_localnet=1 to allow node-ports on localhost; to change this either " +
        "disable iptables.localhostNodePorts (--iptables-localhost-nodeports) or set " +
        "nodePortAddresses (--nodeport-addresses) to filter loopback addresses",
    );
    await setInt(
      ROUTE_LOCALNET,
      1,
      "NodePorts will not answer on 127.0.0.1 (other node addresses still work)",
    );
  }

  const forward = await readInt(IP_FORWARD);
  if (forward === 0) {
    warn(
      "net.ipv4.ip_forward is 0: this node will not forward Service traffic to pods on other " +
        "nodes or to local pods behind a bridge; set net.ipv4.ip_forward=1",
      {},
    );
  }
  const bridge = await readInt(BRIDGE_NF_CALL_IPTABLES);
  if (bridge !== undefined && bridge !== 1) {
    deps.log.info(
      "Missing br-netfilter module or unset sysctl br-nf-call-iptables, proxy may not work as " +
        "intended",
    );
  }
  return { written, warnings };
}

/**
 * The node's online CPU count from `/sys/devices/system/cpu/online` (upstream counts the node's
 * CPUs, not the process's cpuset), else `navigator.hardwareConcurrency`.
 */
export async function detectCpuCount(files: KernelFiles = DENO_KERNEL_FILES): Promise<number> {
  try {
    const text = (await files.read("/sys/devices/system/cpu/online")).trim();
    let count = 0;
    for (const part of text.split(",")) {
      const [lo, hi] = part.split("-").map((n) => Number.parseInt(n, 10));
      if (lo === undefined || Number.isNaN(lo)) continue;
      count += hi === undefined || Number.isNaN(hi) ? 1 : hi - lo + 1;
    }
    if (count > 0) return count;
  } catch {
    // Not Linux, or /sys not mounted: fall through.
  }
  return typeof navigator === "undefined" ? 1 : navigator.hardwareConcurrency || 1;
}

function entryName(path: string): string {
  return path.startsWith("/proc/sys/") ? path.slice("/proc/sys/".length) : path;
}

function describe(error: unknown): string {
  if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
    return "permission denied; /proc/sys is probably read-only in this container";
  }
  if (error instanceof Deno.errors.NotFound) return "no such setting; is the module loaded?";
  const message = error instanceof Error ? error.message : String(error);
  return /read-only file system/i.test(message)
    ? "read-only file system; /proc/sys is probably read-only in this container"
    : message;
}
