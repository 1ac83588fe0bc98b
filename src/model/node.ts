/**
 * This node's Node object → the few facts the proxy uses: zone, IPs and pod CIDRs per family.
 *
 * @module
 */

import type { V1Node } from "@kubernetes/client-node";
import { parseCIDRSloppy, parseIPSloppy } from "./ip.ts";
import type { ByFamily } from "./service_port.ts";

/** The node label that topology hints are matched against. */
export const LABEL_TOPOLOGY_ZONE = "topology.kubernetes.io/zone";

/** What the model takes from a Node. */
export interface NodeFacts {
  /** `topology.kubernetes.io/zone`, `""` when absent. */
  readonly zone: string;
  /** InternalIP addresses, then ExternalIP ones, per family, canonical and deduplicated. */
  readonly nodeIPs: ByFamily<readonly string[]>;
  /** `spec.podCIDRs` (or the legacy `spec.podCIDR`) per family, canonical. */
  readonly podCIDRs: ByFamily<readonly string[]>;
}

const EMPTY: readonly string[] = Object.freeze([]);

/** The facts of a Node not yet seen (or deleted): no zone, no addresses. */
export const UNKNOWN_NODE: NodeFacts = Object.freeze({
  zone: "",
  nodeIPs: Object.freeze({ IPv4: EMPTY, IPv6: EMPTY }),
  podCIDRs: Object.freeze({ IPv4: EMPTY, IPv6: EMPTY }),
});

/** Extracts {@linkcode NodeFacts}; bad addresses and CIDRs are skipped with a message. */
export function parseNode(node: V1Node, warnings: string[]): NodeFacts {
  const ips = { IPv4: [] as string[], IPv6: [] as string[] };
  const addresses = node.status?.addresses ?? [];
  // Upstream GetNodeHostIPs: every InternalIP comes before any ExternalIP.
  for (const type of ["InternalIP", "ExternalIP"]) {
    for (const a of addresses) {
      if (a.type !== type) continue;
      const parsed = parseIPSloppy(a.address);
      if (parsed === null) {
        warnings.push(`Skipping invalid ${type} ${JSON.stringify(a.address)}`);
      } else if (!ips[parsed.family].includes(parsed.ip)) {
        ips[parsed.family].push(parsed.ip);
      }
    }
  }
  const cidrs = { IPv4: [] as string[], IPv6: [] as string[] };
  const podCIDRs = node.spec?.podCIDRs?.length
    ? node.spec.podCIDRs
    : node.spec?.podCIDR
    ? [node.spec.podCIDR]
    : [];
  for (const c of podCIDRs) {
    const parsed = parseCIDRSloppy(c);
    if (parsed === null) warnings.push(`Skipping invalid podCIDR ${JSON.stringify(c)}`);
    else cidrs[parsed.family].push(parsed.cidr);
  }
  return {
    zone: node.metadata?.labels?.[LABEL_TOPOLOGY_ZONE] ?? "",
    nodeIPs: freeze(ips),
    podCIDRs: freeze(cidrs),
  };
}

function freeze(v: { IPv4: string[]; IPv6: string[] }): ByFamily<readonly string[]> {
  return Object.freeze({
    IPv4: v.IPv4.length === 0 ? EMPTY : Object.freeze(v.IPv4),
    IPv6: v.IPv6.length === 0 ? EMPTY : Object.freeze(v.IPv6),
  });
}

/** True when two fact sets would render the same rules. */
export function nodeFactsEqual(a: NodeFacts, b: NodeFacts): boolean {
  return a.zone === b.zone &&
    sameStrings(a.nodeIPs.IPv4, b.nodeIPs.IPv4) &&
    sameStrings(a.nodeIPs.IPv6, b.nodeIPs.IPv6) &&
    sameStrings(a.podCIDRs.IPv4, b.podCIDRs.IPv4) &&
    sameStrings(a.podCIDRs.IPv6, b.podCIDRs.IPv6);
}

/** Element-wise equality of two string lists. */
export function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
