import assert from "node:assert/strict";
import { reclaimGarbage } from "../src/reclaim.ts";

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
