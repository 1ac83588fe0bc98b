/**
 * Sloppy IP and CIDR parsing with upstream's normalisation (k8s.io/utils/net `ParseIPSloppy`,
 * `ParseCIDRSloppy`, and Go's `net.IP.String`): IPv4 parts may carry leading zeros, read as
 * decimal; IPv4-mapped IPv6 addresses are IPv4; IPv6 prints in RFC 5952 form.
 *
 * @module
 */

import { flat } from "./compact.ts";
import type { IPFamily } from "./types.ts";

/** A parsed IP address in canonical text form. */
export interface ParsedIP {
  /** The address family (an IPv4-mapped IPv6 address is IPv4, as in Go). */
  readonly family: IPFamily;
  /** The canonical text, e.g. `172.30.0.41` for `172.30.0.041`, `fd00::1` for `FD00:0::1`. */
  readonly ip: string;
}

/** A parsed CIDR in canonical, masked text form. */
export interface ParsedCIDR {
  /** The family of the network address. */
  readonly family: IPFamily;
  /** The canonical network, e.g. `203.0.113.0/25` for `203.0.113.000/025`. */
  readonly cidr: string;
  /** The canonical network address. */
  readonly ip: string;
  /** The prefix length (0 is a zero CIDR: "everything"). */
  readonly prefix: number;
}

interface RawIP {
  family: IPFamily;
  bytes: Uint8Array;
}

const V4_BIG = 0xffffff;

/**
 * Parses an IPv4 dotted quad into `out` at `offset`. Returns false on any syntax error.
 * Leading zeros are accepted and read as decimal, which is what makes it sloppy.
 */
function parseV4Into(s: string, out: Uint8Array, offset: number): boolean {
  let i = 0;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (s.charCodeAt(i) !== 46) return false; // '.'
      i++;
    }
    let n = 0;
    const start = i;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
      if (n >= V4_BIG) return false;
      i++;
    }
    if (i === start || n > 255) return false;
    out[offset + part] = n;
  }
  return i === s.length;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Parses IPv6 text (optionally with a trailing dotted quad) into 16 bytes, Go style. */
function parseV6(s: string): Uint8Array | null {
  const ip = new Uint8Array(16);
  let ellipsis = -1;
  let i = 0;
  let pos = 0;
  if (s.startsWith("::")) {
    ellipsis = 0;
    pos = 2;
    if (pos === s.length) return ip;
  }
  while (i < 16) {
    let n = 0;
    let c = 0;
    while (pos + c < s.length) {
      const h = hexValue(s.charCodeAt(pos + c));
      if (h < 0) break;
      n = n * 16 + h;
      if (n >= V4_BIG) return null;
      c++;
    }
    if (c === 0 || n > 0xffff) return null;
    if (pos + c < s.length && s.charCodeAt(pos + c) === 46) {
      // A trailing dotted quad fills the last four bytes.
      if (ellipsis < 0 && i !== 12) return null;
      if (i + 4 > 16) return null;
      if (!parseV4Into(s.slice(pos), ip, i)) return null;
      i += 4;
      pos = s.length;
      break;
    }
    ip[i] = n >> 8;
    ip[i + 1] = n & 0xff;
    i += 2;
    pos += c;
    if (pos === s.length) break;
    if (s.charCodeAt(pos) !== 58 || pos + 1 === s.length) return null; // ':'
    pos++;
    if (s.charCodeAt(pos) === 58) {
      if (ellipsis >= 0) return null;
      ellipsis = i;
      pos++;
      if (pos === s.length) break;
    }
  }
  if (pos !== s.length) return null;
  if (i < 16) {
    if (ellipsis < 0) return null;
    const n = 16 - i;
    for (let j = i - 1; j >= ellipsis; j--) ip[j + n] = ip[j] ?? 0;
    for (let j = ellipsis + n - 1; j >= ellipsis; j--) ip[j] = 0;
  } else if (ellipsis >= 0) {
    return null;
  }
  return ip;
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function parseRaw(s: string): RawIP | null {
  if (s.includes(":")) {
    const b = parseV6(s);
    if (b === null) return null;
    if (isV4Mapped(b)) return { family: "IPv4", bytes: b.slice(12) };
    return { family: "IPv6", bytes: b };
  }
  const b = new Uint8Array(4);
  return parseV4Into(s, b, 0) ? { family: "IPv4", bytes: b } : null;
}

function formatV6(b: Uint8Array): string {
  // RFC 5952 as Go prints it: the longest run of two or more zero groups becomes "::".
  let bestStart = -1;
  let bestLen = 0;
  for (let g = 0; g < 8;) {
    if (b[2 * g] === 0 && b[2 * g + 1] === 0) {
      let e = g;
      while (e < 8 && b[2 * e] === 0 && b[2 * e + 1] === 0) e++;
      if (e - g > bestLen) {
        bestStart = g;
        bestLen = e - g;
      }
      g = e;
    } else {
      g++;
    }
  }
  if (bestLen < 2) bestStart = -1;
  let out = "";
  for (let g = 0; g < 8; g++) {
    if (g === bestStart) {
      out += "::";
      g += bestLen - 1;
      continue;
    }
    if (g > 0 && !out.endsWith(":")) out += ":";
    out += (((b[2 * g] ?? 0) << 8) | (b[2 * g + 1] ?? 0)).toString(16);
  }
  return out;
}

function formatRaw(r: RawIP): string {
  const b = r.bytes;
  return r.family === "IPv4" ? `${b[0]}.${b[1]}.${b[2]}.${b[3]}` : formatV6(b);
}

/** True when `s` is already a canonical dotted quad (no leading zeros): the common fast path. */
function isCanonicalV4(s: string): boolean {
  const len = s.length;
  if (len < 7 || len > 15) return false;
  let parts = 0;
  let digits = 0;
  let value = 0;
  let first = 0;
  for (let i = 0; i <= len; i++) {
    const c = i === len ? 46 : s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || value > 255 || (digits > 1 && first === 48)) return false;
      parts++;
      digits = 0;
      value = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 0) first = c;
      digits++;
      value = value * 10 + (c - 48);
    } else {
      return false;
    }
  }
  return parts === 4;
}

