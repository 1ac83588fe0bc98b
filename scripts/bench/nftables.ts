/**
 * nftables mode benchmark, side by side in one run (issue 5): for N Services × M endpoints of the
 * synthetic cluster, the cold-start load time of our ruleset vs an upstream-shaped ruleset
 * (Kubernetes 1.36: a chain per service port, endpoints in one anonymous `numgen` DNAT map,
 * per-endpoint chains and sets only with affinity; one transaction; see nft_upstream_shape.ts),
 * each loaded with `nft -f -` into a fresh network namespace, and the end-to-end time of a
 * one-endpoint incremental update (snapshot → advance → nft) through `NftablesBackend`.
 *
 * Two cluster variants: `mixed` is the synthetic cluster as generated (1 in 7 Services has
 * ClientIP affinity, which makes upstream's shape very slow: about 14,000 named sets at 10k), and
 * `no-affinity` the same cluster without affinity, which is what the issue's ~20 s baseline
 * measured. The mixed baseline at 10k takes minutes and is skipped unless `--mixed-baseline`.
 *
 * Root only (network namespaces). Run: `deno run -A scripts/bench/nftables.ts`
 * [`--sizes=1000,10000`] [`--endpoints=10`] [`--variants=mixed,no-affinity`] [`--mixed-baseline`]
 * [`--updates=5`].
 *
 * @module
 */

import type { V1Service } from "@kubernetes/client-node";
import type { RenderOptions } from "../../src/backend/backend.ts";
import { runNft } from "../../src/backend/nftables/apply.ts";
import { NftablesBackend } from "../../src/backend/nftables/backend.ts";
import { replaceTransaction } from "../../src/backend/nftables/render.ts";
import { objectCount } from "../../src/backend/nftables/ruleset.ts";
import { TableModel } from "../../src/backend/nftables/table_model.ts";
import { SILENT_LOGGER } from "../../src/log.ts";
import type { EndpointTable } from "../../src/model/mod.ts";
import { type CommandRunner, DenoCommandRunner, NetnsRunner } from "../../src/runner.ts";
import { upstreamShapeTransaction } from "./nft_upstream_shape.ts";
import {
  makeSyntheticCluster,
  syncedTableOf,
  type SyntheticCluster,
  withEndpointReadyFlipped,
} from "./synthetic_cluster.ts";

/** Cluster variants. */
export type NftBenchVariant = "mixed" | "no-affinity";

/** Options of {@linkcode benchNftables}. */
export interface NftBenchOptions {
  /** Service counts. @default [1000, 10000] */
  readonly sizes?: readonly number[];
  /** Endpoints per Service. @default 10 */
  readonly endpoints?: number;
  /** @default ["mixed", "no-affinity"] */
  readonly variants?: readonly NftBenchVariant[];
  /** Also load the mixed baseline above 1,000 Services (minutes at 10k). @default false */
  readonly mixedBaseline?: boolean;
  /** One-endpoint updates to time (the median is reported). @default 5 */
  readonly updates?: number;
}

/** One measured configuration; times in milliseconds, null when skipped. */
export interface NftBenchResult {
  readonly services: number;
  readonly endpoints: number;
  readonly variant: NftBenchVariant;
  /** Map elements plus rules in our ruleset. */
  readonly statements: number;
  /** TableModel.build + toRuleset + transaction text. */
  readonly renderMs: number;
  /** `nft -f -` of our start-up transaction into an empty namespace. */
  readonly oursLoadMs: number;
  /** The same for the upstream-shaped transaction. */
  readonly baselineLoadMs: number | null;
  /** baseline / ours. */
  readonly speedup: number | null;
  /** Median end-to-end time of a one-endpoint update of a plain ClusterIP Service. */
  readonly updateMs: number;
  /** Median end-to-end time of a one-endpoint update of a Service with ClientIP affinity. */
  readonly affinityUpdateMs: number | null;
}

const OPTIONS: RenderOptions = Object.freeze({
  masqueradeBit: 14,
  masqueradeAll: false,
  localhostNodePorts: true,
  nodePortAddresses: Object.freeze(["primary"]) as readonly string[],
});

const real = new DenoCommandRunner();
let namespaces = 0;

async function withNamespace<T>(body: (runner: CommandRunner) => Promise<T>): Promise<T> {
  const name = `dkp-bench-${Deno.pid}-${++namespaces}`;
  const add = await real.run("ip", ["netns", "add", name]);
  if (add.code !== 0) throw new Error(`ip netns add ${name} failed: ${add.stderr.trim()}`);
  try {
    return await body(new NetnsRunner(real, name));
  } finally {
    await real.run("ip", ["netns", "delete", name]);
  }
}

function variantOf(cluster: SyntheticCluster, variant: NftBenchVariant): SyntheticCluster {
  if (variant === "mixed") return cluster;
  const services = cluster.services.map((s): V1Service => {
    const { sessionAffinityConfig: _dropped, ...spec } = s.spec ?? {};
    return { ...s, spec: { ...spec, sessionAffinity: "None" } };
  });
  return { ...cluster, services };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

/** Times one-endpoint updates of `index`'s slice through the backend; null if not applicable. */
async function updates(
  cluster: SyntheticCluster,
  table: EndpointTable,
  backend: NftablesBackend,
  index: number,
  count: number,
): Promise<number> {
  let slice = cluster.slices[index];
  if (slice === undefined) return NaN;
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const next = withEndpointReadyFlipped(slice, 3);
    table.onEndpointSliceUpdate(slice, next);
    slice = next;
    times.push(
      await timed(async () => {
        await backend.sync({ snapshot: table.snapshot(), full: false });
      }),
    );
  }
  return median(times);
}

