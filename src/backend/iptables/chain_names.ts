/**
 * Chain names of iptables mode, identical to upstream's (reference §2.1): the fixed chains, and
 * the hash-based per-service (`KUBE-SVC-`, `KUBE-SVL-`, `KUBE-EXT-`, `KUBE-FW-`) and per-endpoint
 * (`KUBE-SEP-`) chains. A hash suffix is the first 16 characters of the standard base32 encoding
 * of sha256 of the model's chain input (`ns/name:port` + lower-case protocol [+ endpoint]).
 *
 * Hashing (sha256) is still a large part of a first render, so names are computed once
 * per `ServicePort` / `Endpoint` object and cached by identity: the model reuses unchanged objects
 * across snapshots, so a steady cluster hashes nothing after its first sync.
 *
 * @module
 */

import { sha256 } from "../sha256.ts";
import {
  type Endpoint,
  endpointChainInput,
  type ServicePort,
  servicePortChainInput,
} from "../../model/mod.ts";

/** nat/filter: the entry chain for Service traffic. */
export const KUBE_SERVICES = "KUBE-SERVICES";
/** filter: REJECT/DROP for external destinations without usable endpoints. */
export const KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES";
/** nat: NodePort dispatch; filter: health-check NodePort ACCEPTs. */
export const KUBE_NODEPORTS = "KUBE-NODEPORTS";
/** nat: masquerades marked packets. */
export const KUBE_POSTROUTING = "KUBE-POSTROUTING";
/** nat: sets the masquerade mark. */
export const KUBE_MARK_MASQ = "KUBE-MARK-MASQ";
/** filter: accepts forwarded Service traffic. */
export const KUBE_FORWARD = "KUBE-FORWARD";
/** filter: drops load-balancer traffic that `loadBalancerSourceRanges` did not accept. */
export const KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL";
/** mangle/nat/filter: an empty chain whose disappearance means someone flushed the tables. */
export const KUBE_PROXY_CANARY = "KUBE-PROXY-CANARY";
/** filter: kubelet's anti-martian chain, duplicated by kube-proxy (IPv4 localhost NodePorts). */
export const KUBE_FIREWALL = "KUBE-FIREWALL";

/** Prefix of the Cluster-policy chain of a service port. */
export const SVC_PREFIX = "KUBE-SVC-";
/** Prefix of the Local-policy chain of a service port. */
export const SVL_PREFIX = "KUBE-SVL-";
/** Prefix of the external-destinations chain of a service port. */
export const EXT_PREFIX = "KUBE-EXT-";
/** Prefix of the `loadBalancerSourceRanges` chain of a service port. */
export const FW_PREFIX = "KUBE-FW-";
/** Prefix of a per-endpoint chain. */
export const SEP_PREFIX = "KUBE-SEP-";

const SERVICE_CHAIN_PREFIXES = [SVC_PREFIX, SVL_PREFIX, EXT_PREFIX, FW_PREFIX, SEP_PREFIX] as const;

/**
 * True for the per-service and per-endpoint chain names this mode creates and garbage-collects
 * (upstream `isServiceChainName`).
 */
export function isServiceChainName(name: string): boolean {
  for (const prefix of SERVICE_CHAIN_PREFIXES) if (name.startsWith(prefix)) return true;
  return false;
}

/** The four per-service-port chain names; all share one hash. */
export interface ServicePortChains {
  /** `KUBE-SVC-…`: load-balances over Cluster-policy endpoints. */
  readonly svc: string;
  /** `KUBE-SVL-…`: load-balances over Local-policy endpoints. */
  readonly svl: string;
  /** `KUBE-EXT-…`: entry for NodePort, external IP and load-balancer traffic. */
  readonly ext: string;
  /** `KUBE-FW-…`: enforces `loadBalancerSourceRanges`. */
  readonly fw: string;
}

interface CachedPort {
  readonly input: string;
  readonly chains: ServicePortChains;
  /** {@linkcode ChainName.order} of the four names. */
  readonly order: number;
  /** The chain names of `allReachableEndpoints`, in its order; made on first use. */
  endpoints?: readonly string[];
}

// Cached per ServicePort object rather than per Endpoint: a weak map with 100k entries makes
// every major GC slower, and a changed port re-hashes only its own endpoints.
const portCache = new WeakMap<ServicePort, CachedPort>();

function cachedPort(sp: ServicePort): CachedPort {
  let entry = portCache.get(sp);
  if (entry === undefined) {
    const input = servicePortChainInput(sp);
    const { suffix, order } = hashed(input);
    entry = {
      input,
      chains: Object.freeze({
        svc: chainName(SVC_PREFIX, suffix),
        svl: chainName(SVL_PREFIX, suffix),
        ext: chainName(EXT_PREFIX, suffix),
        fw: chainName(FW_PREFIX, suffix),
      }),
      order,
    };
    portCache.set(sp, entry);
  }
  return entry;
}

