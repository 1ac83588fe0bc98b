import assert from "node:assert/strict";
import { TokenBucket } from "../../src/kube/mod.ts";

Deno.test("TokenBucket.reserve() lets a burst through at once, then spaces requests by 1/qps", () => {
  const bucket = new TokenBucket(5, 10);
  const waits = Array.from({ length: 12 }, () => bucket.reserve(0));
  assert.deepEqual(waits, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200, 400]);
});

Deno.test("TokenBucket.reserve() refills over time, never above the burst", () => {
  const bucket = new TokenBucket(2, 2);
  assert.equal(bucket.reserve(0), 0);
  assert.equal(bucket.reserve(0), 0);
  assert.equal(bucket.reserve(0), 500);
  // After a long quiet spell only `burst` tokens are available.
  assert.equal(bucket.reserve(60_000), 0);
  assert.equal(bucket.reserve(60_000), 0);
  assert.equal(bucket.reserve(60_000), 500);
});

Deno.test("TokenBucket with a negative qps does not limit (as client-go)", () => {
  const bucket = new TokenBucket(-1, 1);
  assert.equal(bucket.unlimited, true);
  assert.deepEqual([bucket.reserve(0), bucket.reserve(0), bucket.reserve(0)], [0, 0, 0]);
});
