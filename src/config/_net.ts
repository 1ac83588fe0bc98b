/**
 * Go's `net.SplitHostPort`, which config validation needs for `host:port` addresses. IP and CIDR
 * parsing (upstream's sloppy parsers) come from the model's `ip.ts`, so the whole program agrees
 * on what an address is. Private to the config package.
 *
 * @module
 */

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
