import assert from "node:assert/strict";
import { BoundedFrequencyRunner, RunnerIntervalError } from "../../src/sync/bounded_runner.ts";
import { ManualClock, settle } from "../fixtures/manual_clock.ts";

const T0 = Date.UTC(2025, 0, 1);

/** A runner over a work function that records start times (ms after T0) and can be told to fail. */
function setup(
  opts: { min?: number; max?: number; retry?: number; workMs?: number } = {},
) {
  const clock = new ManualClock(T0);
  const starts: number[] = [];
  let failNext = 0;
  let active = 0;
  let maxActive = 0;
  const runner = new BoundedFrequencyRunner(async () => {
    starts.push(clock.now() - T0);
    active++;
    maxActive = Math.max(maxActive, active);
    try {
      if (opts.workMs !== undefined) await clock.sleep(opts.workMs);
      if (failNext > 0) {
        failNext--;
        throw new Error("apply failed");
      }
    } finally {
      active--;
    }
  }, {
    name: "test",
    minIntervalMs: opts.min ?? 1_000,
    maxIntervalMs: opts.max ?? 30_000,
    retryIntervalMs: opts.retry ?? 30_000,
    clock,
  });
  return {
    clock,
    starts,
    runner,
    failTimes: (n: number) => (failNext = n),
    maxActive: () => maxActive,
  };
}

Deno.test("BoundedFrequencyRunner.run() runs at once when the runner is idle", async () => {
  const { runner, starts } = setup();
  runner.start();
  runner.run();
  await runner.whenIdle();
  assert.deepEqual(starts, [0]);
  await runner.stop();
});

Deno.test("BoundedFrequencyRunner.run() coalesces requests during the cooldown into one run minIntervalMs after the last", async () => {
  const { runner, starts, clock } = setup({ min: 1_000 });
  runner.start();
  runner.run();
  await runner.whenIdle();
  await clock.advance(100);
  runner.run();
  runner.run();
  runner.run();
  await clock.advance(800);
  assert.deepEqual(starts, [0], "no run before minIntervalMs has passed");
  await clock.advance(100);
  assert.deepEqual(starts, [0, 1_000]);
  await clock.advance(5_000);
  assert.deepEqual(starts, [0, 1_000], "the coalesced requests caused exactly one run");
  await runner.stop();
});

Deno.test("BoundedFrequencyRunner counts minIntervalMs from the end of a run, and never overlaps runs", async () => {
  const { runner, starts, clock, maxActive } = setup({ min: 1_000, workMs: 500 });
  runner.start();
  runner.run();
  await clock.advance(100);
  runner.run(); // arrives while the first run is still working
  await clock.advance(1_300); // first run ends at 500; 1400 < 500 + 1000
  assert.deepEqual(starts, [0]);
  await clock.advance(100);
  assert.deepEqual(starts, [0, 1_500]);
  await clock.advance(2_000);
  assert.equal(maxActive(), 1);
  await runner.stop();
});

Deno.test("BoundedFrequencyRunner runs every maxIntervalMs without any request", async () => {
  const { runner, starts, clock } = setup({ min: 1_000, max: 30_000 });
  runner.start();
  await clock.advance(29_999);
  assert.deepEqual(starts, []);
  await clock.advance(1);
  assert.deepEqual(starts, [30_000]);
  await clock.advance(30_000);
  assert.deepEqual(starts, [30_000, 60_000]);
  await runner.stop();
});

Deno.test("BoundedFrequencyRunner pushes the periodic run back after a requested one", async () => {
  const { runner, starts, clock } = setup({ min: 1_000, max: 30_000 });
  runner.start();
  await clock.advance(10_000);
  runner.run();
  await runner.whenIdle();
  await clock.advance(29_999);
  assert.deepEqual(starts, [10_000]);
  await clock.advance(1);
  assert.deepEqual(starts, [10_000, 40_000]);
  await runner.stop();
});

Deno.test("BoundedFrequencyRunner retries a failed run after retryIntervalMs", async () => {
  const { runner, starts, clock, failTimes } = setup({ min: 1_000, max: 60_000, retry: 5_000 });
  failTimes(2);
  runner.start();
  runner.run();
  await runner.whenIdle();
  await clock.advance(4_999);
  assert.deepEqual(starts, [0]);
  await clock.advance(1);
  assert.deepEqual(starts, [0, 5_000], "first retry");
  await clock.advance(5_000);
  assert.deepEqual(starts, [0, 5_000, 10_000], "second retry");
  await clock.advance(59_999);
  assert.deepEqual(starts, [0, 5_000, 10_000], "success cancelled the retry");
  await clock.advance(1);
  assert.deepEqual(starts, [0, 5_000, 10_000, 70_000], "back to maxIntervalMs");
  await runner.stop();
});

Deno.test("BoundedFrequencyRunner retries no later than maxIntervalMs when that is shorter", async () => {
  const { runner, starts, clock, failTimes } = setup({ min: 0, max: 2_000, retry: 30_000 });
  failTimes(1);
  runner.start();
  runner.run();
  await clock.advance(2_000);
  assert.deepEqual(starts, [0, 2_000]);
  await runner.stop();
});

Deno.test("BoundedFrequencyRunner with minIntervalMs 0 runs a request made during a run right after it", async () => {
  const { runner, starts, clock } = setup({ min: 0, workMs: 10 });
  runner.start();
  runner.run();
  runner.run();
  await clock.advance(10);
  await clock.advance(10);
  assert.deepEqual(starts, [0, 10]);
  await runner.stop();
});

Deno.test("BoundedFrequencyRunner.run() before start() is honoured by start()", async () => {
  const { runner, starts } = setup();
  runner.run();
  assert.deepEqual(starts, []);
  runner.start();
  await runner.whenIdle();
  assert.deepEqual(starts, [0]);
  await runner.stop();
});

Deno.test("BoundedFrequencyRunner.stop() waits for the run in progress and never runs again", async () => {
  const { runner, starts, clock } = setup({ workMs: 1_000 });
  runner.start();
  runner.run();
  await settle();
  let stopped = false;
  const stopping = runner.stop().then(() => (stopped = true));
  await settle();
  assert.equal(stopped, false, "the run is still working");
  await clock.advance(1_000);
  await stopping;
  runner.run();
  await clock.advance(120_000);
  assert.deepEqual(starts, [0]);
  assert.deepEqual(clock.pending, [], "no timer left armed");
});

Deno.test("BoundedFrequencyRunner rejects maxIntervalMs shorter than minIntervalMs", () => {
  assert.throws(
    () =>
      new BoundedFrequencyRunner(() => Promise.resolve(), {
        name: "sync-runner",
        minIntervalMs: 10_000,
        maxIntervalMs: 1_000,
        retryIntervalMs: 1_000,
      }),
    RunnerIntervalError,
  );
});
