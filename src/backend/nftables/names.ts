/**
 * Names and fixed numbers of nftables mode: the tables and base chains other components may rely
 * on (the contract), the names of our sets, maps and helper chains, and the upstream-style names of
 * the few per-service chains (session affinity only).
 *
 * Per-service names follow upstream (`pkg/proxy/nftables/proxier.go`): a base of
 * `HASH8-namespace/name/protocol/portName`, where HASH8 is the first 8 characters of the standard
 * base32 encoding of sha256 of the rest, so operators recognise them. Hashing is the expensive part,
 * so bases are cached per `ServicePort` object (the model reuses unchanged objects).
 *
 * @module
 */

import { sha256 } from "../sha256.ts";
import type { Endpoint, IPFamily, ServicePort } from "../../model/mod.ts";

/** The table name in both families (`table ip kube-proxy`, `table ip6 kube-proxy`). */
export const TABLE = "kube-proxy";

/** The comment on our tables, as upstream. */
export const TABLE_COMMENT = "rules for kube-proxy";

/** nftables address family keyword of a model family. */
export type NftFamily = "ip" | "ip6";

/** `ip` for IPv4, `ip6` for IPv6. */
export function nftFamily(family: IPFamily): NftFamily {
  return family === "IPv4" ? "ip" : "ip6";
}

/** A base chain: where it hooks in and at which priority (the contract with other components). */
export interface BaseChainSpec {
  readonly name: string;
  readonly type: "filter" | "nat";
  readonly hook: "prerouting" | "input" | "forward" | "output" | "postrouting";
  readonly priority: number;
}

/**
 * Our base chains with upstream's names, hooks and priorities (reference §3.1). Priorities are
 * written as numbers: nft 1.0.x refuses the symbolic `dstnat` in the output hook.
 */
export const BASE_CHAINS: readonly BaseChainSpec[] = Object.freeze(
  [
    { name: "filter-prerouting-pre-dnat", type: "filter", hook: "prerouting", priority: -110 },
    { name: "filter-output-pre-dnat", type: "filter", hook: "output", priority: -110 },
    { name: "nat-prerouting", type: "nat", hook: "prerouting", priority: -100 },
    { name: "nat-output", type: "nat", hook: "output", priority: -100 },
    { name: "filter-forward", type: "filter", hook: "forward", priority: 0 },
    { name: "filter-input", type: "filter", hook: "input", priority: 0 },
    { name: "filter-output", type: "filter", hook: "output", priority: 0 },
    { name: "nat-postrouting", type: "nat", hook: "postrouting", priority: 100 },
  ] as const,
);

/** Helper chains and sets/maps with fixed names. */
export const NAMES = Object.freeze(
  {
    services: "services",
    external: "external",
    externalLocal: "external-local",
    nodePort: "nodeport",
    nodePortLocal: "nodeport-local",
    masquerading: "masquerading",
    firewallCheck: "firewall-check",
    serviceEndpointsCheck: "service-endpoints-check",
    nodePortEndpointsCheck: "nodeport-endpoints-check",
    clusterIPsCheck: "cluster-ips-check",
    rejectChain: "reject-chain",
    clusterIPs: "cluster-ips",
    nodePortIPs: "nodeport-ips",
    serviceIPs: "service-ips",
    serviceNodePorts: "service-nodeports",
    firewallIPs: "firewall-ips",
    firewallAllow: "firewall-allow",
    noEndpointServices: "no-endpoint-services",
    noEndpointNodePorts: "no-endpoint-nodeports",
    hairpin: "hairpin-ips",
    affinity: "affinity",
  } as const,
);

/**
 * The four kinds of endpoint lists. `service`: what a Service IP (ClusterIP, external IP,
 * load-balancer IP) normally DNATs to; `shortcircuit`: the Cluster-policy endpoints that pods and
 * the host reach through an eTP Local Service IP; `nodeport` and `nodeport-shortcircuit`: the same
 * for NodePorts. Each kind has one map per endpoint count N in use (`service-endpoints-3`) and one
 * chain (`pick-service`) with one DNAT rule per such map.
 */
export type PickFamily = "service" | "shortcircuit" | "nodeport" | "nodeport-shortcircuit";

/** The pick families in table order. */
export const PICK_FAMILIES: readonly PickFamily[] = Object.freeze([
  "service",
  "shortcircuit",
  "nodeport",
  "nodeport-shortcircuit",
]);

/** `service-endpoints`: the claim namespace of a pick family's elements (all N together). */
export function endpointsBase(family: PickFamily): string {
  return `${family}-endpoints`;
}

