import assert from "node:assert/strict";
import {
  endpointChainName,
  hashSuffix,
  isServiceChainName,
  servicePortChains,
  sha256,
} from "../../../src/backend/iptables/chain_names.ts";
import type { Endpoint, ServicePort } from "../../../src/model/mod.ts";
import { snapshotOf } from "./clusters.ts";
import { GOLDEN_CLUSTERS } from "./clusters.ts";

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("sha256() matches the FIPS 180-4 test vectors", () => {
  const enc = new TextEncoder();
  assert.equal(
    hex(sha256(enc.encode("abc"))),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(
    hex(sha256(enc.encode(""))),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  assert.equal(
    hex(sha256(enc.encode("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
});

Deno.test("hashSuffix() gives upstream's chain hashes (reference §2.1 and upstream's tests)", () => {
  const cases: [string, string][] = [
    ["ns1/svc1:p80tcp", "XPGD46QRK7WJZT7O"],
    ["ns2/svc2:p80tcp", "GNZBNJ2PO5MGZ6GT"],
    ["ns5/svc5:p80tcp", "NUKIZ6OKUXPJNT4C"],
    ["ns2/svc2:p8080tcp", "2VJB64SDSIJUP5T6"],
    ["ns1/svc1:p80tcp10.180.0.1:80", "SXIVWICOYRO3J4NJ"],
    ["ns4/svc4:p80tcp10.180.0.4:80", "UKSFD7AGPMPPLUHC"],
    ["ns4/svc4:p80tcp10.180.0.5:80", "C6EBXVWJJZMIWKLZ"],
    ["ns5/svc5:p80tcp10.180.0.3:80", "I77PXRDZVX7PMWMN"],
    ["ns3/svc3:p80tcp10.0.3.1:80", "BSWRHOQ77KEXZLNL"],
  ];
  for (const [input, expected] of cases) assert.equal(hashSuffix(input), expected, input);
});

Deno.test("servicePortChains() names the four chains of a port with one hash, within 28 characters", () => {
  const sp = snapshotOf(GOLDEN_CLUSTERS.find((c) => c.name === "overall")!).v4.servicePorts[0]!;
  const names = servicePortChains(sp);
  assert.deepEqual(names, {
    svc: "KUBE-SVC-XPGD46QRK7WJZT7O",
    svl: "KUBE-SVL-XPGD46QRK7WJZT7O",
    ext: "KUBE-EXT-XPGD46QRK7WJZT7O",
    fw: "KUBE-FW-XPGD46QRK7WJZT7O",
  });
  for (const n of Object.values(names)) assert.ok(n.length <= 28, n);
  // Cached by object: the same frozen record comes back.
  assert.equal(servicePortChains(sp), names);
});

Deno.test("endpointChainName() names an endpoint per service port even when the object is shared", () => {
  const sp = snapshotOf(GOLDEN_CLUSTERS.find((c) => c.name === "overall")!).v4.servicePorts[0]!;
  const ep: Endpoint = sp.allReachableEndpoints[0]!;
  assert.equal(endpointChainName(sp, ep), "KUBE-SEP-SXIVWICOYRO3J4NJ");
  const other: ServicePort = { ...sp, key: "ns2/svc2:p80" };
  assert.equal(
    endpointChainName(other, ep),
    "KUBE-SEP-" + hashSuffix("ns2/svc2:p80tcp10.180.0.1:80"),
  );
  assert.equal(endpointChainName(sp, ep), "KUBE-SEP-SXIVWICOYRO3J4NJ");
});

Deno.test("isServiceChainName() recognises exactly the per-service and per-endpoint prefixes", () => {
  for (const c of ["KUBE-SVC-X", "KUBE-SVL-X", "KUBE-EXT-X", "KUBE-FW-X", "KUBE-SEP-X"]) {
    assert.ok(isServiceChainName(c), c);
  }
  for (const c of ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-MARK-MASQ", "KUBE-FIREWALL", "FOO"]) {
    assert.ok(!isServiceChainName(c), c);
  }
});
