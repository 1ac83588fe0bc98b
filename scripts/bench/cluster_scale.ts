/**
 * The cluster-scale benchmark (issue 9): for each synthetic cluster size and proxy mode, how long
 * a node takes to come up, how fast one endpoint change reaches the kernel, and what it costs in
 * memory, with nftables mode side by side with an upstream-shaped ruleset.
 *
 * Every (size, mode) runs in a fresh `deno run` child ({@linkcode runClusterScale}), so the peak
 * RSS it reports (`VmHWM`) belongs to that run alone, and a run that blows its time budget can be
 * stopped without losing the others. The child ({@linkcode measureRun}) does, in order:
 *
 * 1. snapshot: every Service/EndpointSlice/Node event into an `EndpointTable`, then `snapshot()`;
 *    heap after a GC;
 * 2. full render of the IPv4 rules (what the backend's first sync writes), size of the text;
 * 3. kernel apply: the backend's first full sync into a throwaway network namespace; the tool's
 *    own time (`iptables-restore` / `nft -f`) and peak RSS, and render / apply;
 * 4. one-endpoint changes: event → snapshot → `backend.sync({ full: false })` resolved (the
 *    rules are committed when the tool exits), median and p95;
 * 5. our peak RSS, read before the baseline so it does not count the baseline's strings;
 * 6. nftables only: the same snapshot in upstream's shape (nft_upstream_shape.ts) loaded into a
 *    fresh namespace, and the speed-up of our cold load over it.
 *
 * Kernel steps need root; elsewhere they are reported as skipped with the reason.
 *
 * Run alone: `deno run -A --v8-flags=--expose-gc scripts/bench/cluster_scale.ts [--sizes=1k,10k]
 * [--modes=iptables,nftables] [--budget=10k:600] [--changes=25] [--json=dist/bench.json]`.
 *
 * @module
 */

import type { V1EndpointSlice } from "@kubernetes/client-node";
import type { ProxyBackend, RenderOptions } from "../../src/backend/backend.ts";
import { IptablesBackend } from "../../src/backend/iptables/backend.ts";
import { renderIptables } from "../../src/backend/iptables/render.ts";
import { lineChunks } from "../../src/backend/line_chunks.ts";
import { NftablesBackend } from "../../src/backend/nftables/backend.ts";
import { runNft } from "../../src/backend/nftables/apply.ts";
import { replaceTransactionFrom } from "../../src/backend/nftables/render.ts";
import { TableModel } from "../../src/backend/nftables/table_model.ts";
import { SILENT_LOGGER } from "../../src/log.ts";
import type { EndpointTable } from "../../src/model/mod.ts";
import {
  type CommandResult,
  type CommandRunner,
  DenoCommandRunner,
  type RunOptions,
} from "../../src/runner.ts";
import { createNamespace, kernelTestSkipReason } from "../../tests/fixtures/netns.ts";
import {
  type BenchMode,
  budgetFor,
  type Budgets,
  buildReport,
  type ClusterRunResult,
  type ClusterScaleReport,
  type ClusterSize,
  type CommandTime,
  emptyResult,
  formatClusterTable,
  median,
  parseBudgets,
  parseModes,
  parseSizes,
  percentile,
  sizeLabel,
} from "./cluster_report.ts";
import { upstreamShapeTransaction } from "./nft_upstream_shape.ts";
import { V8_FLAGS_OPTION } from "../compile.ts";
import { gnuTimePath, maxPeak, peakRssMiB, PeakRssRunner, type ToolRun } from "./rss.ts";
import {
  makeSyntheticCluster,
  syncedTableOf,
  withEndpointReadyFlipped,
} from "./synthetic_cluster.ts";

/** How one child run measures. */
export interface MeasureOptions {
  /** Run the kernel steps (root, tools present); false: render-only. */
  readonly kernel: boolean;
  /** Milliseconds this run may take in all. */
  readonly budgetMs: number;
  /** One-endpoint changes to time. @default 25 */
  readonly changes?: number;
  /** nftables: also load the upstream-shaped baseline. @default true */
  readonly baseline?: boolean;
  /** iptables: use `iptables-legacy-restore` instead of the host's default. @default false */
  readonly iptablesLegacy?: boolean;
  /** Called with the result so far after every step (the child saves it, for budget kills). */
  readonly onProgress?: (partial: ClusterRunResult) => void;
}

