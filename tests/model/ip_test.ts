import assert from "node:assert/strict";
import {
  cidrContains,
  ipFamilyOf,
  joinHostPort,
  parseCIDRSloppy,
  parseIPSloppy,
} from "../../src/model/ip.ts";

Deno.test("parseIPSloppy() normalises addresses as upstream's ParseIPSloppy + String()", () => {
  const cases: { input: string; want: string | null; family?: "IPv4" | "IPv6" }[] = [
    { input: "172.30.0.41", want: "172.30.0.41", family: "IPv4" },
    { input: "172.30.0.041", want: "172.30.0.41", family: "IPv4" },
    { input: "010.000.000.001", want: "10.0.0.1", family: "IPv4" },
    { input: "0.0.0.0", want: "0.0.0.0", family: "IPv4" },
    { input: "255.255.255.255", want: "255.255.255.255", family: "IPv4" },
    { input: "256.0.0.1", want: null },
    { input: "1.2.3", want: null },
    { input: "1.2.3.4.5", want: null },
    { input: "1.2.3.4 ", want: null },
    { input: " 1.2.3.4", want: null },
    { input: "", want: null },
    { input: "1.2.3.4/32", want: null },
    { input: "fd00:172:30::41", want: "fd00:172:30::41", family: "IPv6" },
    { input: "FD00:172:30:0:0:0:0:41", want: "fd00:172:30::41", family: "IPv6" },
    { input: "fd00:0:0:1:0:0:0:1", want: "fd00:0:0:1::1", family: "IPv6" },
    { input: "fd00:0:1:0:1:0:1:0", want: "fd00:0:1:0:1:0:1:0", family: "IPv6" },
    { input: "0:0:0:0:0:0:0:0", want: "::", family: "IPv6" },
    { input: "::1", want: "::1", family: "IPv6" },
    { input: "1::", want: "1::", family: "IPv6" },
    { input: "2001:db8:0000:0001::0001", want: "2001:db8:0:1::1", family: "IPv6" },
    { input: "::ffff:1.2.3.4", want: "1.2.3.4", family: "IPv4" },
    { input: "::ffff:0102:0304", want: "1.2.3.4", family: "IPv4" },
    { input: "64:ff9b::1.2.3.4", want: "64:ff9b::102:304", family: "IPv6" },
    { input: "fe80::1%eth0", want: null },
    { input: "1:2:3:4:5:6:7:8:9", want: null },
    { input: "1::2::3", want: null },
    { input: "1:2:3:4:5:6:7::8", want: null },
    { input: "12345::1", want: null },
    { input: ":1", want: null },
    { input: "1:", want: null },
  ];
  for (const c of cases) {
    const got = parseIPSloppy(c.input);
    assert.equal(got?.ip ?? null, c.want, JSON.stringify(c.input));
    if (c.family !== undefined) assert.equal(got?.family, c.family, JSON.stringify(c.input));
  }
});

Deno.test("parseCIDRSloppy() masks the address and accepts leading zeros", () => {
  const cases: { input: string; want: string | null; prefix?: number }[] = [
    { input: "203.0.113.000/025", want: "203.0.113.0/25", prefix: 25 },
    { input: "203.0.113.7/24", want: "203.0.113.0/24", prefix: 24 },
    { input: "10.0.0.0/8", want: "10.0.0.0/8", prefix: 8 },
    { input: "0.0.0.0/0", want: "0.0.0.0/0", prefix: 0 },
    { input: "1.2.3.4/0", want: "0.0.0.0/0", prefix: 0 },
    { input: "1.2.3.4/32", want: "1.2.3.4/32", prefix: 32 },
    { input: "1.2.3.4/33", want: null },
    { input: "1.2.3.4/", want: null },
    { input: "1.2.3.4", want: null },
    { input: "1.2.3.4/-1", want: null },
    { input: "fd00:10::1/64", want: "fd00:10::/64", prefix: 64 },
    { input: "FD00:10::100/120", want: "fd00:10::100/120", prefix: 120 },
    { input: "::/0", want: "::/0", prefix: 0 },
    { input: "::ffff:1.2.3.0/120", want: "1.2.3.0/24", prefix: 24 },
    { input: "fd00::/129", want: null },
    { input: " 10.0.0.0/8", want: null },
  ];
  for (const c of cases) {
    const got = parseCIDRSloppy(c.input);
    assert.equal(got?.cidr ?? null, c.want, JSON.stringify(c.input));
    if (c.prefix !== undefined) assert.equal(got?.prefix, c.prefix, JSON.stringify(c.input));
  }
});

Deno.test("ipFamilyOf() detects the family, treating IPv4-mapped IPv6 as IPv4", () => {
  assert.equal(ipFamilyOf("10.0.0.1"), "IPv4");
  assert.equal(ipFamilyOf("fd00:10::1"), "IPv6");
  assert.equal(ipFamilyOf("::ffff:10.0.0.1"), "IPv4");
  assert.equal(ipFamilyOf("nonsense"), null);
});

Deno.test("joinHostPort() brackets IPv6 addresses", () => {
  assert.equal(joinHostPort("10.180.0.1", 80), "10.180.0.1:80");
  assert.equal(joinHostPort("fd00:10::1", 80), "[fd00:10::1]:80");
});

Deno.test("cidrContains() matches addresses of the same family only", () => {
  assert.equal(cidrContains("192.168.0.0/24", "192.168.0.2"), true);
  assert.equal(cidrContains("192.168.0.000/024", "192.168.000.2"), true);
  assert.equal(cidrContains("192.168.1.0/24", "192.168.0.2"), false);
  assert.equal(cidrContains("0.0.0.0/0", "203.0.113.2"), true);
  assert.equal(cidrContains("::/0", "203.0.113.2"), false);
  assert.equal(cidrContains("2001:db8::/32", "2001:db8::1"), true);
  assert.equal(cidrContains("bad", "1.2.3.4"), false);
});

Deno.test("parseIPSloppy() rejects what Go's ParseIPSloppy rejects (config validation relies on it)", () => {
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
    assert.equal(parseIPSloppy(bad), null, bad);
  }
  assert.equal(parseIPSloppy("::ffff:1.2.3.4")?.family, "IPv4");
  assert.equal(parseIPSloppy("::1.2.3.4")?.family, "IPv6");
});

Deno.test("parseCIDRSloppy() accepts host bits and rejects bad prefixes", () => {
  assert.equal(parseCIDRSloppy("10.0.0.1/8")?.cidr, "10.0.0.0/8");
  assert.equal(parseCIDRSloppy("0.0.0.0/0")?.prefix, 0);
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
    assert.equal(parseCIDRSloppy(bad), null, bad);
  }
});
