/**
 * Property tests over random but valid cluster states: both backends' `renderFull()` is
 * deterministic (same snapshot twice, same objects in another order) and every render is
 * accepted by the kernel tools (`iptables-restore --test`, `ip6tables-restore --test`,
 * `nft -c -f`) inside a throwaway namespace.
 *
 * Counts are tunable for longer local runs: `FUZZ_CASES` (default 2000) states through the pure
 * checks, `FUZZ_KERNEL_CASES` (default 30) through the kernel tools, `FUZZ_SEED` the first seed.
 * A failure names the seed; `FUZZ_SEED=<seed> FUZZ_CASES=1` replays it.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { RenderOptions } from "../../src/backend/backend.ts";
import { IptablesBackend } from "../../src/backend/iptables/backend.ts";
import { NftablesBackend } from "../../src/backend/nftables/backend.ts";
import { SILENT_LOGGER } from "../../src/log.ts";
import type { TableSnapshot } from "../../src/model/mod.ts";
import { ignoreKernelTests, withNamespace } from "../fixtures/netns.ts";
import { RecordingRunner } from "../fixtures/recording_runner.ts";
import { rejections, toolChecks } from "./_kernel_tools.ts";
import { randomCluster, tableFrom } from "./_random_cluster.ts";
import { Rng } from "../fixtures/rng.ts";

const ignore = await ignoreKernelTests();

function envInt(name: string, fallback: number): number {
  const raw = Deno.env.get(name);
  const value = raw === undefined ? NaN : Number(raw);
  return Number.isSafeInteger(value) && value >= 0 ? value : fallback;
}

const CASES = envInt("FUZZ_CASES", 2000);
const KERNEL_CASES = envInt("FUZZ_KERNEL_CASES", 30);
const FIRST_SEED = envInt("FUZZ_SEED", 20261126);

/** Render options drawn per case, so masquerade bits and nodePortAddresses vary too. */
function randomOptions(seed: number): RenderOptions {
  const rng = new Rng(seed ^ 0x5bd1e995);
  return {
    masqueradeBit: rng.pick([14, 0, 31, 7]),
    masqueradeAll: rng.chance(0.2),
    localhostNodePorts: rng.chance(0.7),
    nodePortAddresses: rng.pick([[], ["primary"], ["192.168.0.0/24", "2001:db8::/64"]]),
  };
}

function iptables(options: RenderOptions): IptablesBackend {
  return new IptablesBackend({ runner: new RecordingRunner(), log: SILENT_LOGGER, options }, {
    hostAddresses: () => null,
  });
}

function nftables(options: RenderOptions): NftablesBackend {
  return new NftablesBackend({ runner: new RecordingRunner(), log: SILENT_LOGGER, options }, {
    cleanupOtherModes: null,
  });
}

/** Runs `check` for every seed, naming the seed in the failure. */
function forEachSeed(count: number, check: (seed: number) => void): void {
  for (let n = 0; n < count; n++) {
    const seed = FIRST_SEED + n;
    try {
      check(seed);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(`fuzz case failed with FUZZ_SEED=${seed}: ${message}`, { cause: error });
    }
  }
}

Deno.test(`renderFull() of both backends is byte-identical for the same snapshot rendered twice (${CASES} random clusters)`, () => {
  forEachSeed(CASES, (seed) => {
    const cluster = randomCluster(seed);
    const options = randomOptions(seed);
    const snapshot: TableSnapshot = tableFrom(cluster).snapshot();
    for (const make of [iptables, nftables]) {
      const first = make(options).renderFull(snapshot);
      assert.equal(make(options).renderFull(snapshot), first, `${make.name} differs`);
    }
  });
});

Deno.test(`renderFull() of both backends does not depend on the order objects arrived in (${CASES} random clusters)`, () => {
  forEachSeed(CASES, (seed) => {
    const cluster = randomCluster(seed);
    const options = randomOptions(seed);
    const rng = new Rng(seed * 31 + 7);
    const inOrder = tableFrom(cluster).snapshot();
    const shuffled = tableFrom({
      node: cluster.node,
      services: rng.shuffle(cluster.services),
      slices: rng.shuffle(cluster.slices),
    }, rng.chance(0.5) ? "slices-first" : "as-is").snapshot();
    for (const make of [iptables, nftables]) {
      assert.equal(
        make(options).renderFull(shuffled),
        make(options).renderFull(inOrder),
        `${make.name} depends on arrival order`,
      );
    }
  });
});

Deno.test({
  name:
    `renderFull() of both backends is accepted by iptables-restore --test, ip6tables-restore --test (also legacy, when installed) and nft -c -f (${KERNEL_CASES} random clusters)`,
  ignore,
  async fn() {
    await withNamespace("fuzz", async (ns) => {
      for (let n = 0; n < KERNEL_CASES; n++) {
        // Bigger clusters than the pure checks: fewer runs, more rules per run.
        const seed = FIRST_SEED + 1_000_000 + n;
        const cluster = randomCluster(seed, 40);
        const options = randomOptions(seed);
        const snapshot = tableFrom(cluster).snapshot();
        const checks = await toolChecks(
          iptables(options).renderFull(snapshot),
          nftables(options).renderFull(snapshot),
        );
        const failed = await rejections(ns, checks);
        assert.deepEqual(
          failed,
          [],
          `render of FUZZ_SEED=${seed} (kernel cases start at FUZZ_SEED+1000000) rejected`,
        );
      }
    });
  },
});