/** `service-endpoints-3`: the map of the family's lists with exactly `n` endpoints. */
export function endpointMapName(family: PickFamily, n: number): string {
  return `${family}-endpoints-${n}`;
}

/** `pick-service`: the chain that DNATs through the family's maps. */
export function pickChainName(family: PickFamily): string {
  return `pick-${family}`;
}

/**
 * Lists of 1..PRESET_LIST_SIZES endpoints are picked by fixed rules of the family's pick chain,
 * one per size, over maps that always exist. Larger lists get a map and a chain of their own
 * (`pick-service-24`), reached through the family's `…-large` verdict map.
 */
export const PRESET_LIST_SIZES = 16;

/** `service-large`: verdict map from a destination with a large list to its size's chain. */
export function largeListsMapName(family: PickFamily): string {
  return `${family}-large`;
}

/** `pick-service-24`: the chain that picks among lists of exactly `n` (> preset) endpoints. */
export function largePickChainName(family: PickFamily, n: number): string {
  return `pick-${family}-${n}`;
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** Standard base32 (RFC 4648, no padding needed here) of the first bytes of `bytes`. */
function base32(bytes: Uint8Array, chars: number): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const b of bytes) {
    buffer = ((buffer << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
      if (out.length === chars) return out;
    }
  }
  return out;
}

/** nft names are at most 256 bytes; upstream keeps 16 for the prefix. */
const BASE_MAX = 256 - 16;

/** Upstream `hashAndTruncate`: `HASH8-name`, cut to 240 characters with `...`. */
export function hashAndTruncate(name: string): string {
  const full = `${base32(sha256(name), 8)}-${name}`;
  return full.length > BASE_MAX ? full.slice(0, BASE_MAX - 3) + "..." : full;
}

const serviceBases = new WeakMap<ServicePort, string>();

/** Upstream `servicePortChainNameBase`: `HASH8-ns/name/proto/portName`. */
export function servicePortBase(sp: ServicePort): string {
  let base = serviceBases.get(sp);
  if (base === undefined) {
    base = hashAndTruncate(
      `${sp.namespace}/${sp.name}/${sp.protocol.toLowerCase()}/${sp.portName}`,
    );
    serviceBases.set(sp, base);
  }
  return base;
}

/** The per-service chains of a service port with ClientIP affinity (upstream prefixes). */
export interface AffinityChainNames {
  /** Cluster-policy endpoints. */
  readonly cluster: string;
  /** Local-policy endpoints. */
  readonly local: string;
  /** External destinations (marks, short-circuits, then one of the two above). */
  readonly external: string;
}

/** `service-BASE`, `local-BASE` and `external-BASE` of a service port. */
export function affinityChainNames(sp: ServicePort): AffinityChainNames {
  const base = servicePortBase(sp);
  return { cluster: `service-${base}`, local: `local-${base}`, external: `external-${base}` };
}

/**
 * Keys computed per endpoint list (the snapshot's own frozen lists, which a port keeps while its
 * endpoints do not change): the service port's id, then one key per endpoint, as int32 so they
 * stay small integers (a number above 2^31 would be a separate 16-byte object). One entry per
 * list rather than per endpoint: at 10k × 10, 13k endpoints with affinity cost ~1.2 MiB as
 * per-endpoint records and ~0.4 MiB as per-list arrays.
 */
const affinityKeyLists = new WeakMap<readonly Endpoint[], readonly (string | number)[]>();

/**
 * The 32-bit number that stands for (service port, endpoint) in the shared `affinity` set, for
 * each endpoint of `endpoints`: the first four bytes of sha256 of `id|ip:port`. A collision
 * between two pairs can at worst send a client that is sticky to one of them to the other pair's
 * endpoint, which is still a valid one.
 */
export function affinityKeys(sp: ServicePort, endpoints: readonly Endpoint[]): number[] {
  const cached = affinityKeyLists.get(endpoints);
  if (cached !== undefined && cached[0] === sp.id) {
    return cached.slice(1).map((k) => (k as number) >>> 0);
  }
  const keys = endpoints.map((ep) => {
    const h = sha256(`${sp.id}|${ep.ipPort}`);
    return ((h[0] ?? 0) << 24) | ((h[1] ?? 0) << 16) | ((h[2] ?? 0) << 8) | (h[3] ?? 0);
  });
  affinityKeyLists.set(endpoints, [sp.id, ...keys]);
  return keys.map((k) => k >>> 0);
}
