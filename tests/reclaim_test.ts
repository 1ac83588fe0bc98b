import assert from "node:assert/strict";
import {
  HeapReclaimer,
  reclaimGarbage,
  TRIM_GROWTH_RATIO,
  TRIM_MIN_GROWTH_BYTES,
} from "../src/reclaim.ts";

const MiB = 1024 * 1024;

Deno.test("reclaimGarbage() runs V8's gc when it is exposed, and is a no-op otherwise", () => {
  const global = globalThis as { gc?: () => void };
  const exposed = global.gc;
  let calls = 0;
  try {
    global.gc = () => void calls++;
    assert.equal(reclaimGarbage(), true);
    assert.equal(calls, 1);
    delete global.gc;
    assert.equal(reclaimGarbage(), false);
  } finally {
    if (exposed !== undefined) global.gc = exposed;
  }
});

/** A heap whose size the test sets; a collection brings it down to `live`. */
function fakeHeap(opts: { canCollect?: boolean } = {}) {
  const heap = { used: 0, live: 0, collections: 0 };
  const reclaimer = new HeapReclaimer({
    heapUsed: () => heap.used,
    collect: () => {
      if (opts.canCollect === false) return false;
      heap.collections++;
      heap.used = heap.live;
      return true;
    },
  });
  return { heap, reclaimer };
}

Deno.test("HeapReclaimer.trim() collects once the heap grew 2 MiB past the last collection", () => {
  const { heap, reclaimer } = fakeHeap();
  heap.used = TRIM_MIN_GROWTH_BYTES - 1;
  assert.equal(reclaimer.trim(), false, "growth counts from zero until the first collection");
  heap.used = 50 * MiB;
  heap.live = 20 * MiB;
  assert.equal(reclaimer.trim(), true, "what start-up left goes at the first trim");
  heap.used = 20 * MiB + TRIM_MIN_GROWTH_BYTES - 1;
  assert.equal(reclaimer.trim(), false);
  heap.used = 20 * MiB + TRIM_MIN_GROWTH_BYTES;
  assert.equal(reclaimer.trim(), true);
  assert.equal(heap.collections, 2);
  // Growth counts from what was left: 20 MiB again.
  heap.used = 21 * MiB;
  assert.equal(reclaimer.trim(), false);
  assert.equal(heap.collections, 2);
});

Deno.test("HeapReclaimer.trim() on a large heap waits for a twentieth of it", () => {
  const { heap, reclaimer } = fakeHeap();
  heap.used = heap.live = 100 * MiB;
  reclaimer.collect();
  heap.used = 100 * MiB * (1 + TRIM_GROWTH_RATIO) - 1;
  assert.equal(reclaimer.trim(), false);
  heap.used = 100 * MiB * (1 + TRIM_GROWTH_RATIO);
  assert.equal(reclaimer.trim(), true);
});

Deno.test("HeapReclaimer.trim() measures from V8's own collections and from collect()", () => {
  const { heap, reclaimer } = fakeHeap();
  heap.used = heap.live = 30 * MiB;
  reclaimer.collect();
  heap.used = 10 * MiB; // V8 collected by itself
  assert.equal(reclaimer.trim(), false);
  heap.used = 11 * MiB;
  assert.equal(reclaimer.trim(), false, "1 MiB above the 10 MiB V8 left");
  heap.used = 12 * MiB;
  assert.equal(reclaimer.trim(), true, "2 MiB above the 10 MiB V8 left");
  heap.live = 12 * MiB;
  heap.used = 40 * MiB;
  assert.equal(reclaimer.collect(), true);
  heap.used = 13 * MiB;
  assert.equal(reclaimer.trim(), false, "1 MiB above what collect() left");
  assert.equal(heap.collections, 3);
});

Deno.test("HeapReclaimer does nothing when no collection can run (no --expose-gc)", () => {
  const { heap, reclaimer } = fakeHeap({ canCollect: false });
  heap.used = 10 * MiB;
  reclaimer.trim();
  heap.used = 50 * MiB;
  assert.equal(reclaimer.trim(), false);
  assert.equal(reclaimer.collect(), false);
});