/** The chain names of a service port (cached per object). */
export function servicePortChains(sp: ServicePort): ServicePortChains {
  return cachedPort(sp).chains;
}

/** {@linkcode ChainName.order} of the four chain names of a service port (cached per object). */
export function servicePortChainOrder(sp: ServicePort): number {
  return cachedPort(sp).order;
}

/** A hash-suffixed chain name with a number that sorts it among names of the same prefix. */
export interface ChainName {
  readonly name: string;
  /**
   * The first 8 characters of the hash suffix as a 40-bit number that orders like the
   * characters do in ASCII (`2`–`7` before `A`–`Z`): equal prefixes, equal hash starts. Lets the
   * renderer sort 100k names as numbers instead of comparing strings.
   */
  readonly order: number;
}

/**
 * The `KUBE-SEP-…` chain names of `sp.allReachableEndpoints`, in that order (cached per service
 * port object, so kept as long as the port: 100k names at 10k Services). Names only: a
 * {@linkcode ChainName} object per endpoint, its order boxed as a heap number, cost ~55 bytes
 * more each, and the renderer reads the order back from the name when it sorts.
 */
export function endpointChains(sp: ServicePort): readonly string[] {
  const entry = cachedPort(sp);
  if (entry.endpoints === undefined) {
    // endpointChainInput(sp, ep) is the port's input followed by `ip:port`; the port's part is
    // at hand (a test checks the two agree).
    const input = entry.input;
    entry.endpoints = sp.allReachableEndpoints.map((ep) =>
      chainName(SEP_PREFIX, hashed(input + ep.ipPort).suffix)
    );
  }
  return entry.endpoints;
}

/**
 * The `KUBE-SEP-…` chain of endpoint `ep` of service port `sp`, with its sort number, hashed on
 * each call (renders take a port's reachable endpoints from {@linkcode endpointChains}).
 */
export function endpointChain(sp: ServicePort, ep: Endpoint): ChainName {
  const { suffix, order } = hashed(endpointChainInput(sp, ep));
  return { name: chainName(SEP_PREFIX, suffix), order };
}

/** The `KUBE-SEP-…` chain name of endpoint `ep` of service port `sp`. */
export function endpointChainName(sp: ServicePort, ep: Endpoint): string {
  return endpointChain(sp, ep).name;
}

/**
 * `prefix + suffix` as one flat string rather than a two-part rope: names are cached for the
 * life of their object and copied into every rule that mentions them.
 */
function chainName(prefix: string, suffix: string): string {
  return [prefix, suffix].join("");
}

/**
 * Hashes the chain names of `servicePorts` and of their reachable endpoints into the cache, so a
 * render that follows finds them. Lets the backend hash while it waits for child processes.
 */
export function nameServicePorts(servicePorts: Iterable<ServicePort>): void {
  for (const sp of servicePorts) endpointChains(sp);
}

/** Character codes of the standard base32 alphabet (RFC 4648). */
const BASE32 = new Uint8Array([..."ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"].map((c) => c.charCodeAt(0)));

/** Value of each lower-case hex digit by character code. */
const digits = new Uint8Array(16);

/**
 * Upstream's hash suffix: base32 (RFC 4648 standard alphabet) of sha256(`input`), first 16
 * characters. 16 base32 characters are exactly the first 10 bytes of the digest.
 */
export function hashSuffix(input: string): string {
  return hashed(input).suffix;
}

/** {@linkcode hashSuffix} and the {@linkcode ChainName.order} of names ending in it. */
function hashed(input: string): { suffix: string; order: number } {
  const bytes = sha256(input);
  // The first 10 bytes = 80 bits = 16 base32 digits of 5 bits each.
  let acc = 0;
  let bits = 0;
  let k = 0;
  for (let i = 0; i < 10; i++) {
    acc = ((acc << 8) | (bytes[i] ?? 0)) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      digits[k++] = (acc >>> bits) & 31;
    }
  }
  let order = 0;
  // Base32 values 26–31 are the digits 2–7, which sort before the letters.
  for (let i = 0; i < 8; i++) order = order * 32 + (((digits[i] ?? 0) + 6) & 31);
  const c = (i: number) => BASE32[digits[i] ?? 0] ?? 0;
  // One flat string from character codes, not a rope of 16 concatenations.
  const suffix = String.fromCharCode(
    c(0),
    c(1),
    c(2),
    c(3),
    c(4),
    c(5),
    c(6),
    c(7),
    c(8),
    c(9),
    c(10),
    c(11),
    c(12),
    c(13),
    c(14),
    c(15),
  );
  return { suffix, order };
}
