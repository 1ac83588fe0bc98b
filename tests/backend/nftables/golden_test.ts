/**
 * Golden files of nftables mode: `NftablesBackend.renderFull()` of each cluster in clusters.ts
 * (iptables mode's cluster set), byte for byte, and each accepted by the real `nft -c -f` inside a
 * throwaway network namespace. Regenerate with
 * `UPDATE_GOLDEN=1 deno task test tests/backend/nftables/golden_test.ts` and review the diff.
 */

import assert from "node:assert/strict";
import { GOLDEN_CLUSTERS, goldenText } from "./clusters.ts";
import { structureProblems } from "./structure.ts";
import { ignoreKernelTests, withNamespace } from "../../fixtures/netns.ts";

const GOLDEN_DIR = new URL("../../fixtures/golden/nftables/", import.meta.url);
const update = Deno.env.get("UPDATE_GOLDEN") === "1";

for (const cluster of GOLDEN_CLUSTERS) {
  Deno.test(`NftablesBackend.renderFull() renders the ${cluster.name} cluster as its golden file`, async () => {
    const file = new URL(`${cluster.name}.txt`, GOLDEN_DIR);
    const actual = goldenText(cluster);
    if (update) await Deno.writeTextFile(file, actual);
    const expected = await Deno.readTextFile(file);
    assert.equal(actual, expected, `golden ${cluster.name}.txt differs (UPDATE_GOLDEN=1 rewrites)`);
  });

  Deno.test(`NftablesBackend.renderFull() declares everything ${cluster.name} references`, () => {
    assert.deepEqual(structureProblems(goldenText(cluster)), []);
  });
}

Deno.test("NftablesBackend.renderFull() output is byte-identical across renders", () => {
  for (const cluster of GOLDEN_CLUSTERS) assert.equal(goldenText(cluster), goldenText(cluster));
});

Deno.test("nftables golden files exist only for known clusters", async () => {
  const names = new Set(GOLDEN_CLUSTERS.map((c) => `${c.name}.txt`));
  for await (const entry of Deno.readDir(GOLDEN_DIR)) {
    assert.ok(names.has(entry.name), `stale golden file ${entry.name}`);
  }
});

Deno.test({
  name: "nft -c -f accepts every nftables golden file",
  ignore: await ignoreKernelTests(),
  fn: async () => {
    await withNamespace("nft-golden", async (ns) => {
      for (const cluster of GOLDEN_CLUSTERS) {
        const result = await ns.runner.run("nft", ["-c", "-f", "-"], {
          stdin: goldenText(cluster),
          timeoutMs: 30_000,
        });
        assert.equal(result.code, 0, `nft -c rejected ${cluster.name}: ${result.stderr}`);
      }
    });
  },
});
