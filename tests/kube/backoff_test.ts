import assert from "node:assert/strict";
import { Backoff } from "../../src/kube/mod.ts";

Deno.test("Backoff.next() doubles from the initial delay up to the 30 s cap by default", () => {
  const backoff = new Backoff({}, () => 0.999999);
  const delays = Array.from({ length: 8 }, () => backoff.next());
  assert.deepEqual(delays, [800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]);
});

Deno.test("Backoff.next() jitters each delay into the upper half of its nominal value", () => {
  const low = new Backoff({ initialMs: 1000, capMs: 4000 }, () => 0);
  assert.deepEqual([low.next(), low.next(), low.next(), low.next()], [500, 1000, 2000, 2000]);
  const mid = new Backoff({ initialMs: 1000, capMs: 4000 }, () => 0.5);
  assert.deepEqual([mid.next(), mid.next(), mid.next()], [750, 1500, 3000]);
});

Deno.test("Backoff.reset() starts again from the initial delay", () => {
  const backoff = new Backoff({ initialMs: 100, capMs: 1000 }, () => 0.999999);
  backoff.next();
  backoff.next();
  backoff.reset();
  assert.equal(backoff.attempts, 0);
  assert.equal(backoff.next(), 100);
});

Deno.test("Backoff.next() stays at the cap after very many failures", () => {
  const backoff = new Backoff({ initialMs: 800, capMs: 30_000 }, () => 0.999999);
  for (let i = 0; i < 2_000; i++) backoff.next();
  assert.equal(backoff.next(), 30_000);
});
