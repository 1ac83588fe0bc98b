import assert from "node:assert/strict";
import { endpointChainInput, servicePortChainInput } from "../../src/model/chain_input.ts";

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

// Go's base32.StdEncoding, enough for the first 16 characters upstream keeps.
function base32(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

async function hash16(input: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(input));
  return base32(new Uint8Array(digest)).slice(0, 16);
}

Deno.test("servicePortChainInput() hashes to upstream's KUBE-SVC chain names", async () => {
  const cases = [
    { key: "ns1/svc1:p80", chain: "KUBE-SVC-XPGD46QRK7WJZT7O" },
    { key: "ns2/svc2:p80", chain: "KUBE-SVC-GNZBNJ2PO5MGZ6GT" },
    { key: "ns5/svc5:p80", chain: "KUBE-SVC-NUKIZ6OKUXPJNT4C" },
  ];
  for (const c of cases) {
    const input = servicePortChainInput({ key: c.key, protocol: "TCP" });
    assert.equal(`KUBE-SVC-${await hash16(input)}`, c.chain, c.key);
  }
});

Deno.test("endpointChainInput() hashes to upstream's KUBE-SEP chain names", async () => {
  const cases = [
    { key: "ns1/svc1:p80", ep: "10.180.0.1:80", chain: "KUBE-SEP-SXIVWICOYRO3J4NJ" },
    { key: "ns4/svc4:p80", ep: "10.180.0.4:80", chain: "KUBE-SEP-UKSFD7AGPMPPLUHC" },
    { key: "ns4/svc4:p80", ep: "10.180.0.5:80", chain: "KUBE-SEP-C6EBXVWJJZMIWKLZ" },
    { key: "ns5/svc5:p80", ep: "10.180.0.3:80", chain: "KUBE-SEP-I77PXRDZVX7PMWMN" },
  ];
  for (const c of cases) {
    const input = endpointChainInput({ key: c.key, protocol: "TCP" }, { ipPort: c.ep });
    assert.equal(`KUBE-SEP-${await hash16(input)}`, c.chain, c.ep);
  }
});
