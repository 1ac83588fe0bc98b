import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { affinityKeys } from "../../../src/backend/nftables/names.ts";
import type { ServicePort } from "../../../src/model/mod.ts";
import { GOLDEN_CLUSTERS, snapshotOf } from "./clusters.ts";
import { withFields } from "../../fixtures/model_fields.ts";

/** The first four bytes of sha256 of `id|ip:port`, as an unsigned number. */
function expectedKey(id: string, ipPort: string): number {
  return createHash("sha256").update(`${id}|${ipPort}`).digest().readUInt32BE(0);
}

Deno.test("affinityKeys() is the first four bytes of sha256 of id|ip:port, per endpoint of the list", () => {
  const ports = GOLDEN_CLUSTERS.flatMap((c) => snapshotOf(c).v4.servicePorts);
  const sp = ports.find((p) => p.allReachableEndpoints.length >= 2);
  assert.ok(sp !== undefined, "a golden cluster should have a port with two endpoints");
  const list = sp.allReachableEndpoints;
  const want = list.map((ep) => expectedKey(sp.id, ep.ipPort));
  assert.ok(want.some((k) => k >= 2 ** 31), "a key above 2^31 should be checked too");
  assert.deepEqual(affinityKeys(sp, list), want);
  // The second call comes from the cache and must be the same.
  assert.deepEqual(affinityKeys(sp, list), want);
});

Deno.test("affinityKeys() gives each service port its own keys even for the same list object", () => {
  const ports = GOLDEN_CLUSTERS.flatMap((c) => snapshotOf(c).v4.servicePorts);
  const sp = ports.find((p) => p.allReachableEndpoints.length >= 1)!;
  const list = sp.allReachableEndpoints;
  const other: ServicePort = withFields(sp, { id: "ns2/other:p/TCP" });
  const mine = affinityKeys(sp, list);
  const theirs = affinityKeys(other, list);
  assert.deepEqual(theirs, list.map((ep) => expectedKey("ns2/other:p/TCP", ep.ipPort)));
  assert.notDeepEqual(theirs, mine);
  assert.deepEqual(affinityKeys(sp, list), mine);
});