const IPTABLES_OPTIONS: RenderOptions = Object.freeze({
  masqueradeBit: 14,
  masqueradeAll: false,
  localhostNodePorts: true,
  nodePortAddresses: Object.freeze([]) as readonly string[],
});

const NFTABLES_OPTIONS: RenderOptions = Object.freeze({
  masqueradeBit: 14,
  masqueradeAll: false,
  localhostNodePorts: true,
  nodePortAddresses: Object.freeze(["primary"]) as readonly string[],
});

const MIB = 1024 * 1024;

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function heapMiB(): number {
  gc();
  return Deno.memoryUsage().heapUsed / MIB;
}

/** Calls and total milliseconds per command: which tool a sync's wall time goes to. */
function breakdown(runs: readonly ToolRun[]): Record<string, CommandTime> {
  const out: Record<string, CommandTime> = {};
  for (const r of runs) {
    const cur = out[r.command] ?? { calls: 0, ms: 0 };
    out[r.command] = { calls: cur.calls + 1, ms: cur.ms + r.ms };
  }
  return out;
}

/** A run stopped because its budget ran out. */
class OverBudget extends Error {
  constructor(step: string) {
    super(`over budget during ${step}`);
    this.name = "OverBudget";
  }
}

/** Runs the `iptables*` tools as their `-legacy` variants. */
class LegacyRunner implements CommandRunner {
  constructor(private readonly inner: CommandRunner) {}

  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult> {
    const legacy = command.replace(/^(ip6?tables)(-save|-restore)?$/, "$1-legacy$2");
    return this.inner.run(legacy, args, options);
  }
}

/**
 * Caps every command's timeout at what is left of the run's budget: the backends pick their own
 * (iptables scales it with the ruleset, to many minutes at 10k), and the budget must win.
 */
class DeadlineRunner implements CommandRunner {
  constructor(private readonly inner: CommandRunner, private readonly leftMs: () => number) {}

  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult> {
    const left = this.leftMs();
    const timeoutMs = Math.min(options?.timeoutMs ?? left, left);
    return this.inner.run(command, args, { ...options, timeoutMs });
  }
}

function textBytes(lines: readonly string[]): number {
  let bytes = 0;
  for (const line of lines) bytes += line.length + 1;
  return bytes;
}

/**
 * The full IPv4 render the first sync writes, timed with its text made as the backend streams it
 * to the tool (in 64 KiB chunks, each dropped straight after).
 */
function fullRender(
  mode: BenchMode,
  snapshot: ReturnType<EndpointTable["snapshot"]>,
): { ms: number; bytes: number; lines: number } {
  gc();
  const t = performance.now();
  if (mode === "iptables") {
    const r = renderIptables({ snapshot: snapshot.v4, options: IPTABLES_OPTIONS, full: true });
    let bytes = 0;
    for (const chunk of lineChunks(r.input)) bytes += chunk.length;
    return { ms: performance.now() - t, bytes, lines: r.input.lineCount };
  }
  // The transaction is written while it is fed to nft; here it is written out to be timed.
  const lines = [
    ...replaceTransactionFrom(TableModel.build(snapshot.v4, NFTABLES_OPTIONS).source()).lines,
  ];
  const ms = performance.now() - t;
  return { ms, bytes: textBytes(lines), lines: lines.length };
}

/**
 * Measures one (size, mode) in this process. Never throws for a budget overrun or a failed
 * step: the result says `over budget` / `failed` and keeps what was measured before.
 */
