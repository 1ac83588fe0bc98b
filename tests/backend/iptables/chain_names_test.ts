import assert from "node:assert/strict";
import {
  endpointChain,
  endpointChainName,
  endpointChains,
  hashSuffix,
  isServiceChainName,
  servicePortChainOrder,
  servicePortChains,
} from "../../../src/backend/iptables/chain_names.ts";
import { type Endpoint, endpointChainInput, type ServicePort } from "../../../src/model/mod.ts";
import { snapshotOf } from "./clusters.ts";
import { GOLDEN_CLUSTERS } from "./clusters.ts";
import { withFields } from "../../fixtures/model_fields.ts";

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

Deno.test("hashSuffix() hashes the UTF-8 bytes of non-ASCII input, as Go does", () => {
  // Expected value from Python: base64.b32encode(hashlib.sha256(s.encode()).digest())[:16].
  assert.equal(hashSuffix("ns/svc:pörttcp"), "3HDIBDHHE5XRSUF7");
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
  const other: ServicePort = withFields(sp, { key: "ns2/svc2:p80" });
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

Deno.test("endpointChains() names every reachable endpoint by the model's endpoint chain input", () => {
  for (const cluster of GOLDEN_CLUSTERS) {
    for (const sp of snapshotOf(cluster).v4.servicePorts) {
      assert.deepEqual(
        endpointChains(sp),
        sp.allReachableEndpoints.map((ep) => "KUBE-SEP-" + hashSuffix(endpointChainInput(sp, ep))),
      );
    }
  }
});

Deno.test("endpointChains() and servicePortChainOrder() order names as their strings sort", () => {
  const names: { name: string; order: number }[] = [];
  for (const cluster of GOLDEN_CLUSTERS) {
    for (const sp of snapshotOf(cluster).v4.servicePorts) {
      names.push({ name: servicePortChains(sp).svc, order: servicePortChainOrder(sp) });
      for (const ep of sp.allReachableEndpoints) names.push(endpointChain(sp, ep));
    }
  }
  const seps = names.filter((n) => n.name.startsWith("KUBE-SEP-"));
  const svcs = names.filter((n) => n.name.startsWith("KUBE-SVC-"));
  for (const group of [seps, svcs]) {
    assert.ok(group.length > 3);
    for (const a of group) {
      for (const b of group) {
        const byText = a.name.slice(9, 17) < b.name.slice(9, 17);
        assert.equal(a.order < b.order, byText, `${a.name} vs ${b.name}`);
      }
    }
  }
});
