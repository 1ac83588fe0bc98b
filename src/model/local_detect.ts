/**
 * `detectLocalMode` → one LocalTrafficDetector description per family (upstream
 * `getLocalDetectors`), for backends to render as `-s CIDR` / `-i br` / `iifname pfx*`.
 *
 * @module
 */

import { parseCIDRSloppy } from "./ip.ts";
import type { ByFamily } from "./service_port.ts";
import type { IPFamily, LocalTrafficDetector, TableOptions } from "./types.ts";

/** Upstream's no-op detector: the backend renders no local-traffic matches. */
export const NO_LOCAL_DETECTOR: LocalTrafficDetector = Object.freeze({ kind: "none" });

type DetectorOptions = Pick<
  TableOptions,
  "detectLocalMode" | "clusterCIDRs" | "bridgeInterface" | "interfaceNamePrefix"
>;

/**
 * Builds the detector of each family. CIDR modes use the first CIDR of the family (from
 * `clusterCIDRs`, or the node's `podCIDRs` for NodeCIDR); a family without one gets the no-op
 * detector. Interface modes apply to both families.
 */
export function buildLocalDetectors(
  options: DetectorOptions,
  podCIDRs: ByFamily<readonly string[]>,
): ByFamily<LocalTrafficDetector> {
  switch (options.detectLocalMode) {
    case "ClusterCIDR":
      return byCIDR(options.clusterCIDRs);
    case "NodeCIDR":
      return byCIDR([...podCIDRs.IPv4, ...podCIDRs.IPv6]);
    case "BridgeInterface": {
      const name = options.bridgeInterface.trim();
      const d: LocalTrafficDetector = name === ""
        ? NO_LOCAL_DETECTOR
        : Object.freeze({ kind: "interface", name });
      return { IPv4: d, IPv6: d };
    }
    case "InterfaceNamePrefix": {
      const prefix = options.interfaceNamePrefix.trim();
      const d: LocalTrafficDetector = prefix === ""
        ? NO_LOCAL_DETECTOR
        : Object.freeze({ kind: "interfacePrefix", prefix });
      return { IPv4: d, IPv6: d };
    }
    default:
      return { IPv4: NO_LOCAL_DETECTOR, IPv6: NO_LOCAL_DETECTOR };
  }
}

function byCIDR(cidrs: readonly string[]): ByFamily<LocalTrafficDetector> {
  const first: Record<IPFamily, string | undefined> = { IPv4: undefined, IPv6: undefined };
  for (const c of cidrs) {
    // Invalid entries are config validation's business; here they simply do not count.
    const parsed = parseCIDRSloppy(c.trim());
    if (parsed !== null) first[parsed.family] ??= parsed.cidr;
  }
  return { IPv4: cidrDetector(first.IPv4), IPv6: cidrDetector(first.IPv6) };
}

function cidrDetector(cidr: string | undefined): LocalTrafficDetector {
  return cidr === undefined
    ? NO_LOCAL_DETECTOR
    : Object.freeze({ kind: "cidr", cidrs: Object.freeze([cidr]) });
}

/** True when two detector descriptions render the same matches. */
export function detectorsEqual(a: LocalTrafficDetector, b: LocalTrafficDetector): boolean {
  if (a === b) return true;
  switch (a.kind) {
    case "none":
      return b.kind === "none";
    case "cidr":
      return b.kind === "cidr" && a.cidrs.length === b.cidrs.length &&
        a.cidrs.every((c, i) => c === b.cidrs[i]);
    case "interface":
      return b.kind === "interface" && a.name === b.name;
    case "interfacePrefix":
      return b.kind === "interfacePrefix" && a.prefix === b.prefix;
  }
}