export async function measureRun(
  size: ClusterSize,
  mode: BenchMode,
  options: MeasureOptions,
): Promise<ClusterRunResult> {
  const started = performance.now();
  const deadline = started + options.budgetMs;
  const remaining = () => Math.max(1, Math.floor(deadline - performance.now()));
  const check = (step: string) => {
    if (performance.now() > deadline) throw new OverBudget(step);
  };
  let result: ClusterRunResult = emptyResult(size, mode, options.budgetMs / 1000);
  const trail: Record<string, number | null> = { start: peakRssMiB() };
  const heapTrail: Record<string, number> = { start: heapMiB() };
  const update = (patch: Partial<ClusterRunResult>) => {
    // Where the high-water mark rose: after which step (for profiling the RSS goal).
    for (const step of ["snapshot", "render", "apply", "change", "baseline"] as const) {
      if (patch[step] !== undefined && patch[step] !== null) {
        trail[step] = peakRssMiB();
        heapTrail[step] = heapMiB();
      }
    }
    result = {
      ...result,
      ...patch,
      peakRssTrailMiB: { ...trail },
      heapTrailMiB: { ...heapTrail },
      elapsedS: (performance.now() - started) / 1000,
    };
    options.onProgress?.(result);
  };
  const skipped = options.kernel ? await kernelTestSkipReason() : "kernel steps not requested";
  update({ kernelSkipped: skipped });

  try {
    const heapBefore = heapMiB();
    const cluster = makeSyntheticCluster({
      services: size.services,
      endpointsPerService: size.endpoints,
    });
    const heapInput = heapMiB();
    let t = performance.now();
    const table = syncedTableOf(cluster);
    let snapshot = table.snapshot();
    const buildMs = performance.now() - t;
    const heapAfter = heapMiB();
    update({
      snapshot: {
        buildMs,
        heapMiB: heapAfter,
        inputHeapMiB: heapInput - heapBefore,
        servicePorts: snapshot.v4.servicePorts.length,
        endpoints: snapshot.v4.reachableEndpointCount,
      },
    });
    check("snapshot");

    const render = fullRender(mode, snapshot);
    update({ render });
    check("render");

    if (skipped === null) {
      const slices = [...cluster.slices];
      const ns = await createNamespace(`bench-${mode.slice(0, 3)}-${size.services}`);
      try {
        // Renaming must happen before GNU time wraps the command, capping before both.
        const tools = new PeakRssRunner(ns.runner);
        const runner = new DeadlineRunner(
          mode === "iptables" && options.iptablesLegacy === true ? new LegacyRunner(tools) : tools,
          remaining,
        );
        const deps = {
          runner,
          log: SILENT_LOGGER,
          applyTimeoutMs: remaining(),
        };
        const backend: ProxyBackend = mode === "iptables"
          ? new IptablesBackend({ ...deps, options: IPTABLES_OPTIONS }, {
            hostAddresses: () => null,
          })
          : new NftablesBackend({ ...deps, options: NFTABLES_OPTIONS }, {
            cleanupOtherModes: null,
          });
        t = performance.now();
        await backend.sync({ snapshot, full: true });
        const syncMs = performance.now() - t;
        const applied = tools.runs.filter((r) => r.withInput);
        const toolMs = applied.reduce((sum, r) => sum + r.ms, 0);
        update({
          apply: {
            tool: applied[0]?.command ?? (mode === "iptables" ? "iptables-restore" : "nft"),
            toolMs,
            syncMs,
            ratio: render.ms / toolMs,
            toolPeakRssMiB: maxPeak(tools.runs),
            commands: breakdown(tools.runs),
          },
        });
        tools.reset();
        check("apply");

        // One-endpoint changes, spread over the Services (all types); tools are not wrapped.
        tools.measure = false;
        const count = options.changes ?? 25;
        const endToEnd: number[] = [];
        const snapshotMs: number[] = [];
        const kinds = new Set<string>();
        let skippedChanges = 0;
        // Only changes that reached the kernel count: a flip the rules do not show (`skipped`)
        // is cheap and would flatter the median. Give up after 3× as many attempts.
        for (let i = 0; endToEnd.length < count && i < count * 3; i++) {
          check("one-endpoint changes");
          const k = (i * 7919 + 5) % slices.length;
          const prev = slices[k] as V1EndpointSlice;
          const next = withEndpointReadyFlipped(prev, (i * 3) % size.endpoints);
          slices[k] = next;
          gc();
          const t0 = performance.now();
          table.onEndpointSliceUpdate(prev, next);
          snapshot = table.snapshot();
          const t1 = performance.now();
          const outcome = await backend.sync({ snapshot, full: false });
          const t2 = performance.now();
          kinds.add(outcome.kind);
          if (outcome.kind === "skipped") {
            skippedChanges++;
            continue;
          }
          endToEnd.push(t2 - t0);
          snapshotMs.push(t1 - t0);
        }
        update({
          change: {
            count: endToEnd.length,
            skipped: skippedChanges,
            medianMs: median(endToEnd),
            p95Ms: percentile(endToEnd, 0.95),
            maxMs: Math.max(...endToEnd),
            snapshotMedianMs: median(snapshotMs),
            kinds: [...kinds].sort(),
            commands: breakdown(tools.runs),
          },
        });
      } finally {
        await ns.remove();
      }
    }
    update({ peakRssMiB: peakRssMiB() });

    if (mode === "nftables" && skipped === null && options.baseline !== false) {
      check("upstream-shape baseline");
      gc();
      t = performance.now();
      const lines = upstreamShapeTransaction(snapshot.v4, NFTABLES_OPTIONS);
      const renderMs = performance.now() - t;
      const bytes = textBytes(lines);
      const ours = result.apply?.toolMs ?? NaN;
      const ns = await createNamespace(`bench-base-${size.services}`);
      const tools = new PeakRssRunner(ns.runner);
      const loadStart = performance.now();
      try {
        await runNft(new DeadlineRunner(tools, remaining), "IPv4", lines, remaining());
        const applyMs = tools.runs[0]?.ms ?? performance.now() - loadStart;
        update({
          baseline: {
            renderMs,
            bytes,
            applyMs,
            speedup: applyMs / ours,
            atLeast: false,
            peakRssMiB: maxPeak(tools.runs),
          },
        });
      } catch (error) {
        if (performance.now() <= deadline) throw error;
        // Killed at the budget: the baseline took at least this long.
        const applyMs = performance.now() - loadStart;
        update({
          baseline: {
            renderMs,
            bytes,
            applyMs,
            speedup: applyMs / ours,
            atLeast: true,
            peakRssMiB: null,
          },
        });
        throw new OverBudget("upstream-shape baseline");
      } finally {
        await ns.remove();
      }
    }
    update({ status: "ok" });
  } catch (error) {
    // A tool killed at the budget fails a moment before the deadline (`timeout` fires 1 s early).
    const over = error instanceof OverBudget || performance.now() > deadline - 2_000;
    update({
      status: over ? "over budget" : "failed",
      error: error instanceof Error ? error.message : String(error),
      ...(result.peakRssMiB === null ? { peakRssMiB: peakRssMiB() } : {}),
    });
  }
  return result;
}

