/**
 * Benchmarks, printed as Markdown tables and saved as JSON. Not timed tests: goals are reported
 * (✅ / ❌), never enforced.
 *
 * Run: `deno task bench` (root for the kernel steps, which run in throwaway network namespaces;
 * elsewhere they are skipped with the reason). Options:
 *
 * - `--only=model,cluster`: sections to run (default all);
 * - model section: `--services=N` (default 10000), `--endpoints=M` (default 10);
 * - cluster section (scripts/bench/cluster_scale.ts): `--sizes=1k,5k,10k,1kx100` (default, the
 *   full matrix, several minutes), `--modes=iptables,nftables`, `--budget=SECONDS` or
 *   `--budget=10k:600,1k:60` (per size; a run past its budget is reported "over budget"),
 *   `--changes=25` (one-endpoint changes timed per run), `--no-baseline` (skip the upstream-shaped
 *   nftables load), `--iptables-legacy`;
 * - daemon section (scripts/bench/daemon_rss.ts): the real program's cold start, change latency
 *   and peak RSS, with the same `--sizes` (default 1k,10k), `--modes` (default both; nftables
 *   only above 5k Services), `--budget` (default 300 s per run) and `--changes`; each run once
 *   from source and once bundled into one JavaScript file (closer to the compiled binary);
 * - `--json=PATH`: where to write every number (default dist/bench.json).
 *
 * To add a section, write `function benchX(args): Promise<SectionOutput>` and register it in
 * `sections`; reuse `makeSyntheticCluster` so numbers stay comparable.
 *
 * @module
 */

import type { EndpointTable, TableSnapshot } from "../src/model/mod.ts";
import {
  makeSyntheticCluster,
  syncedTableOf,
  type SyntheticCluster,
  withEndpointReadyFlipped,
} from "./bench/synthetic_cluster.ts";
import type { V1EndpointSlice } from "@kubernetes/client-node";
import { runClusterScale } from "./bench/cluster_scale.ts";
import { runDaemonRss } from "./bench/daemon_rss.ts";
import {
  type BenchMode,
  type Budgets,
  type ClusterSize,
  parseBudgets,
  parseModes,
  parseSizes,
} from "./bench/cluster_report.ts";

/** One line of the result table. */
export interface BenchRow {
  /** What was measured. */
  readonly name: string;
  /** The measurement, formatted. */
  readonly value: string;
  /** The goal, if any, with a verdict. */
  readonly goal?: string;
}

/** Command-line options shared by all sections. */
export interface BenchArgs {
  /** Sections to run; null for all. */
  readonly only: readonly string[] | null;
  /** Services in the synthetic cluster (model section). */
  readonly services: number;
  /** Endpoints per Service (model section). */
  readonly endpoints: number;
  /** Cluster section: sizes; null for the full matrix. */
  readonly sizes: readonly ClusterSize[] | null;
  /** Cluster section: modes; null for both. */
  readonly modes: readonly BenchMode[] | null;
  /** Cluster section: budgets; null for the defaults. */
  readonly budgets: Budgets | null;
  /** Cluster section: one-endpoint changes per run. */
  readonly changes: number;
  /** Cluster section: load the upstream-shaped nftables baseline. */
  readonly baseline: boolean;
  /** Cluster section: use iptables-legacy. */
  readonly iptablesLegacy: boolean;
  /** Where the JSON goes. */
  readonly json: string;
}

/** What a section prints (Markdown lines) and saves (its numbers, as plain data). */
export interface SectionOutput {
  readonly lines: readonly string[];
  readonly data: unknown;
}

/** A section; async because the cluster section starts processes. */
type Section = (args: BenchArgs) => Promise<SectionOutput>;

const sections: Record<string, Section> = {
  model: (args) => {
    const rows = benchModel(args);
    return Promise.resolve({ lines: modelTable(rows), data: rows });
  },
  cluster: async (args) => {
    const lines: string[] = [];
    const report = await runClusterScale({
      ...(args.sizes === null ? {} : { sizes: args.sizes }),
      ...(args.modes === null ? {} : { modes: args.modes }),
      ...(args.budgets === null ? {} : { budgets: args.budgets }),
      changes: args.changes,
      baseline: args.baseline,
      iptablesLegacy: args.iptablesLegacy,
      print: (line) => lines.push(line),
    });
    return { lines, data: report };
  },
  daemon: async (args) => {
    const lines: string[] = [];
    const report = await runDaemonRss({
      ...(args.sizes === null ? {} : { sizes: args.sizes }),
      ...(args.modes === null ? {} : { modes: args.modes }),
      ...(args.budgets === null ? {} : { budgets: args.budgets }),
      changes: args.changes,
      print: (line) => lines.push(line),
    });
    return { lines, data: report };
  },
};

/** The model section's rows as a Markdown table. */
export function modelTable(rows: readonly BenchRow[]): string[] {
  return [
    "| measurement | result | goal |",
    "|---|---|---|",
    ...rows.map((row) => `| ${row.name} | ${row.value} | ${row.goal ?? ""} |`),
  ];
}

const encoder = new TextEncoder();

