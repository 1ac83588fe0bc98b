import assert from "node:assert/strict";
import {
  type ClusterState,
  decodeState,
  STATE_WRITE_BYTES_PER_SECOND,
  StateSaver,
} from "../../src/state/mod.ts";
import { TEST_NODE_NAME } from "../fixtures/k8s_builders.ts";
import { ManualClock } from "../fixtures/manual_clock.ts";
import { MemoryFiles } from "../fixtures/memory_files.ts";
import { MemoryLogger } from "../fixtures/memory_logger.ts";

const PATH = "/var/lib/kube-proxy/state.json";

function setup(initial: ClusterState | null = state(1)) {
  const clock = new ManualClock();
  const files = new MemoryFiles();
  const log = new MemoryLogger();
  let current: ClusterState | null = initial;
  /** Files renamed into place when each trim was offered. */
  const trims: number[] = [];
  const saver = new StateSaver(PATH, 5_000, {
    fs: files,
    clock,
    log,
    snapshot: () => current,
    trim: () => void trims.push(files.renames),
  });
  return {
    clock,
    files,
    log,
    saver,
    trims,
    set: (s: ClusterState | null) => {
      current = s;
    },
  };
}

function state(services: number): ClusterState {
  return {
    nodeName: TEST_NODE_NAME,
    savedAt: "2026-01-01T00:00:00.000Z",
    services: Array.from(
      { length: services },
      (_, i) => ({ metadata: { namespace: "ns", name: `s${i}` } }),
    ),
    endpointSlices: [],
    node: null,
  };
}

/** Marks a change and lets the first write happen, one interval later. */
async function firstWrite(t: ReturnType<typeof setup>): Promise<void> {
  const waiting = t.clock.nextSleep((ms) => ms === 5_000);
  t.saver.markDirty();
  t.clock.jump(await waiting);
  await t.files.waitForRenames(1);
}

function savedServices(files: MemoryFiles): number {
  return decodeState(files.files.get(PATH) ?? "", PATH).services.length;
}

Deno.test("StateSaver writes the first change one interval later (not during the first sync) and coalesces later ones into one write per interval", async () => {
  const t = setup();
  const first = t.clock.nextSleep((ms) => ms === 5_000);
  t.saver.markDirty();
  await first;
  assert.equal(t.files.renames, 0, "nothing is written at once");
  t.clock.jump(5_000);
  await t.files.waitForRenames(1);
  assert.equal(savedServices(t.files), 1);

  const waiting = t.clock.nextSleep((ms) => ms === 5_000);
  t.set(state(2));
  t.saver.markDirty();
  t.set(state(3));
  t.saver.markDirty();
  await waiting;
  assert.equal(t.files.renames, 1);
  t.clock.jump(5_000);
  await t.files.waitForRenames(2);
  assert.equal(savedServices(t.files), 3);
  await t.saver.stop();
  assert.equal(t.files.renames, 2);
  assert.deepEqual(t.trims, [1, 2], "a trim is offered after each write, once it is in place");
});

Deno.test("StateSaver.stop() writes a pending change without waiting for the interval", async () => {
  const t = setup();
  await firstWrite(t);
  const waiting = t.clock.nextSleep((ms) => ms === 5_000);
  t.set(state(4));
  t.saver.markDirty();
  await waiting;
  await t.saver.stop();
  assert.equal(savedServices(t.files), 4);
  t.saver.markDirty();
  assert.equal(t.files.renames, 2, "nothing is written after stop()");
});

Deno.test("StateSaver writes nothing while there is no complete state", async () => {
  const t = setup(null);
  t.saver.markDirty();
  await t.saver.flush();
  assert.deepEqual(t.files.log, []);
});

Deno.test("StateSaver reports a full disk once, keeps the old file and retries with growing delays", async () => {
  const t = setup();
  await firstWrite(t);
  t.files.fail("writeSynced", new Error("No space left on device (os error 28)"), 2);
  t.set(state(2));
  const firstRetry = t.clock.nextSleep((ms) => ms === 5_000);
  t.saver.markDirty();
  t.clock.jump(await firstRetry);
  const secondRetry = await t.clock.nextSleep((ms) => ms > 5_000);
  assert.equal(secondRetry, 10_000);
  assert.equal(savedServices(t.files), 1, "the old file is intact");
  assert.deepEqual(
    t.log.lines.filter((l) => l.startsWith("W ")),
    [
      `W Cannot save the state file; rules are unaffected, retrying later path=${PATH} ` +
      `err=Cannot write state file "${PATH}": No space left on device (os error 28)`,
    ],
  );
  const third = t.clock.nextSleep((ms) => ms === 20_000);
  t.clock.jump(10_000);
  await third;
  assert.ok(t.log.lines.some((l) => l.startsWith("I Still cannot save the state file")));
  t.clock.jump(20_000);
  await t.files.waitForRenames(2);
  await t.saver.stop();
  assert.equal(savedServices(t.files), 2);
  assert.ok(t.log.lines.includes(`I State file saved again path=${PATH}`));
  assert.deepEqual(t.trims, [1, 2], "failed writes offer no trim");
});

Deno.test("StateSaver spaces writes of a large file by its size (64 KiB/s), not every interval", async () => {
  // ~1.3 MB of state: the next write may come only ~20 s after the last, not 5 s.
  const t = setup(state(20_000));
  await firstWrite(t);
  const bytes = new TextEncoder().encode(t.files.files.get(PATH) ?? "").length;
  const spacing = (bytes / STATE_WRITE_BYTES_PER_SECOND) * 1000;
  assert.ok(spacing > 5_000, `a ${bytes}-byte file should wait longer than the interval`);
  const waiting = t.clock.nextSleep((ms) => Math.abs(ms - spacing) < 1);
  t.set(state(20_001));
  t.saver.markDirty();
  await waiting;
  t.clock.jump(5_000);
  assert.equal(t.files.renames, 1, "not written after the 5 s interval alone");
  await t.saver.stop();
  assert.equal(savedServices(t.files), 20_001);
});