/** Options of {@linkcode runClusterScale}. */
export interface ClusterScaleOptions {
  /** @default the full matrix: 1k, 5k, 10k × 10 and 1k × 100 */
  readonly sizes?: readonly ClusterSize[];
  /** @default ["iptables", "nftables"] */
  readonly modes?: readonly BenchMode[];
  /** Per-size time budgets (seconds). */
  readonly budgets?: Budgets;
  /** One-endpoint changes per run. @default 25 */
  readonly changes?: number;
  /** Load the upstream-shaped baseline in nftables runs. @default true */
  readonly baseline?: boolean;
  /** Use iptables-legacy. @default false */
  readonly iptablesLegacy?: boolean;
  /** Print each row as it is measured. @default the table at the end only */
  readonly print?: (line: string) => void;
}

const real = new DenoCommandRunner();
const WORKER = new URL(import.meta.url).pathname;
/** The child gets this long past its budget to stop itself and tear down before it is killed. */
const GRACE_MS = 30_000;

/** Deletes namespaces a killed child left behind (named `dkp-<pid>-…` by tests/fixtures/netns.ts). */
async function removeNamespacesOf(pid: number): Promise<void> {
  const list = await real.run("ip", ["netns", "list"]);
  for (const line of list.stdout.split("\n")) {
    const name = line.split(" ")[0] ?? "";
    if (name.startsWith(`dkp-${pid}-`)) await real.run("ip", ["netns", "delete", name]);
  }
}

