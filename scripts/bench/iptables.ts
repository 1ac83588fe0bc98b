/**
 * iptables mode benchmark: full render time against the `iptables-restore` time of the same text
 * (the issue's goal: render ≤ 5% of restore, i.e. a full sync's wall ≤ 1.05 × the bare restore),
 * the whole first and periodic full syncs with every command they ran, a partial sync for one
 * changed endpoint end to end (event → snapshot → render → restore; goal ≤ 100 ms at 10k
 * services), and with `--floor` the bare restore tool on small payloads (the floor of a partial
 * sync). Prints Markdown tables and returns the numbers. Not a test: goals are reported, never
 * enforced.
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc scripts/bench/iptables.ts \
 *   [--sizes=1000,10000] [--endpoints=10] [--restore-max=1000] [--partial-size=N] [--runs=5] \
 *   [--legacy] [--resync] [--floor]
 * ```
 *
 * Restores run in a throwaway network namespace (root only; otherwise render times alone are
 * reported). iptables-nft needs minutes for 10k services × 10 endpoints, so by default only sizes
 * up to `--restore-max` are restored; `--legacy` uses iptables-legacy, which copes with 10k.
 *
 * Preliminary numbers (2 shared cores; details and before/after in
 * src/backend/iptables/README.md): at 10k × 10 with iptables-legacy the first render takes
 * 0.5–0.75 s (sha256 of 110k names ~0.1 s, 440k rule strings and their GC ~0.3 s) against a
 * 10.8–12.6 s restore, and a first full sync 1.055–1.07 × the restore; 1k and 5k with iptables-nft
 * 1.04 and 1.007 ×. A one-endpoint partial sync costs us ~15 ms at 10k, but the tool's floor is
 * far above 100 ms: iptables-nft makes the kernel re-validate every reachable chain on each commit
 * that adds a rule (~200 ms at 5k), iptables-legacy replaces the whole table (~11 s at 10k).
 *
 * @module
 */

import { IptablesBackend } from "../../src/backend/iptables/backend.ts";
import { type IptablesRenderResult, renderIptables } from "../../src/backend/iptables/render.ts";
import { lineChunks } from "../../src/backend/line_chunks.ts";
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
  /** Also time a second full sync after the first (the periodic resync). @default false */
  readonly resync?: boolean;
  /**
   * Also time the bare restore tool on small payloads in the namespace loaded with the
   * partial-sync size (the tool's floor for a partial sync). @default false
   */
  readonly floor?: boolean;
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
  /**
   * The whole first `backend.sync({ full: true })` into an empty namespace, chain names not yet
   * hashed: listing, render, restore, jump rules, both families.
   */
  readonly fullSyncMs: number | null;
  /** When in that sync the IPv4 restore started: probe, listings and render before it. */
  readonly restoreStartMs: number | null;
  /** fullSyncMs / restoreMs (goal ≤ 1.05). */
  readonly fullSyncRatio: number | null;
  /** Every command the first full sync ran, with its duration, in order. */
  readonly fullSyncCommands: readonly TimedCommand[];
  /** A second full sync right after (the periodic resync: chains and jumps exist), or null. */
  readonly resyncMs: number | null;
  /** Every command of that resync. */
  readonly resyncCommands: readonly TimedCommand[];
}

/** One command a sync ran. */
export interface TimedCommand {
  /** The program and its first arguments, e.g. `iptables-save -t nat`. */
  readonly command: string;
  /** When it started, in `performance.now()` time. */
  readonly start: number;
  readonly ms: number;
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
  /** The restore tool alone on small payloads (with `floor`), or null. */
  readonly floor: readonly FloorRow[] | null;
}

/** One payload fed to the bare restore tool in the loaded namespace. */
export interface FloorRow {
  /** What the payload does. */
  readonly payload: string;
  /** Whether kube-proxy's three nat jump rules were in place. */
  readonly jumps: boolean;
  readonly lines: number;
  /** Median tool time. */
  readonly ms: number;
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

/** Remembers how long each call took. */
class TimingRunner implements CommandRunner {
  /** Every call since the last `take()`, in order. */
  #calls: TimedCommand[] = [];

