import assert from "node:assert/strict";
import { compact } from "../../src/model/mod.ts";

Deno.test("compact() copies a non-empty array and shares one frozen empty array", () => {
  const list = [1, 2, 3];
  const kept = compact(list);
  assert.deepEqual(kept, [1, 2, 3]);
  assert.notEqual(kept, list, "a copy, so the grown original can be collected");
  assert.equal(compact([]), compact([]));
  assert.ok(Object.isFrozen(compact([])));
});
