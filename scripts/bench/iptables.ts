/**
 * iptables mode benchmark: full render time against the `iptables-restore` time of the same text
 * (the issue's goal: render ≤ 5% of restore), and a partial sync for one changed endpoint, end
 * to end (event → snapshot → render → restore; goal ≤ 100 ms at 10k services). Prints a Markdown
 * table and returns the numbers. Not a test: goals are reported, never enforced.
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc scripts/bench/iptables.ts \
 *   [--sizes=1000,10000] [--endpoints=10] [--restore-max=1000] [--partial-size=N] [--legacy]
 * ```
 *
 * Restores run in a throwaway network namespace (root only; otherwise render times alone are
 * reported). iptables-nft needs minutes for 10k services × 10 endpoints, so by default only sizes
 * up to `--restore-max` are restored; `--legacy` uses iptables-legacy, which copes with 10k.
 *
 * @module
 */

import { IptablesBackend } from "../../src/backend/iptables/backend.ts";
import { renderIptables } from "../../src/backend/iptables/render.ts";
import type { RenderOptions } from "../../src/backend/backend.ts";
import { SILENT_LOGGER } from "../../src/log.ts";
import type { V1EndpointSlice } from "@kubernetes/client-node";
import type { EndpointTable, TableSnapshot } from "../../src/model/mod.ts";
import type { CommandResult, CommandRunner, RunOptions } from "../../src/runner.ts";
import { createNamespace, kernelTestSkipReason } from "../../tests/fixtures/netns.ts";
import {
  makeSyntheticCluster,
  syncedTableOf,
  withEndpointReadyFlipped,
} from "./synthetic_cluster.ts";

/** What to measure. */
export interface IptablesBenchOptions {
  /** Service counts of the full-render rows. @default [1000, 10000] */
  readonly sizes?: readonly number[];
  /** Endpoints per Service. @default 10 */
  readonly endpoints?: number;
  /** Largest size restored into the kernel. @default 1000 (10000 with `legacy`) */
  readonly restoreMax?: number;
  /** Service count of the end-to-end partial sync. @default the largest restored size */
  readonly partialSize?: number;
  /** Partial syncs to time. @default 5 */
  readonly partialRuns?: number;
  /** Use iptables-legacy instead of the host's default iptables. @default false */
  readonly legacy?: boolean;
}

/** One full-render row. */
export interface FullRenderRow {
  readonly services: number;
  readonly endpoints: number;
  readonly lines: number;
  readonly mebibytes: number;
  /** First render: chain names hashed. */
  readonly renderColdMs: number;
  /** Median of later renders (names cached on the model's objects). */
  readonly renderWarmMs: number;
  /** `iptables-restore` of that text into an empty namespace (the backend's first full sync). */
  readonly restoreMs: number | null;
  /** renderColdMs / restoreMs. */
  readonly ratio: number | null;
}

/** The one-endpoint partial sync. */
export interface PartialSyncRow {
  readonly services: number;
  readonly runs: number;
  /** Median `EndpointTable` update + snapshot. */
  readonly snapshotMs: number;
  /** Median partial render alone. */
  readonly renderMs: number;
  /** Median restore lines written. */
  readonly lines: number;
  /** Median `backend.sync()` (render + iptables-restore), or null without a kernel. */
  readonly syncMs: number | null;
  /** Median event → rules in the kernel, or null without a kernel. */
  readonly endToEndMs: number | null;
}

/** Everything measured. */
export interface IptablesBenchResult {
  readonly tool: string;
  readonly full: readonly FullRenderRow[];
  readonly partial: PartialSyncRow;
  /** Why kernel numbers are missing, if they are. */
  readonly kernelSkipped: string | null;
}

const OPTIONS: RenderOptions = {
  masqueradeBit: 14,
  masqueradeAll: false,
  localhostNodePorts: true,
  nodePortAddresses: [],
};

const encoder = new TextEncoder();