/** Runs one (size, mode) in a fresh child process; the child saves progress to a file. */
async function runChild(
  size: ClusterSize,
  mode: BenchMode,
  budgetS: number,
  options: ClusterScaleOptions,
): Promise<ClusterRunResult> {
  const dir = Deno.makeTempDirSync({ prefix: "dkp-bench-" });
  const out = `${dir}/result.json`;
  try {
    const args = [
      "run",
      "-A", // Deno reads /proc/self/status (VmHWM) only with --allow-all.
      // The product's own V8 flags (what the compiled binary runs with), plus gc() for heap readings.
      `${V8_FLAGS_OPTION},--expose-gc`,
      WORKER,
      "--worker",
      `--sizes=${sizeLabel(size)}`,
      `--modes=${mode}`,
      `--budget=${budgetS}`,
      `--changes=${options.changes ?? 25}`,
      `--out=${out}`,
      ...(options.baseline === false ? ["--no-baseline"] : []),
      ...(options.iptablesLegacy === true ? ["--iptables-legacy"] : []),
    ];
    const child = await real.run(Deno.execPath(), args, { timeoutMs: budgetS * 1000 + GRACE_MS });
    let saved: (ClusterRunResult & { pid?: number }) | null = null;
    try {
      saved = JSON.parse(Deno.readTextFileSync(out));
    } catch {
      saved = null;
    }
    if (child.timedOut && saved?.pid !== undefined) await removeNamespacesOf(saved.pid);
    const base = saved ?? emptyResult(size, mode, budgetS);
    const { pid: _pid, ...result } = base as ClusterRunResult & { pid?: number };
    if (child.timedOut) return { ...result, status: "over budget", elapsedS: budgetS };
    if (child.code !== 0 || saved === null) {
      return {
        ...result,
        status: "failed",
        error: result.error ?? `worker exited ${child.code}: ${child.stderr.trim().slice(-500)}`,
      };
    }
    return result;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** The matrix. */
export const FULL_MATRIX: readonly ClusterSize[] = Object.freeze([
  { services: 1000, endpoints: 10 },
  { services: 5000, endpoints: 10 },
  { services: 10000, endpoints: 10 },
  { services: 1000, endpoints: 100 },
]);

/** Runs every (size, mode) in its own child, prints the Markdown table, returns the report. */
export async function runClusterScale(
  options: ClusterScaleOptions = {},
): Promise<ClusterScaleReport> {
  const sizes = options.sizes ?? FULL_MATRIX;
  const modes = options.modes ?? ["iptables", "nftables"];
  const results: ClusterRunResult[] = [];
  for (const size of sizes) {
    for (const mode of modes) {
      results.push(
        await runChild(size, mode, budgetFor(size, options.budgets ?? null), options),
      );
    }
  }
  const report = buildReport(results, {
    kernelSkipped: await kernelTestSkipReason(),
    gnuTime: gnuTimePath() !== null,
    iptablesLegacy: options.iptablesLegacy ?? false,
  });
  const print = options.print ??
    ((line: string) => Deno.stdout.writeSync(new TextEncoder().encode(line + "\n")));
  for (const line of formatClusterTable(report)) print(line);
  return report;
}

function flag(args: readonly string[], name: string): string | undefined {
  const prefix = `--${name}=`;
  return args.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

/** Child entry point: one (size, mode), result saved to `--out` after every step. */
async function worker(args: readonly string[]): Promise<void> {
  const [size] = parseSizes(flag(args, "sizes") ?? "1k");
  const [mode] = parseModes(flag(args, "modes") ?? "nftables");
  const out = flag(args, "out");
  if (size === undefined || mode === undefined || out === undefined) {
    throw new Error("worker needs --sizes=, --modes= and --out=");
  }
  const save = (r: ClusterRunResult) =>
    Deno.writeTextFileSync(out, JSON.stringify({ ...r, pid: Deno.pid }));
  const result = await measureRun(size, mode, {
    kernel: true,
    budgetMs: Number(flag(args, "budget") ?? "300") * 1000,
    changes: Number(flag(args, "changes") ?? "25"),
    baseline: !args.includes("--no-baseline"),
    iptablesLegacy: args.includes("--iptables-legacy"),
    onProgress: save,
  });
  save(result);
}

if (import.meta.main) {
  const args = Deno.args;
  if (args.includes("--worker")) {
    await worker(args);
  } else {
    const sizes = flag(args, "sizes");
    const modes = flag(args, "modes");
    const budget = flag(args, "budget");
    const report = await runClusterScale({
      ...(sizes === undefined ? {} : { sizes: parseSizes(sizes) }),
      ...(modes === undefined ? {} : { modes: parseModes(modes) }),
      ...(budget === undefined ? {} : { budgets: parseBudgets(budget) }),
      changes: Number(flag(args, "changes") ?? "25"),
      baseline: !args.includes("--no-baseline"),
      iptablesLegacy: args.includes("--iptables-legacy"),
    });
    const json = flag(args, "json") ?? "dist/bench.json";
    Deno.mkdirSync(json.slice(0, Math.max(0, json.lastIndexOf("/"))) || ".", { recursive: true });
    Deno.writeTextFileSync(json, JSON.stringify(report, null, 2) + "\n");
  }
}