  constructor(private readonly inner: CommandRunner) {}

  async run(
    command: string,
    args: readonly string[],
    options?: RunOptions,
  ): Promise<CommandResult> {
    const t = performance.now();
    const result = await this.inner.run(command, args, options);
    const shown = [command, ...args.filter((a) => a !== "-w" && a !== "5").slice(0, 3)];
    this.#calls.push({ command: shown.join(" "), start: t, ms: performance.now() - t });
    return result;
  }

  /** The calls so far, forgetting them. */
  take(): TimedCommand[] {
    const calls = this.#calls;
    this.#calls = [];
    return calls;
  }
}

/** Duration of the first IPv4 restore among `calls`. */
function firstRestoreMs(calls: readonly TimedCommand[]): number | null {
  return calls.find((c) => /^iptables(-legacy)?-restore/.test(c.command))?.ms ?? null;
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
  let floor: FloorRow[] | null = null;
  for (const services of [...new Set([...sizes, partialSize])].sort((a, b) => a - b)) {
    const cluster = makeSyntheticCluster({ services, endpointsPerService: perService });
    const table = syncedTableOf(cluster);
    const snapshot = table.snapshot();
    gc();
    let t = performance.now();
    const first = written(renderIptables({ snapshot: snapshot.v4, options: OPTIONS, full: true }));
    const renderColdMs = performance.now() - t;
    const warm: number[] = [];
    for (let i = 0; i < 3; i++) {
      gc();
      t = performance.now();
      written(renderIptables({ snapshot: snapshot.v4, options: OPTIONS, full: true }));
      warm.push(performance.now() - t);
    }
    let restoreMs: number | null = null;
    let fullSyncMs: number | null = null;
    let restoreStartMs: number | null = null;
    let fullSyncCommands: TimedCommand[] = [];
    let resyncMs: number | null = null;
    let resyncCommands: TimedCommand[] = [];
    const slices = [...cluster.slices];
    if (kernel && services <= restoreMax) {
      // A table of its own, so the sync hashes every chain name as a first sync does.
      const kernelTable = syncedTableOf(cluster);
      const ns = await createNamespace(`ipt-bench-${services}`);
      try {
        // Timed below the legacy mapping, so the table names the tools that really ran.
        const timing = new TimingRunner(ns.runner);
        const runner = legacy ? new LegacyRunner(timing) : timing;
        const backend = new IptablesBackend(
          { runner, log: SILENT_LOGGER, options: OPTIONS, applyTimeoutMs: 60 * 60_000 },
          { hostAddresses: () => null },
        );
        const kernelSnapshot = kernelTable.snapshot();
        gc();
        // The first sync: host probe, listings, render, restore with the jump rules (IPv6 adds
        // a tiny second family); its IPv4 restore writes the text measured above.
        t = performance.now();
        await backend.sync({ snapshot: kernelSnapshot, full: true });
        fullSyncMs = performance.now() - t;
        fullSyncCommands = timing.take();
        restoreMs = firstRestoreMs(fullSyncCommands);
        const restoreCall = fullSyncCommands.find((c) =>
          /^iptables(-legacy)?-restore/.test(c.command)
        );
        if (restoreCall !== undefined) restoreStartMs = restoreCall.start - t;
        if (opts.resync === true) {
          gc();
          t = performance.now();
          await backend.sync({ snapshot: kernelSnapshot, full: true });
          resyncMs = performance.now() - t;
          resyncCommands = timing.take();
        }
        if (services === partialSize) {
          partial = await partialSyncs(kernelTable, slices, runs, perService, backend);
          if (opts.floor === true) {
            floor = await toolFloor(runner, kernelTable, slices, perService, legacy ? 1 : 3);
          }
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
        lines: first.input.lineCount,
        mebibytes: first.bytes / 2 ** 20,
        renderColdMs,
        renderWarmMs: median(warm),
        restoreMs,
        ratio: restoreMs === null ? null : renderColdMs / restoreMs,
        fullSyncMs,
        restoreStartMs,
        fullSyncRatio: fullSyncMs === null || restoreMs === null ? null : fullSyncMs / restoreMs,
        fullSyncCommands,
        resyncMs,
        resyncCommands,
      });
    }
  }

  const result: IptablesBenchResult = { tool, full, partial: partial!, kernelSkipped, floor };
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
    const r = written(renderIptables({
      snapshot: snapshot.v4,
      options: OPTIONS,
      full: false,
      previous: state,
      changed: snapshot.changed,
    }));
    renderMs.push(performance.now() - t3);
    snapshotMs.push(t1 - t0);
    lines.push(r.input.lineCount);
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

const NAT_JUMPS = [
  '-I OUTPUT 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
  '-I PREROUTING 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
  '-I POSTROUTING 1 -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
];

/**
 * The restore tool alone (`iptables-restore --noflush`, as the backend runs it) on small
 * payloads, in a namespace that holds the synced table: where a partial sync's time goes. Every
 * payload leaves the rules as they were, or moves them to the table's next state.
 */
async function toolFloor(
  runner: CommandRunner,
  table: EndpointTable,
  slices: V1EndpointSlice[],
  perService: number,
  reps: number,
): Promise<FloorRow[]> {
  const rows: FloorRow[] = [];
  const restore = async (lines: readonly string[]): Promise<number> => {
    const t = performance.now();
    const r = await runner.run("iptables-restore", ["-w", "5", "--noflush", "--counters"], {
      stdin: lines.join("\n") + "\n",
      timeoutMs: 60 * 60_000,
    });
    if (r.code !== 0) throw new Error(`iptables-restore failed: ${r.stderr}`);
    return performance.now() - t;
  };
  const timed = async (payload: string, jumps: boolean, lines: string[], times = reps) => {
    const ms: number[] = [];
    for (let i = 0; i < times; i++) ms.push(await restore(lines));
    rows.push({ payload, jumps, lines: lines.length, ms: median(ms) });
  };
  let snapshot = table.snapshot();
  // The kernel holds exactly the last sync's render of this snapshot.
  let state = renderIptables({ snapshot: snapshot.v4, options: OPTIONS, full: true }).state;
  const svc = [...state.ports.values()].flatMap((e) => e.chains).find((c) =>
    c.startsWith("KUBE-SVC-")
  )!;
  const full = renderIptables({ snapshot: snapshot.v4, options: OPTIONS, full: true });
  const svcRules = full.lines.filter((l) => l.startsWith(`-A ${svc} `));
  let flips = 0;
  const flip = (minimal: boolean): string[] => {
    const k = (flips * 104729 + 3) % slices.length;
    const next = withEndpointReadyFlipped(slices[k]!, flips % perService);
    flips++;
    table.onEndpointSliceUpdate(slices[k]!, next);
    slices[k] = next;
    snapshot = table.snapshot();
    const before = new Set([...state.ports.values()].flatMap((e) => e.chains));
    const r = renderIptables({
      snapshot: snapshot.v4,
      options: OPTIONS,
      full: false,
      previous: state,
      changed: snapshot.changed,
    });
    state = r.state;
    if (!minimal) return [...r.lines];
    // Endpoint chains that existed before get the very same rules again: leave them out.
    return r.lines.filter((l) => {
      const m = /^(?::|-A )(KUBE-SEP-\w+)/.exec(l);
      return m === null || !before.has(m[1]!) || r.deletedChains.includes(m[1]!);
    });
  };
  const scratch = "KUBE-SEP-BENCHFLOORSCRATCH";
  for (const jumps of [true, false]) {
    await timed("nat: `COMMIT` only", jumps, ["*nat", "COMMIT"]);
    await timed("nat: one empty chain added", jumps, ["*nat", `:${scratch} - [0:0]`, "COMMIT"], 1);
    await timed("nat: that chain deleted (`-X`)", jumps, [
      "*nat",
      `:${scratch} - [0:0]`,
      `-X ${scratch}`,
      "COMMIT",
    ], 1);
    await timed(`nat: one service chain flushed and rewritten as it was`, jumps, [
      "*nat",
      `:${svc} - [0:0]`,
      ...svcRules,
      "COMMIT",
    ]);
    await timed("nat: one endpoint flipped, as the backend renders it", jumps, flip(false), 1);
    await timed(
      "nat: one endpoint flipped, unchanged endpoint chains left out",
      jumps,
      flip(true),
      1,
    );
    if (!jumps) break;
    // Then the same without the jumps from the built-in chains, which make every rule reachable
    // (diagnostic only: without them no Service works).
    await restore([
      "*nat",
      ...NAT_JUMPS.map((j) => j.replace("-I ", "-D ").replace(" 1 ", " ")),
      "COMMIT",
    ]);
  }
  await restore(["*nat", ...NAT_JUMPS, "COMMIT"]);
  return rows;
}

function ms(v: number | null): string {
  if (v === null) return "–";
  return v < 10 ? `${v.toFixed(2)} ms` : `${v.toFixed(0)} ms`;
}

/** `cmd args: 12 ms` items, identical neighbours merged (`×3`). */
function commandList(calls: readonly TimedCommand[]): string {
  const items: { command: string; ms: number; count: number }[] = [];
  for (const c of calls) {
    const last = items.at(-1);
    if (last !== undefined && last.command === c.command) {
      last.ms += c.ms;
      last.count++;
    } else items.push({ command: c.command, ms: c.ms, count: 1 });
  }
  return items.map((i) => `\`${i.command}\`${i.count > 1 ? ` ×${i.count}` : ""} ${ms(i.ms)}`)
    .join("; ");
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
    if (f.fullSyncMs !== null) {
      const wall = f.fullSyncRatio === null ? "" : ` (${f.fullSyncRatio.toFixed(3)} × restore)`;
      const met = f.fullSyncRatio === null ? "" : `: ${f.fullSyncRatio <= 1.05 ? "met" : "missed"}`;
      print(
        `| first full sync into an empty namespace, ${size}: wall${wall} | ${
          ms(f.fullSyncMs)
        } | ≤ 1.05 × restore${met} |`,
      );
      print(
        `| … before its IPv4 restore started (probe, listings, render) | ${
          ms(f.restoreStartMs)
        } | |`,
      );
      print(`| … its commands, ${size} | ${commandList(f.fullSyncCommands)} | |`);
    }
    if (f.resyncMs !== null) {
      const restore = firstRestoreMs(f.resyncCommands);
      const ratio = restore === null ? "" : ` (${(f.resyncMs / restore).toFixed(3)} × its restore)`;
      print(`| second full sync (periodic resync), ${size}: wall${ratio} | ${ms(f.resyncMs)} | |`);
      print(`| … its commands, ${size} | ${commandList(f.resyncCommands)} | |`);
    }
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
  if (r.floor !== null) printFloor(r.floor);
}

function printFloor(rows: readonly FloorRow[]): void {
  print();
  print("| restore tool alone, loaded namespace | nat jumps | lines | median |");
  print("| --- | --- | --- | --- |");
  for (const r of rows) {
    print(`| ${r.payload} | ${r.jumps ? "in place" : "removed"} | ${r.lines} | ${ms(r.ms)} |`);
  }
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
    resync: Deno.args.includes("--resync"),
    floor: Deno.args.includes("--floor"),
  });
}

/**
 * `r` after its restore input was made, in the chunks the backend streams to the tool: a render
 * makes its text as it is read, so a render's time includes reading it once.
 */
function written(r: IptablesRenderResult): IptablesRenderResult {
  let bytes = 0;
  for (const chunk of lineChunks(r.input)) bytes += chunk.length;
  if (bytes === 0 && r.kind !== "skipped") throw new Error("a render with an empty input");
  return r;
}