async function measure(
  services: number,
  endpoints: number,
  variant: NftBenchVariant,
  withBaseline: boolean,
  updateCount: number,
): Promise<NftBenchResult> {
  const cluster = variantOf(
    makeSyntheticCluster({ services, endpointsPerService: endpoints }),
    variant,
  );
  const table = syncedTableOf(cluster);
  const snapshot = table.snapshot();

  let lines: string[] = [];
  let statements = 0;
  const renderMs = await timed(() => {
    const ruleset = TableModel.build(snapshot.v4, OPTIONS).toRuleset();
    lines = replaceTransaction(ruleset);
    statements = objectCount(ruleset);
    return Promise.resolve();
  });
  const oursLoadMs = await withNamespace((runner) =>
    timed(() => runNft(runner, "IPv4", lines, 30 * 60_000))
  );
  lines = [];

  let baselineLoadMs: number | null = null;
  if (withBaseline) {
    const baseline = upstreamShapeTransaction(snapshot.v4, OPTIONS);
    baselineLoadMs = await withNamespace((runner) =>
      timed(() => runNft(runner, "IPv4", baseline, 30 * 60_000))
    );
  }

  // Index 5 is a ClusterIP Service without affinity; 7 a NodePort with ClientIP affinity.
  const [updateMs, affinityUpdateMs] = await withNamespace(async (runner) => {
    const backend = new NftablesBackend(
      { runner, log: SILENT_LOGGER, options: OPTIONS, applyTimeoutMs: 30 * 60_000 },
      { cleanupOtherModes: null },
    );
    await backend.sync({ snapshot: table.snapshot(), full: true });
    const plain = await updates(cluster, table, backend, 5, updateCount);
    const sticky = variant === "mixed"
      ? await updates(cluster, table, backend, 7, updateCount)
      : null;
    return [plain, sticky] as const;
  });

  return {
    services,
    endpoints,
    variant,
    statements,
    renderMs,
    oursLoadMs,
    baselineLoadMs,
    speedup: baselineLoadMs === null ? null : baselineLoadMs / oursLoadMs,
    updateMs,
    affinityUpdateMs,
  };
}

const ms = (v: number | null) => v === null ? "skipped" : `${Math.round(v)} ms`;

/** Runs the benchmark, prints a Markdown table, returns the numbers. */
export async function benchNftables(options: NftBenchOptions = {}): Promise<NftBenchResult[]> {
  const sizes = options.sizes ?? [1000, 10000];
  const endpoints = options.endpoints ?? 10;
  const variants = options.variants ?? ["mixed", "no-affinity"];
  const results: NftBenchResult[] = [];
  const print = (line: string) => Deno.stdout.writeSync(new TextEncoder().encode(line + "\n"));
  print(
    "| cluster | variant | elements+rules | render | ours: cold load | upstream shape: cold load " +
      "| speed-up | 1-endpoint update | 1-endpoint update (affinity) |",
  );
  print("|---|---|---|---|---|---|---|---|---|");
  for (const services of sizes) {
    for (const variant of variants) {
      const withBaseline = variant !== "mixed" || services <= 1000 ||
        options.mixedBaseline === true;
      const r = await measure(services, endpoints, variant, withBaseline, options.updates ?? 5);
      results.push(r);
      const goal = services >= 10000 && r.speedup !== null
        ? (r.speedup >= 10 ? " (goal ≥10×: met)" : " (goal ≥10×: missed)")
        : "";
      const upd = `${ms(r.updateMs)}${r.updateMs <= 100 ? "" : " (goal ≤100 ms: missed)"}`;
      print(
        `| ${services} × ${endpoints} | ${variant} | ${r.statements} | ${ms(r.renderMs)} | ` +
          `${ms(r.oursLoadMs)} | ${ms(r.baselineLoadMs)} | ` +
          `${r.speedup === null ? "–" : `${r.speedup.toFixed(1)}×`}${goal} | ${upd} | ` +
          `${r.affinityUpdateMs === null ? "–" : ms(r.affinityUpdateMs)} |`,
      );
    }
  }
  return results;
}

if (import.meta.main) {
  const arg = (name: string) =>
    Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const sizes = arg("sizes")?.split(",").map(Number);
  const variants = arg("variants")?.split(",") as NftBenchVariant[] | undefined;
  await benchNftables({
    ...(sizes === undefined ? {} : { sizes }),
    ...(arg("endpoints") === undefined ? {} : { endpoints: Number(arg("endpoints")) }),
    ...(variants === undefined ? {} : { variants }),
    ...(arg("updates") === undefined ? {} : { updates: Number(arg("updates")) }),
    mixedBaseline: Deno.args.includes("--mixed-baseline"),
  });
}
