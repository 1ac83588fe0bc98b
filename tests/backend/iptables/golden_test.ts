/**
 * Golden files of iptables mode: `IptablesBackend.renderFull()` of each cluster in clusters.ts,
 * byte for byte. Regenerate with `UPDATE_GOLDEN=1 deno task test tests/backend/iptables/` and
 * review every changed line against upstream's expected rules (pkg/proxy/iptables/proxier_test.go).
 */

import assert from "node:assert/strict";
import { GOLDEN_CLUSTERS, goldenText } from "./clusters.ts";
import { familySections, structureProblems } from "./structure.ts";

const GOLDEN_DIR = new URL("../../fixtures/golden/iptables/", import.meta.url);
const update = Deno.env.get("UPDATE_GOLDEN") === "1";

for (const cluster of GOLDEN_CLUSTERS) {
  Deno.test(`IptablesBackend.renderFull() renders the ${cluster.name} cluster as its golden file`, async () => {
    const file = new URL(`${cluster.name}.txt`, GOLDEN_DIR);
    const actual = goldenText(cluster);
    if (update) await Deno.writeTextFile(file, actual);
    const expected = await Deno.readTextFile(file);
    assert.equal(actual, expected, `golden ${cluster.name}.txt differs (UPDATE_GOLDEN=1 rewrites)`);
  });

  Deno.test(`IptablesBackend.renderFull() declares and uses every chain of ${cluster.name}`, () => {
    const sections = familySections(goldenText(cluster));
    assert.deepEqual(structureProblems(sections.IPv4), []);
    assert.deepEqual(structureProblems(sections.IPv6), []);
  });
}

Deno.test("IptablesBackend.renderFull() output is byte-identical across renders", () => {
  for (const cluster of GOLDEN_CLUSTERS) assert.equal(goldenText(cluster), goldenText(cluster));
});

Deno.test("golden files exist only for known clusters", async () => {
  const names = new Set(GOLDEN_CLUSTERS.map((c) => `${c.name}.txt`));
  for await (const entry of Deno.readDir(GOLDEN_DIR)) {
    if (entry.name.startsWith("upstream_")) continue;
    assert.ok(names.has(entry.name), `stale golden file ${entry.name}`);
  }
});