function print(line = ""): void {
  Deno.stdout.writeSync(encoder.encode(line + "\n"));
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[mid] ?? NaN
    : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

/** Runs the `iptables*` tools as their `-legacy` variants. */
class LegacyRunner implements CommandRunner {
  constructor(private readonly inner: CommandRunner) {}

  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult> {
    const legacy = command.replace(/^(ip6?tables)(-save|-restore)?$/, "$1-legacy$2");
    return this.inner.run(legacy, args, options);
  }
}

/** Remembers how long each `*-restore` call took. */
class TimingRunner implements CommandRunner {
  /** Durations of the restore calls, in order. */
  readonly restoreMs: number[] = [];

  constructor(private readonly inner: CommandRunner) {}

  async run(
    command: string,
    args: readonly string[],
    options?: RunOptions,
  ): Promise<CommandResult> {
    const t = performance.now();
    const result = await this.inner.run(command, args, options);
    if (command.endsWith("-restore")) this.restoreMs.push(performance.now() - t);
    return result;
  }
}

/** Runs the benchmark and prints its table. */
export async function benchIptables(opts: IptablesBenchOptions = {}): Promise<IptablesBenchResult> {
  const sizes = opts.sizes ?? [1000, 10000];
  const perService = opts.endpoints ?? 10;
  const legacy = opts.legacy ?? false;
  const restoreMax = opts.restoreMax ?? (legacy ? 10000 : 1000);
  const runs = opts.partialRuns ?? 5;
  const kernelSkipped = await kernelTestSkipReason();
  const kernel = kernelSkipped === null;
  const tool = legacy ? "iptables-legacy-restore" : "iptables-restore";
  const restorable = sizes.filter((s) => s <= restoreMax);
  const partialSize = opts.partialSize ??
    (kernel && restorable.length > 0 ? Math.max(...restorable) : Math.max(...sizes));

  const full: FullRenderRow[] = [];
  let partial: PartialSyncRow | null = null;
  for (const services of [...new Set([...sizes, partialSize])].sort((a, b) => a - b)) {
    const cluster = makeSyntheticCluster({ services, endpointsPerService: perService });
    const table = syncedTableOf(cluster);
    const snapshot = table.snapshot();
    gc();
    let t = performance.now();
    const first = renderIptables({ snapshot: snapshot.v4, options: OPTIONS, full: true });
    const renderColdMs = performance.now() - t;
    const warm: number[] = [];
    for (let i = 0; i < 3; i++) {
      gc();
      t = performance.now();
      renderIptables({ snapshot: snapshot.v4, options: OPTIONS, full: true });
      warm.push(performance.now() - t);
    }
    let restoreMs: number | null = null;
    const slices = [...cluster.slices];
    if (kernel && services <= restoreMax) {
      const ns = await createNamespace(`ipt-bench-${services}`);
      try {
        const runner = new TimingRunner(legacy ? new LegacyRunner(ns.runner) : ns.runner);
        const backend = new IptablesBackend(
          { runner, log: SILENT_LOGGER, options: OPTIONS, applyTimeoutMs: 60 * 60_000 },
          { hostAddresses: () => null },
        );
        // A full sync writes the text measured above (IPv6 adds a tiny second restore).
        await backend.sync({ snapshot, full: true });
        restoreMs = runner.restoreMs[0] ?? null;
        if (services === partialSize) {
          partial = await partialSyncs(table, slices, runs, perService, backend);
        }
      } finally {
        await ns.remove();
      }
    }
    if (services === partialSize && partial === null) {
      partial = await partialSyncs(table, slices, runs, perService, null);
    }
    if (sizes.includes(services)) {
      full.push({
        services,
        endpoints: services * perService,
        lines: first.lines.length,
        mebibytes: first.bytes / 2 ** 20,
        renderColdMs,
        renderWarmMs: median(warm),
        restoreMs,
        ratio: restoreMs === null ? null : renderColdMs / restoreMs,
      });
    }
  }

  const result: IptablesBenchResult = { tool, full, partial: partial!, kernelSkipped };
  printTable(result);
  return result;
}

/**
 * Flips one endpoint's readiness `runs` times; with a backend (already fully synced), also
 * applies each change through it.
 */
async function partialSyncs(
  table: EndpointTable,
  slices: V1EndpointSlice[],
  runs: number,
  perService: number,
  backend: IptablesBackend | null,
): Promise<PartialSyncRow> {
  const snapshotMs: number[] = [];
  const renderMs: number[] = [];
  const lines: number[] = [];
  const syncMs: number[] = [];
  const endToEndMs: number[] = [];
  let snapshot: TableSnapshot = table.snapshot();
  let state = renderIptables({ snapshot: snapshot.v4, options: OPTIONS, full: true }).state;
  for (let i = 0; i < runs; i++) {
    const k = (i * 7919) % slices.length;
    const next = withEndpointReadyFlipped(slices[k]!, i % perService);
    gc();
    const t0 = performance.now();
    table.onEndpointSliceUpdate(slices[k]!, next);
    slices[k] = next;
    snapshot = table.snapshot();
    const t1 = performance.now();
    if (backend !== null) {
      const outcome = await backend.sync({ snapshot, full: false });
      const t2 = performance.now();
      if (outcome.kind !== "partial") {
        throw new Error(`expected a partial sync, got ${outcome.kind}`);
      }
      syncMs.push(t2 - t1);
      endToEndMs.push(t2 - t0);
    }
    // The render alone, from the same previous state, for the breakdown.
    const t3 = performance.now();
    const r = renderIptables({
      snapshot: snapshot.v4,
      options: OPTIONS,
      full: false,
      previous: state,
      changed: snapshot.changed,
    });
    renderMs.push(performance.now() - t3);
    snapshotMs.push(t1 - t0);
    lines.push(r.lines.length);
    state = r.state;
  }
  return {
    services: slices.length,
    runs,
    snapshotMs: median(snapshotMs),
    renderMs: median(renderMs),
    lines: median(lines),
    syncMs: syncMs.length === 0 ? null : median(syncMs),
    endToEndMs: endToEndMs.length === 0 ? null : median(endToEndMs),
  };
}

function ms(v: number | null): string {
  if (v === null) return "–";
  return v < 10 ? `${v.toFixed(2)} ms` : `${v.toFixed(0)} ms`;
}

function printTable(r: IptablesBenchResult): void {
  print(`### iptables mode (${r.tool})`);
  print();
  if (r.kernelSkipped !== null) print(`Kernel numbers skipped: ${r.kernelSkipped}.\n`);
  print("| measurement | value | goal |");
  print("| --- | --- | --- |");
  for (const f of r.full) {
    const size = `${f.services} services × ${f.endpoints / f.services} endpoints`;
    print(
      `| full render, ${size} (${f.lines} lines, ${f.mebibytes.toFixed(1)} MiB), first | ${
        ms(f.renderColdMs)
      } | |`,
    );
    print(`| full render, ${size}, names cached (median of 3) | ${ms(f.renderWarmMs)} | |`);
    print(`| ${r.tool} of that text, ${size} | ${ms(f.restoreMs)} | |`);
    const verdict = f.ratio === null ? "≤ 5%" : `≤ 5%: ${f.ratio <= 0.05 ? "met" : "missed"}`;
    print(
      `| render / restore, ${size} | ${
        f.ratio === null ? "–" : `${(f.ratio * 100).toFixed(1)}%`
      } | ${verdict} |`,
    );
  }
  const p = r.partial;
  const size = `${p.services} services`;
  print(
    `| one endpoint changed, ${size}: table update + snapshot (median of ${p.runs}) | ${
      ms(p.snapshotMs)
    } | |`,
  );
  print(
    `| one endpoint changed, ${size}: partial render (${p.lines} lines) | ${ms(p.renderMs)} | |`,
  );
  print(`| one endpoint changed, ${size}: backend.sync() incl. restore | ${ms(p.syncMs)} | |`);
  const e2e = p.endToEndMs;
  print(
    `| one endpoint changed, ${size}: end to end | ${ms(e2e)} | ≤ 100 ms${
      e2e === null ? "" : `: ${e2e <= 100 ? "met" : "missed"}`
    } |`,
  );
}

function flag(name: string): string | undefined {
  const prefix = `--${name}=`;
  return Deno.args.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

if (import.meta.main) {
  const sizes = flag("sizes")?.split(",").map(Number);
  const endpoints = flag("endpoints");
  const restoreMax = flag("restore-max");
  const partialSize = flag("partial-size");
  const partialRuns = flag("runs");
  await benchIptables({
    ...(sizes === undefined ? {} : { sizes }),
    ...(endpoints === undefined ? {} : { endpoints: Number(endpoints) }),
    ...(restoreMax === undefined ? {} : { restoreMax: Number(restoreMax) }),
    ...(partialSize === undefined ? {} : { partialSize: Number(partialSize) }),
    ...(partialRuns === undefined ? {} : { partialRuns: Number(partialRuns) }),
    legacy: Deno.args.includes("--legacy"),
  });
}
