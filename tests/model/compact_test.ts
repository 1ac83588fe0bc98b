import assert from "node:assert/strict";
import { compact } from "../../src/model/mod.ts";
import { SharedValues } from "../../src/model/compact.ts";

Deno.test("compact() copies a non-empty array and shares one frozen empty array", () => {
  const list = [1, 2, 3];
  const kept = compact(list);
  assert.deepEqual(kept, [1, 2, 3]);
  assert.notEqual(kept, list, "a copy, so the grown original can be collected");
  assert.equal(compact([]), compact([]));
  assert.ok(Object.isFrozen(compact([])));
});

Deno.test("SharedValues.share() hands out the first of equal values, never one that only shares the key", () => {
  const same = (a: { n: number }, b: { n: number }) => a.n === b.n;
  const shared = new SharedValues<{ n: number }>(2, same);
  const first = Object.freeze({ n: 1 });
  assert.equal(shared.share("1", first), first);
  assert.equal(shared.share("1", Object.freeze({ n: 1 })), first, "an equal value: the first copy");
  const clash = Object.freeze({ n: 2 });
  assert.equal(shared.share("1", clash), clash, "same key, other fields: its own copy");
  assert.equal(shared.share("1", Object.freeze({ n: 1 })), first, "and the key still maps to 1");
  // Past the limit the cache starts again; what was handed out stays valid.
  shared.share("2", Object.freeze({ n: 2 }));
  const third = Object.freeze({ n: 3 });
  assert.equal(shared.share("3", third), third);
  assert.notEqual(shared.share("1", Object.freeze({ n: 1 })), first, "dropped with the cache");
  assert.deepEqual(first, { n: 1 });
});
