import assert from "node:assert/strict";
import { isIPv4, parseCIDR, parseIP, splitHostPort } from "../../src/config/_net.ts";

function ipText(text: string): string | undefined {
  const ip = parseIP(text);
  return ip === undefined ? undefined : Array.from(ip).join(".");
}

Deno.test("parseIP() accepts IPv4 (with leading zeros) and IPv6 text like Go's ParseIPSloppy", () => {
  assert.equal(ipText("10.0.0.1"), "10.0.0.1");
  assert.equal(ipText("010.000.000.001"), "10.0.0.1");
  assert.equal(ipText("::"), "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0");
  assert.equal(ipText("::1"), "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1");
  assert.equal(ipText("fd00::1:2"), "253.0.0.0.0.0.0.0.0.0.0.0.0.1.0.2");
  assert.equal(ipText("::ffff:10.0.0.1"), "0.0.0.0.0.0.0.0.0.0.255.255.10.0.0.1");
  assert.equal(ipText("1:2:3:4:5:6:7:8"), "0.1.0.2.0.3.0.4.0.5.0.6.0.7.0.8");
  for (
    const bad of [
      "",
      "10.0.0",
      "10.0.0.256",
      "10.0.0.1.",
      "1.2.3.4:80",
      "localhost",
      ":::",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7::8",
      "fe80::1%eth0",
      "12345::",
      "1.2.3.4::",
    ]
  ) {
    assert.equal(parseIP(bad), undefined, bad);
  }
});

Deno.test("isIPv4() is true for IPv4 text and IPv4-mapped IPv6", () => {
  assert.equal(isIPv4(parseIP("0.0.0.0")!), true);
  assert.equal(isIPv4(parseIP("::ffff:1.2.3.4")!), true);
  assert.equal(isIPv4(parseIP("::")!), false);
  assert.equal(isIPv4(parseIP("::1.2.3.4")!), false);
});

Deno.test("parseCIDR() accepts host bits and rejects bad prefixes", () => {
  assert.deepEqual(parseCIDR("10.0.0.1/8"), { family: 4, prefixLength: 8 });
  assert.deepEqual(parseCIDR("fd00::/48"), { family: 6, prefixLength: 48 });
  assert.deepEqual(parseCIDR("0.0.0.0/0"), { family: 4, prefixLength: 0 });
  for (
    const bad of [
      "10.0.0.0",
      "10.0.0.0/33",
      "fd00::/129",
      "10.0.0.0/",
      "10.0.0.0/-1",
      "x/8",
      "10.0.0.0/8 ",
    ]
  ) {
    assert.equal(parseCIDR(bad), undefined, bad);
  }
});

Deno.test("splitHostPort() follows Go's net.SplitHostPort", () => {
  assert.deepEqual(splitHostPort("0.0.0.0:10256"), { host: "0.0.0.0", port: "10256" });
  assert.deepEqual(splitHostPort("[::1]:10249"), { host: "::1", port: "10249" });
  assert.deepEqual(splitHostPort(":80"), { host: "", port: "80" });
  assert.deepEqual(splitHostPort("host:"), { host: "host", port: "" });
  for (const bad of ["0.0.0.0", "::1", "[::1]", "::1:80", "[::1]80", "a[b]:80", "[a]:[80]", ""]) {
    assert.equal(splitHostPort(bad), undefined, bad);
  }
});
