/**
 * The few address parsers config validation needs, with the semantics of the Go functions
 * upstream calls: `netutils.ParseIPSloppy` / `ParseCIDRSloppy` (Go 1.16 parsing, IPv4 octets with
 * leading zeros accepted as decimal, host bits allowed in a CIDR, no zones) and
 * `net.SplitHostPort`. Private to the config package.
 *
 * @module
 */

/** A parsed address: 4 bytes for IPv4 text, 16 bytes for IPv6 text. */
export type IPBytes = Uint8Array;

/** Larger than any valid field; Go's `big` guard against overflow while parsing. */
const BIG = 0xffffff;

function decimalPrefix(text: string): { value: number; length: number } | undefined {
  let value = 0;
  let i = 0;
  while (i < text.length && text[i]! >= "0" && text[i]! <= "9") {
    value = value * 10 + (text.charCodeAt(i) - 48);
    if (value >= BIG) return undefined;
    i++;
  }
  return i === 0 ? undefined : { value, length: i };
}

function hexPrefix(text: string): { value: number; length: number } | undefined {
  let value = 0;
  let i = 0;
  for (; i < text.length; i++) {
    const digit = parseInt(text[i]!, 16);
    if (Number.isNaN(digit)) break;
    value = value * 16 + digit;
    if (value >= BIG) return undefined;
  }
  return i === 0 ? undefined : { value, length: i };
}

/** Dotted-quad IPv4; leading zeros are decimal ("sloppy"), as Kubernetes keeps accepting. */
function parseIPv4(text: string): IPBytes | undefined {
  const out = new Uint8Array(4);
  let rest = text;
  for (let i = 0; i < 4; i++) {
    if (rest === "") return undefined;
    if (i > 0) {
      if (rest[0] !== ".") return undefined;
      rest = rest.slice(1);
    }
    const field = decimalPrefix(rest);
    if (field === undefined || field.value > 0xff) return undefined;
    out[i] = field.value;
    rest = rest.slice(field.length);
  }
  return rest === "" ? out : undefined;
}

/** RFC 4291 text, including `::` and a trailing dotted IPv4; no zone. */
function parseIPv6(text: string): IPBytes | undefined {
  const out = new Uint8Array(16);
  let rest = text;
  let ellipsis = -1;
  if (rest.startsWith("::")) {
    ellipsis = 0;
    rest = rest.slice(2);
    if (rest === "") return out;
  }
  let i = 0;
  while (i < 16) {
    const group = hexPrefix(rest);
    if (group === undefined || group.value > 0xffff) return undefined;
    if (rest[group.length] === ".") {
      // An embedded IPv4 address must be the last 4 bytes (or follow an ellipsis).
      if (ellipsis < 0 && i !== 12) return undefined;
      if (i + 4 > 16) return undefined;
      const v4 = parseIPv4(rest);
      if (v4 === undefined) return undefined;
      out.set(v4, i);
      rest = "";
      i += 4;
      break;
    }
    out[i] = group.value >> 8;
    out[i + 1] = group.value & 0xff;
    i += 2;
    rest = rest.slice(group.length);
    if (rest === "") break;
    if (rest[0] !== ":" || rest.length === 1) return undefined;
    rest = rest.slice(1);
    if (rest[0] === ":") {
      if (ellipsis >= 0) return undefined;
      ellipsis = i;
      rest = rest.slice(1);
      if (rest === "") break;
    }
  }
  if (rest !== "") return undefined;
  if (i < 16) {
    if (ellipsis < 0) return undefined;
    const shift = 16 - i;
    out.copyWithin(ellipsis + shift, ellipsis, i);
    out.fill(0, ellipsis, ellipsis + shift);
  } else if (ellipsis >= 0) {
    // "::" must stand for at least one zero group.
    return undefined;
  }
  return out;
}

/** Go's `ParseIP` (sloppy): the first `.` or `:` decides the family; anything else is invalid. */
export function parseIP(text: string): IPBytes | undefined {
  for (const char of text) {
    if (char === ".") return parseIPv4(text);
    if (char === ":") return parseIPv6(text);
  }
  return undefined;
}

/**
 * Go's `ip.To4() != nil`: IPv4 text, or IPv6 text of an IPv4-mapped address (`::ffff:1.2.3.4`).
 */
export function isIPv4(ip: IPBytes): boolean {
  if (ip.length === 4) return true;
  for (let i = 0; i < 10; i++) if (ip[i] !== 0) return false;
  return ip[10] === 0xff && ip[11] === 0xff;
}

/** A parsed CIDR: the address family it was written in and its prefix length. */
export interface ParsedCIDR {
  readonly family: 4 | 6;
  readonly prefixLength: number;
}

/** Go's `ParseCIDR` (sloppy): `ip/len`, host bits allowed, IPv4 text tried first. */
export function parseCIDR(text: string): ParsedCIDR | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const address = text.slice(0, slash);
  const mask = text.slice(slash + 1);
  let family: 4 | 6 = 4;
  let ip = parseIPv4(address);
  if (ip === undefined) {
    family = 6;
    ip = parseIPv6(address);
  }
  const length = decimalPrefix(mask);
  if (ip === undefined || length === undefined || length.length !== mask.length) return undefined;
  if (length.value > (family === 4 ? 32 : 128)) return undefined;
  return { family, prefixLength: length.value };
}

/** Go's `net.SplitHostPort`: `host:port` or `[host]:port`; undefined where Go returns an error. */
export function splitHostPort(text: string): { host: string; port: string } | undefined {
  const colon = text.lastIndexOf(":");
  if (colon < 0) return undefined;
  let host: string;
  let hostStart = 0;
  let portSearchFrom = 0;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0 || end + 1 !== colon) return undefined;
    host = text.slice(1, end);
    hostStart = 1;
    portSearchFrom = end + 1;
  } else {
    host = text.slice(0, colon);
    if (host.includes(":")) return undefined;
  }
  if (text.indexOf("[", hostStart) >= 0) return undefined;
  if (text.indexOf("]", portSearchFrom) >= 0) return undefined;
  return { host, port: text.slice(colon + 1) };
}
