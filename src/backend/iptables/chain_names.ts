/**
 * Chain names of iptables mode, identical to upstream's (reference §2.1): the fixed chains, and
 * the hash-based per-service (`KUBE-SVC-`, `KUBE-SVL-`, `KUBE-EXT-`, `KUBE-FW-`) and per-endpoint
 * (`KUBE-SEP-`) chains. A hash suffix is the first 16 characters of the standard base32 encoding
 * of sha256 of the model's chain input (`ns/name:port` + lower-case protocol [+ endpoint]).
 *
 * Hashing is the most expensive part of rendering a large cluster, so names are computed once
 * per `ServicePort` / `Endpoint` object and cached by identity: the model reuses unchanged objects
 * across snapshots, so a steady cluster hashes nothing after its first sync.
 *
 * @module
 */

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
}

const portCache = new WeakMap<ServicePort, CachedPort>();

function cachedPort(sp: ServicePort): CachedPort {
  let entry = portCache.get(sp);
  if (entry === undefined) {
    const input = servicePortChainInput(sp);
    const hash = hashSuffix(input);
    entry = {
      input,
      chains: Object.freeze({
        svc: SVC_PREFIX + hash,
        svl: SVL_PREFIX + hash,
        ext: EXT_PREFIX + hash,
        fw: FW_PREFIX + hash,
      }),
    };
    portCache.set(sp, entry);
  }
  return entry;
}

/** The chain names of a service port (cached per object). */
export function servicePortChains(sp: ServicePort): ServicePortChains {
  return cachedPort(sp).chains;
}

interface CachedEndpointName {
  /** The service port's chain input the name was made for. */
  readonly port: string;
  readonly name: string;
}

const endpointCache = new WeakMap<Endpoint, CachedEndpointName>();

/**
 * The `KUBE-SEP-…` chain of endpoint `ep` of service port `sp`. Cached per Endpoint object; the
 * cache entry remembers its service port, so an Endpoint object shared by two service ports
 * (which the model may do) still gets the right name for each.
 */
export function endpointChainName(sp: ServicePort, ep: Endpoint): string {
  const port = cachedPort(sp).input;
  const cached = endpointCache.get(ep);
  if (cached !== undefined && cached.port === port) return cached.name;
  const name = SEP_PREFIX + hashSuffix(endpointChainInput(sp, ep));
  endpointCache.set(ep, { port, name });
  return name;
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/**
 * Upstream's hash suffix: base32 (RFC 4648 standard alphabet) of sha256(`input`), first 16
 * characters. 16 base32 characters are exactly the first 10 bytes of the digest.
 */
export function hashSuffix(input: string): string {
  const d = sha256Words(utf8(input));
  // Bytes 0-9 of the digest are word 0, word 1 and the top half of word 2.
  const w0 = d[0] ?? 0, w1 = d[1] ?? 0, w2 = d[2] ?? 0;
  return base32Group(w0 >>> 24, ((w0 << 8) | (w1 >>> 24)) >>> 0) +
    base32Group((w1 >>> 16) & 0xff, ((w1 << 16) | (w2 >>> 16)) >>> 0);
}

/** Eight base32 characters of a 40-bit group given as its top byte and low 32 bits. */
function base32Group(hi: number, lo: number): string {
  const bits = hi * 2 ** 32 + lo;
  let out = "";
  for (let i = 7; i >= 0; i--) out += BASE32[Math.floor(bits / 2 ** (5 * i)) % 32];
  return out;
}

function utf8(s: string): Uint8Array {
  // Service names are ASCII in practice; avoid TextEncoder's overhead for the common case.
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return new TextEncoder().encode(s);
    out[i] = c;
  }
  return out;
}

let scratch = new Int32Array(32);
const schedule = new Int32Array(64);

const K = new Int32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);

/** SHA-256 (FIPS 180-4) of `message` as bytes. */
export function sha256(message: Uint8Array): Uint8Array {
  const words = sha256Words(message);
  const out = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    const v = words[i] ?? 0;
    out[i * 4] = v >>> 24;
    out[i * 4 + 1] = (v >>> 16) & 0xff;
    out[i * 4 + 2] = (v >>> 8) & 0xff;
    out[i * 4 + 3] = v & 0xff;
  }
  return out;
}

/**
 * SHA-256 as eight big-endian words. Pure and synchronous: rendering must not await, and Web
 * Crypto's digest is async-only; for inputs this short a plain implementation costs about as
 * much as one native call.
 */
function sha256Words(message: Uint8Array): Uint32Array {
  const length = message.length;
  const blocks = Math.ceil((length + 9) / 64);
  // Message words, big-endian, with the 0x80 terminator and the 64-bit bit length. Scratch
  // buffers are reused: this runs for every new chain name and allocation dominated its cost.
  if (scratch.length < blocks * 16) scratch = new Int32Array(blocks * 16);
  const m = scratch;
  m.fill(0, 0, blocks * 16);
  for (let i = 0; i < length; i++) m[i >> 2]! |= (message[i] ?? 0) << (24 - 8 * (i & 3));
  m[length >> 2]! |= 0x80 << (24 - 8 * (length & 3));
  m[blocks * 16 - 2] = Math.floor(length / 2 ** 29);
  m[blocks * 16 - 1] = length * 8;

  let h0 = 0x6a09e667, h1 = 0xbb67ae85, h2 = 0x3c6ef372, h3 = 0xa54ff53a;
  let h4 = 0x510e527f, h5 = 0x9b05688c, h6 = 0x1f83d9ab, h7 = 0x5be0cd19;
  const w = schedule;
  for (let block = 0; block < blocks; block++) {
    for (let t = 0; t < 16; t++) w[t] = m[block * 16 + t] ?? 0;
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15] ?? 0;
      const y = w[t - 2] ?? 0;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[t] = ((w[t - 16] ?? 0) + s0 + (w[t - 7] ?? 0) + s1) | 0;
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (h + S1 + ch + (K[t] ?? 0) + (w[t] ?? 0)) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + S0 + maj) | 0;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
    h5 = (h5 + f) | 0;
    h6 = (h6 + g) | 0;
    h7 = (h7 + h) | 0;
  }
  return new Uint32Array([h0, h1, h2, h3, h4, h5, h6, h7]);
}