function print(line = ""): void {
  Deno.stdout.writeSync(encoder.encode(line + "\n"));
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function heapMiB(): number {
  gc();
  return Deno.memoryUsage().heapUsed / (1024 * 1024);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[mid] ?? NaN
    : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

function ms(v: number): string {
  return v < 10 ? `${v.toFixed(3)} ms` : `${v.toFixed(1)} ms`;
}

function goal(value: number, limit: number): string {
  return `≤ ${limit} ms ${value <= limit ? "✅" : "❌"}`;
}

function buildTable(cluster: SyntheticCluster): { table: EndpointTable; snap: TableSnapshot } {
  const table = syncedTableOf(cluster);
  return { table, snap: table.snapshot() };
}

function benchModel(args: BenchArgs): BenchRow[] {
  const rows: BenchRow[] = [];
  const size = `${args.services} services × ${args.endpoints} endpoints`;
  const heapStart = heapMiB();
  let t = performance.now();
  const cluster = makeSyntheticCluster({
    services: args.services,
    endpointsPerService: args.endpoints,
  });
  rows.push({ name: `generate synthetic cluster (${size})`, value: ms(performance.now() - t) });
  const heapCluster = heapMiB();

  // From scratch: every event applied, then the first snapshot. Fresh table per run.
  const scratch: number[] = [];
  let built: { table: EndpointTable; snap: TableSnapshot } | null = null;
  const runs = 9;
  for (let run = 0; run < runs; run++) {
    built = null;
    gc();
    t = performance.now();
    built = buildTable(cluster);
    scratch.push(performance.now() - t);
  }
  if (built === null) throw new Error("Benchmark built no table");
  const { table, snap } = built;
  const scratchMedian = median(scratch);
  rows.push({
    name: `snapshot from scratch: all events + snapshot() (median of ${runs}; first ${
      ms(scratch[0] ?? 0)
    }, min ${ms(Math.min(...scratch))})`,
    value: ms(scratchMedian),
    goal: goal(scratchMedian, 300),
  });
  rows.push({
    name: "service ports / reachable endpoints in snapshot (IPv4)",
    value: `${snap.v4.servicePorts.length} / ${snap.v4.reachableEndpointCount}`,
  });
  const heapBuilt = heapMiB();
  rows.push({
    name: "heap used after build (total, after GC)",
    value: `${heapBuilt.toFixed(1)} MiB`,
  });
  rows.push({
    name: "… of which the table and snapshot",
    value: `${(heapBuilt - heapCluster).toFixed(1)} MiB (input objects ${
      (heapCluster - heapStart).toFixed(1)
    } MiB)`,
  });

  // One endpoint change: one slice update event, then snapshot().
  const current = new Map<number, V1EndpointSlice>();
  let seed = 42;
  const pick = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const change = (): number => {
    const i = pick(cluster.slices.length);
    const prev = current.get(i) ?? cluster.slices[i];
    if (prev === undefined) throw new Error("Benchmark lost a slice");
    const next = withEndpointReadyFlipped(prev, pick(args.endpoints));
    current.set(i, next);
    const start = performance.now();
    table.onEndpointSliceUpdate(prev, next);
    const s = table.snapshot();
    const took = performance.now() - start;
    if (s.changed.length !== 1) throw new Error(`Expected one change, got ${s.changed.length}`);
    return took;
  };
  for (let w = 0; w < 5; w++) change();
  const changes: number[] = [];
  for (let r = 0; r < 50; r++) changes.push(change());
  const changeMedian = median(changes);
  rows.push({
    name: `one endpoint change: event + snapshot() (median of ${changes.length}, p95 ${
      ms(percentile(changes, 0.95))
    }, max ${ms(Math.max(...changes))})`,
    value: ms(changeMedian),
    goal: goal(changeMedian, 5),
  });

  // A flap: the change and its reversal before a snapshot cost no revision.
  const flaps: number[] = [];
  for (let r = 0; r < 20; r++) {
    const i = pick(cluster.slices.length);
    const prev = current.get(i) ?? cluster.slices[i];
    if (prev === undefined) throw new Error("Benchmark lost a slice");
    const next = withEndpointReadyFlipped(prev, 0);
    const before = table.revision;
    const start = performance.now();
    table.onEndpointSliceUpdate(prev, next);
    table.onEndpointSliceUpdate(next, prev);
    const s = table.snapshot();
    flaps.push(performance.now() - start);
    if (s.revision !== before) throw new Error("A flap changed the revision");
  }
  rows.push({
    name: "flap and back: 2 events + snapshot() (median of 20)",
    value: ms(median(flaps)),
  });

  const noops: number[] = [];
  for (let r = 0; r < 20; r++) {
    const start = performance.now();
    table.snapshot();
    noops.push(performance.now() - start);
  }
  rows.push({ name: "snapshot() with nothing pending (median of 20)", value: ms(median(noops)) });

  // A zone label change re-categorises every Service whose endpoints carry zone hints.
  const zoneNode = structuredClone(cluster.node);
  zoneNode.metadata = {
    ...zoneNode.metadata,
    labels: { ...zoneNode.metadata?.labels, "topology.kubernetes.io/zone": "zone-1" },
  };
  t = performance.now();
  table.onNodeUpdate(cluster.node, zoneNode);
  const zs = table.snapshot();
  rows.push({
    name: `node zone label change (${zs.changed.length} hinted service ports re-categorised)`,
    value: ms(performance.now() - t),
  });
  return rows;
}

const USAGE = "use --only=, --services=, --endpoints=, --sizes=, --modes=, --budget=, " +
  "--changes=, --no-baseline, --iptables-legacy, --json=";

/** Parses the command line; throws on anything unknown. */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  let only: string[] | null = null;
  let services = 10000;
  let endpoints = 10;
  let sizes: ClusterSize[] | null = null;
  let modes: BenchMode[] | null = null;
  let budgets: Budgets | null = null;
  let changes = 25;
  let baseline = true;
  let iptablesLegacy = false;
  let json = "dist/bench.json";
  for (const arg of argv) {
    const eq = arg.indexOf("=");
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    const value = eq < 0 ? "" : arg.slice(eq + 1);
    if (flag === "--only") only = value.split(",").filter((s) => s !== "");
    else if (flag === "--services") services = Number(value);
    else if (flag === "--endpoints") endpoints = Number(value);
    else if (flag === "--sizes") sizes = parseSizes(value);
    else if (flag === "--modes") modes = parseModes(value);
    else if (flag === "--budget") budgets = parseBudgets(value);
    else if (flag === "--changes") changes = Number(value);
    else if (flag === "--no-baseline") baseline = false;
    else if (flag === "--iptables-legacy") iptablesLegacy = true;
    else if (flag === "--json" && value !== "") json = value;
    else throw new Error(`Unknown argument ${JSON.stringify(arg)}: ${USAGE}`);
  }
  for (const name of only ?? []) {
    if (!(name in sections)) {
      throw new Error(
        `Unknown section ${JSON.stringify(name)}: use ${Object.keys(sections).join(", ")}`,
      );
    }
  }
  if (!Number.isInteger(services) || services < 1 || services > 65000) {
    throw new Error(`--services must be an integer in [1, 65000]: got ${JSON.stringify(services)}`);
  }
  if (!Number.isInteger(endpoints) || endpoints < 1) {
    throw new Error(`--endpoints must be a positive integer: got ${JSON.stringify(endpoints)}`);
  }
  if (!Number.isInteger(changes) || changes < 1) {
    throw new Error(`--changes must be a positive integer: got ${JSON.stringify(changes)}`);
  }
  return {
    only,
    services,
    endpoints,
    sizes,
    modes,
    budgets,
    changes,
    baseline,
    iptablesLegacy,
    json,
  };
}

/** The CPU model when readable (Deno 2 needs --allow-all for /proc), else "". */
function cpuModel(): string {
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    return /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? "";
  } catch {
    return "";
  }
}