/**
 * Parses an IP address the way upstream's `ParseIPSloppy` does and returns its canonical text.
 * Returns null for anything that is not an address (zones, CIDRs, whitespace, empty).
 */
export function parseIPSloppy(s: string): ParsedIP | null {
  if (isCanonicalV4(s)) return { family: "IPv4", ip: s };
  const r = parseRaw(s);
  return r === null ? null : { family: r.family, ip: formatRaw(r) };
}

/**
 * The canonical text of an IP address, or null; the hot-path form of `parseIPSloppy`. The
 * family follows from the text: canonical IPv6 always contains ":", IPv4 never does.
 */
export function canonicalIP(s: string): string | null {
  if (isCanonicalV4(s)) return s;
  const r = parseRaw(s);
  return r === null ? null : formatRaw(r);
}

/**
 * Parses a CIDR the way upstream's `ParseCIDRSloppy` does, returning the masked network.
 * The prefix may carry leading zeros; it must fit the textual family (32 or 128 bits).
 */
export function parseCIDRSloppy(s: string): ParsedCIDR | null {
  const slash = s.indexOf("/");
  if (slash < 0) return null;
  const addr = s.slice(0, slash);
  const maskText = s.slice(slash + 1);
  if (maskText.length === 0 || maskText.length > 8 || !/^[0-9]+$/.test(maskText)) return null;
  let prefix = Number(maskText);
  const textIsV6 = addr.includes(":");
  if (prefix > (textIsV6 ? 128 : 32)) return null;
  let r: RawIP | null;
  if (textIsV6) {
    const b = parseV6(addr);
    if (b === null) return null;
    if (isV4Mapped(b) && prefix >= 96) {
      r = { family: "IPv4", bytes: b.slice(12) };
      prefix -= 96;
    } else {
      r = { family: "IPv6", bytes: b };
    }
  } else {
    const b = new Uint8Array(4);
    if (!parseV4Into(addr, b, 0)) return null;
    r = { family: "IPv4", bytes: b };
  }
  maskBytes(r.bytes, prefix);
  const ip = formatRaw(r);
  return { family: r.family, cidr: `${ip}/${prefix}`, ip, prefix };
}

function maskBytes(b: Uint8Array, prefix: number): void {
  for (let i = 0; i < b.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - 8 * i));
    b[i] = (b[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
}

/** The family of an IP address text, or null when it does not parse. */
export function ipFamilyOf(s: string): IPFamily | null {
  return parseIPSloppy(s)?.family ?? null;
}

/** Upstream `net.JoinHostPort` for an endpoint: `ip:port`, or `[ip]:port` for IPv6. */
export function joinHostPort(ip: string, port: number): string {
  // Kept per endpoint: a flat string, not a rope holding on to `ip`.
  return ip.includes(":") ? flat("[", ip, "]:", port) : flat(ip, ":", port);
}

/** True when `cidr` (any sloppy form) contains the address `ip`; false if either is invalid. */
export function cidrContains(cidr: string, ip: string): boolean {
  const net = parseCIDRSloppy(cidr);
  const addr = parseRaw(ip);
  if (net === null || addr === null || net.family !== addr.family) return false;
  const masked = new Uint8Array(addr.bytes);
  maskBytes(masked, net.prefix);
  return formatRaw({ family: addr.family, bytes: masked }) === net.ip;
}