/** What `--json` gets: when, where, how, and each section's numbers. */
export interface BenchDocument {
  /** ISO time the run started. */
  readonly date: string;
  /** The command line, for rerunning. */
  readonly command: string;
  readonly machine: {
    readonly os: string;
    readonly arch: string;
    readonly cpus: number;
    readonly cpuModel: string;
    readonly deno: string;
    readonly v8: string;
  };
  /** Section name → its data. */
  readonly sections: Readonly<Record<string, unknown>>;
}

async function main(): Promise<void> {
  const args = parseBenchArgs(Deno.args);
  const names = args.only ?? Object.keys(sections);
  const date = new Date().toISOString();
  const model = cpuModel();
  const gcNote = (globalThis as { gc?: unknown }).gc === undefined
    ? " (no --expose-gc: heap numbers include garbage)"
    : "";
  print("## deno-kube-proxy benchmarks");
  print();
  print(
    `${date}. Machine: ${Deno.build.os} ${Deno.build.arch}, ${navigator.hardwareConcurrency} CPUs` +
      `${model === "" ? "" : ` (${model})`}, Deno ${Deno.version.deno}, V8 ${Deno.version.v8}` +
      gcNote,
  );
  const data: Record<string, unknown> = {};
  for (const name of names) {
    const section = sections[name];
    if (section === undefined) continue;
    const out = await section(args);
    print();
    print(`### ${name}`);
    print();
    for (const line of out.lines) print(line);
    data[name] = out.data;
  }
  const doc: BenchDocument = {
    date,
    command: ["deno task bench", ...Deno.args].join(" "),
    machine: {
      os: Deno.build.os,
      arch: Deno.build.arch,
      cpus: navigator.hardwareConcurrency,
      cpuModel: model,
      deno: Deno.version.deno,
      v8: Deno.version.v8,
    },
    sections: data,
  };
  const dir = args.json.includes("/") ? args.json.slice(0, args.json.lastIndexOf("/")) : ".";
  Deno.mkdirSync(dir, { recursive: true });
  Deno.writeTextFileSync(args.json, JSON.stringify(doc, null, 2) + "\n");
  print();
  print(`Numbers saved to ${args.json}.`);
}

if (import.meta.main) await main();
