/**
 * The pure half of the daemon benchmark (`daemon_rss.ts`): its command line and run plan, the
 * program's config and kubeconfig text, `/proc/<pid>/status` and JSON log-line parsing, the
 * result types, the 100 MB goal's verdict and the Markdown tables. No clock, no processes, so
 * tests/scripts/daemon_report_test.ts can check it on made-up numbers. Sizes, budgets and the
 * shared table cells come from `cluster_report.ts`.
 *
 * @module
 */

import { MALLOC_ENV_WORDS, V8_FLAGS_OPTION } from "../compile.ts";
import { netnsConfigYaml } from "../../tests/e2e/proxy_config.ts";
import {
  type BenchMode,
  type Budgets,
  clusterCell,
  type ClusterSize,
  flaggedBudgetS,
  fmtMiB,
  fmtMs,
  formatGoals,
  type GoalVerdict,
  parseBudgets,
  parseModes,
  parseSizes,
  RSS_GOAL_MIB,
  statusCell,
  tableHead,
  tableRow,
} from "./cluster_report.ts";
import { statusFieldMiB } from "./rss.ts";

/** The default sizes: the issue's small cluster and its goal size. */
export const DEFAULT_SIZES: readonly ClusterSize[] = Object.freeze([
  { services: 1000, endpoints: 10 },
  { services: 10000, endpoints: 10 },
]);

/** The default time budget of one (size, mode) run, seconds. */
export const DEFAULT_BUDGET_S = 300;

/** The default number of one-endpoint changes per run. */
export const DEFAULT_CHANGES = 25;

/**
 * Above this many Services, iptables mode is only run when asked for: iptables-restore
 * (nf_tables) of upstream's layout at 10k × 10 takes more than 7 minutes.
 */
export const IPTABLES_DEFAULT_MAX_SERVICES = 5000;

/** The program's `minSyncPeriod` (config default, which the bench keeps). */
export const MIN_SYNC_PERIOD_MS = 1000;

/**
 * How the program is run: `source` is `deno run main.ts` (TypeScript, its module graph and npm
 * resolution at start-up); `bundle` is the same code as one JavaScript file made by `deno bundle`
 * and run with `deno run --no-config`, which is closer to the compiled binary (pre-transpiled
 * modules embedded in `denort`), which cannot be built on a machine without `denort`.
 */
export type DaemonProgram = "source" | "bundle";

/** Every way of running the program, in report order. */
export const DAEMON_PROGRAMS: readonly DaemonProgram[] = Object.freeze(["source", "bundle"]);

/** What runs when `--programs` is not given: both ways. */
export const DEFAULT_PROGRAMS: readonly DaemonProgram[] = DAEMON_PROGRAMS;

/** What the command line asks for. */
export interface DaemonArgs {
  readonly sizes: readonly ClusterSize[];
  /** Null: the default modes per size ({@linkcode defaultModes}). */
  readonly modes: readonly BenchMode[] | null;
  /** How to run the program, each (size, mode) once per entry. */
  readonly programs: readonly DaemonProgram[];
  readonly changes: number;
  /** Null: {@linkcode DEFAULT_BUDGET_S} for every size. */
  readonly budgets: Budgets | null;
  /** Where to write the report as JSON; null: nowhere. */
  readonly json: string | null;
}

const USAGE = "use --sizes=1k,10k, --modes=nftables,iptables, --programs=source,bundle, " +
  "--changes=N, --budget=SECONDS or --budget=10k:600, --json=PATH";

function parsePrograms(value: string): DaemonProgram[] {
  const out: DaemonProgram[] = [];
  for (const word of value.split(",").filter((w) => w !== "")) {
    const program = DAEMON_PROGRAMS.find((p) => p === word);
    if (program === undefined) {
      throw new Error(`--programs: unknown program ${JSON.stringify(word)}: ${USAGE}`);
    }
    if (!out.includes(program)) out.push(program);
  }
  return out;
}

/** Parses the standalone command line; throws with the usage on anything unknown. */
export function parseDaemonArgs(argv: readonly string[]): DaemonArgs {
  let sizes: readonly ClusterSize[] = DEFAULT_SIZES;
  let modes: readonly BenchMode[] | null = null;
  let programs: readonly DaemonProgram[] = DEFAULT_PROGRAMS;
  let changes = DEFAULT_CHANGES;
  let budgets: Budgets | null = null;
  let json: string | null = null;
  for (const arg of argv) {
    const eq = arg.indexOf("=");
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    const value = eq < 0 ? "" : arg.slice(eq + 1);
    if (flag === "--sizes") sizes = parseSizes(value);
    else if (flag === "--modes") modes = parseModes(value);
    else if (flag === "--programs") programs = parsePrograms(value);
    else if (flag === "--changes") changes = Number(value);
    else if (flag === "--budget") budgets = parseBudgets(value);
    else if (flag === "--json" && value !== "") json = value;
    else throw new Error(`Unknown argument ${JSON.stringify(arg)}: ${USAGE}`);
  }
  if (sizes.length === 0) throw new Error(`--sizes names no size: ${USAGE}`);
  if (modes !== null && modes.length === 0) throw new Error(`--modes names no mode: ${USAGE}`);
  if (programs.length === 0) throw new Error(`--programs names no program: ${USAGE}`);
  if (!Number.isInteger(changes) || changes < 1) {
    throw new Error(`--changes must be a positive integer: got ${JSON.stringify(changes)}`);
  }
  return { sizes, modes, programs, changes, budgets, json };
}

/** The modes run for `size` when `--modes` is not given. */
export function defaultModes(size: ClusterSize): BenchMode[] {
  return size.services > IPTABLES_DEFAULT_MAX_SERVICES ? ["nftables"] : ["nftables", "iptables"];
}

/** One planned run. */
export interface PlannedRun {
  readonly size: ClusterSize;
  readonly mode: BenchMode;
  readonly program: DaemonProgram;
}

/**
 * Every (size, mode, program) to run, in order, and a note for each default that left a mode
 * out.
 */
export function planRuns(
  sizes: readonly ClusterSize[],
  modes: readonly BenchMode[] | null,
  programs: readonly DaemonProgram[],
): { runs: PlannedRun[]; notes: string[] } {
  const runs: PlannedRun[] = [];
  const notes: string[] = [];
  for (const size of sizes) {
    const chosen = modes ?? defaultModes(size);
    for (const mode of chosen) for (const program of programs) runs.push({ size, mode, program });
    if (modes === null && !chosen.includes("iptables")) {
      notes.push(
        `iptables at ${size.services} × ${size.endpoints} not run by default: iptables-restore ` +
          "(nf_tables) of that ruleset takes more than 7 minutes; ask with --modes=iptables.",
      );
    }
  }
  return { runs, notes };
}

/** The budget of one run in seconds: the flag's for this size or all sizes, else the default. */
export function daemonBudgetS(size: ClusterSize, budgets: Budgets | null): number {
  return flaggedBudgetS(size, budgets) ?? DEFAULT_BUDGET_S;
}

/** What the program's config file says. */
export interface DaemonConfigOptions {
  readonly mode: BenchMode;
  /** Path of the kubeconfig naming the fake API server. */
  readonly kubeconfig: string;
  /** The Node the program runs as (`hostnameOverride`). */
  readonly nodeName: string;
  /** `clusterCIDR` (the synthetic cluster's pod range). */
  readonly clusterCIDR: string;
}

/**
 * The program's config: the end-to-end suite's namespace-safe KubeProxyConfiguration, plus JSON
 * logs at verbosity 4, which give every sync and state-file save a machine-readable line with
 * its own timestamp.
 */
export function daemonConfigYaml(options: DaemonConfigOptions): string {
  return netnsConfigYaml({
    ...options,
    extraLines: ["logging:", "  format: json", "  verbosity: 4"],
  });
}

/** A kubeconfig for the fake API server: its URL, the CA file to trust, its bearer token. */
export function kubeconfigYaml(server: string, caFile: string, token: string | null): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "  - name: bench",
    "    cluster:",
    `      server: ${server}`,
    `      certificate-authority: ${caFile}`,
    "users:",
    "  - name: bench",
    "    user:",
    ...(token === null ? ["      {}"] : [`      token: ${token}`]),
    "contexts:",
    "  - name: bench",
    "    context:",
    "      cluster: bench",
    "      user: bench",
    "current-context: bench",
    "",
  ].join("\n");
}

/** A process's memory from `/proc/<pid>/status`, MiB; null where the field is missing. */
export interface ProcMemory {
  /** `VmRSS`: resident now. */
  readonly rssMiB: number | null;
  /** `VmHWM`: the highest resident set so far (it never goes down). */
  readonly hwmMiB: number | null;
  /** `RssAnon`: of the resident set, heap and other private memory. */
  readonly anonMiB: number | null;
  /** `RssFile`: of the resident set, mapped files (mostly the `deno` executable's pages). */
  readonly fileMiB: number | null;
}

/** Reads the memory fields of a `/proc/<pid>/status` text. */
export function parseProcMemory(status: string): ProcMemory {
  return {
    rssMiB: statusFieldMiB(status, "VmRSS"),
    hwmMiB: statusFieldMiB(status, "VmHWM"),
    anonMiB: statusFieldMiB(status, "RssAnon"),
    fileMiB: statusFieldMiB(status, "RssFile"),
  };
}

/** One JSON log line of the program. */
export interface LogRecord {
  /** When the line was written, Unix milliseconds. */
  readonly tsMs: number;
  /** The message (`msg`, or `err` for error lines). */
  readonly msg: string;
  /** The whole record, for its fields. */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** Parses one line of the program's JSON log; null for anything else (e.g. a Deno warning). */
export function parseLogRecord(line: string): LogRecord | null {
  if (!line.startsWith("{")) return null;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const record = value as Record<string, unknown>;
  const ts = record.ts;
  const msg = typeof record.msg === "string"
    ? record.msg
    : typeof record.err === "string"
    ? record.err
    : null;
  if (typeof ts !== "number" || msg === null) return null;
  return { tsMs: Math.round(ts * 1000), msg, fields: record };
}

/** The program's log messages the bench waits for. */
export const LOG = Object.freeze({
  started: "Starting deno-kube-proxy",
  listed: "Services, EndpointSlices and the Node are synced",
  synced: "SyncProxyRules complete",
  saved: "Saved the state file",
});

/** Whether `record` is a completed sync of a table revision newer than `afterRevision`. */
export function isSyncOfRevisionAfter(record: LogRecord, afterRevision: number): boolean {
  const revision = record.fields.revision;
  return record.msg === LOG.synced && typeof revision === "number" && revision > afterRevision;
}

/** How a run ended. */
export type DaemonRunStatus = "ok" | "over budget" | "failed" | "skipped";

/** One cold-start milestone: when (ms after the process was started) and the memory then. */
export interface Milestone {
  readonly atMs: number;
  /** The first memory sample taken at or after `atMs`; null if the process was gone. */
  readonly memory: ProcMemory | null;
  /** When that sample was taken (ms after the process was started). */
  readonly memoryAtMs: number | null;
}

/** One memory sample of the program: ms after its start, and its memory then. */
export interface MemorySample extends ProcMemory {
  readonly atMs: number;
}

/** When the samples' high-water mark reached its final value; null without samples. */
export function peakTime(samples: readonly MemorySample[]): number | null {
  let peak = -Infinity;
  let at: number | null = null;
  for (const sample of samples) {
    if (sample.hwmMiB !== null && sample.hwmMiB > peak) {
      peak = sample.hwmMiB;
      at = sample.atMs;
    }
  }
  return at;
}

/**
 * The peak's time for the table, naming a state-file save logged within a second of it: at
 * scale, serialising the state file is the largest allocation after the first sync, and its
 * line comes when the write has finished, so the rise may show just before or after it.
 */
export function describePeak(peakAtMs: number | null, savesAtMs: readonly number[]): string {
  if (peakAtMs === null) return "–";
  const near = savesAtMs.find((t) => Math.abs(t - peakAtMs) <= 1000);
  const at = fmtS(peakAtMs);
  return near === undefined ? at : `${at} (state-file save at ${fmtS(near)})`;
}

/**
 * `samples` thinned to at most one per `stepMs` (the first of each step), for the JSON: a run
 * sampled every 10 ms has thousands of points.
 */
export function thinSamples(
  samples: readonly MemorySample[],
  stepMs: number,
): MemorySample[] {
  const out: MemorySample[] = [];
  let next = -Infinity;
  for (const sample of samples) {
    if (sample.atMs < next) continue;
    out.push(sample);
    next = sample.atMs + stepMs;
  }
  return out;
}

/** Everything measured for one (size, mode); a null part was not reached. */
export interface DaemonRunResult {
  readonly services: number;
  readonly endpointsPerService: number;
  readonly mode: BenchMode;
  readonly program: DaemonProgram;
  readonly status: DaemonRunStatus;
  readonly budgetS: number;
  /** Seconds the run took, up to where it stopped (loading the fake API included). */
  readonly elapsedS: number;
  /** What stopped a failed, over-budget or skipped run. */
  readonly error: string | null;
  /** The step the run was in when it stopped, or null. */
  readonly stoppedIn: string | null;
  /** Loading the fake API server before the program starts. */
  readonly load: { readonly objects: number; readonly ms: number } | null;
  /** Cold start, each milestone from the program's own log line. */
  readonly coldStart: {
    /** Runtime up, modules loaded, config read ("Starting deno-kube-proxy"). */
    readonly loaded: Milestone;
    /** Services, EndpointSlices and the Node listed in full. */
    readonly listed: Milestone | null;
    /** The first successful sync: the node is serving. */
    readonly firstSync: Milestone | null;
    /** The first state-file save. */
    readonly stateSaved: Milestone | null;
    /** Fields of the first sync's log line (kind, rules, bytes, elapsed …). */
    readonly firstSyncLog: Readonly<Record<string, unknown>> | null;
  } | null;
  /** One-endpoint changes: request to the fake API → the program logged the sync. */
  readonly change: {
    readonly count: number;
    readonly medianMs: number;
    readonly p95Ms: number;
    readonly maxMs: number;
    /** Sync kinds seen (`partial` expected). */
    readonly kinds: readonly string[];
    /** Every change in order: its latency and the kind of sync that applied it. */
    readonly samples: readonly { readonly ms: number; readonly kind: string }[];
  } | null;
  /** The program's memory at the end (VmHWM = its peak over the whole run). */
  readonly end: ProcMemory | null;
  /** When the peak was reached (ms after the process was started), from the samples. */
  readonly peakAtMs: number | null;
  /** When the program saved its state file (ms after it was started), from its log. */
  readonly stateSavesAtMs: readonly number[];
  /** The program's memory over the whole run, one sample per ~100 ms. */
  readonly timeline: readonly MemorySample[];
  /** The fake API server's memory at the end (not ours). */
  readonly fakeApi: ProcMemory | null;
  /** Size of the state file at the end, bytes. */
  readonly stateFileBytes: number | null;
}

/** A result with nothing measured yet. */
export function emptyDaemonResult(
  size: ClusterSize,
  mode: BenchMode,
  budgetS: number,
  program: DaemonProgram = "source",
): DaemonRunResult {
  return {
    services: size.services,
    endpointsPerService: size.endpoints,
    mode,
    program,
    status: "failed",
    budgetS,
    elapsedS: 0,
    error: null,
    stoppedIn: null,
    load: null,
    coldStart: null,
    change: null,
    end: null,
    peakAtMs: null,
    stateSavesAtMs: [],
    timeline: [],
    fakeApi: null,
    stateFileBytes: null,
  };
}

/** The issue's memory goal, judged per mode at 10k × 10 (a {@linkcode GoalVerdict}). */
export type DaemonGoal = GoalVerdict;

/** What the benchmark prints and saves. */
export interface DaemonReport {
  /** The command that ran the program (without per-run paths). */
  readonly program: string;
  readonly results: readonly DaemonRunResult[];
  readonly goals: readonly DaemonGoal[];
  /** Modes left out by default, and similar remarks. */
  readonly notes: readonly string[];
}

/**
 * A complete run is judged on its peak; a run stopped early has not reached the peak of a whole
 * run, so it is only judged once it has already missed the goal.
 */
function rssVerdict(peakMiB: number | null, complete: boolean): boolean | null {
  if (peakMiB === null) return null;
  if (peakMiB > RSS_GOAL_MIB) return false;
  return complete ? true : null;
}

/** `nftables`, or `nftables, bundled` for a run of the bundle. */
export function runLabel(r: Pick<DaemonRunResult, "mode" | "program">): string {
  return r.program === "bundle" ? `${r.mode}, bundled` : r.mode;
}

/** Judges "our peak RSS ≤ 100 MB at 10k × 10" for each mode and program run at that size. */
export function judgeDaemonGoals(results: readonly DaemonRunResult[]): DaemonGoal[] {
  const goals: DaemonGoal[] = [];
  for (const mode of ["nftables", "iptables"] as const) {
    for (const program of DAEMON_PROGRAMS) {
      const r = results.find((x) =>
        x.mode === mode && x.program === program && x.services === 10000 &&
        x.endpointsPerService === 10
      );
      if (r === undefined) continue;
      goals.push(rssGoal(r));
    }
  }
  return goals;
}

function rssGoal(r: DaemonRunResult): DaemonGoal {
  const peak = r.end?.hwmMiB ?? null;
  const complete = r.status === "ok";
  return {
    goal: `${runLabel(r)}: the program's peak RSS ≤ 100 MB (${RSS_GOAL_MIB.toFixed(1)} MiB) ` +
      "at 10k × 10",
    value: peak === null ? "–" : `${fmtMiB(peak)}${complete ? "" : ` (${r.status})`}`,
    met: rssVerdict(peak, complete),
  };
}

/** Formats milliseconds as seconds with one decimal; "–" when not reached. */
function fmtS(ms: number | undefined): string {
  return ms === undefined ? "–" : `${(ms / 1000).toFixed(1)} s`;
}

function memoryCell(m: Milestone | null | undefined): string {
  const mem = m?.memory ?? null;
  if (mem === null) return "–";
  return `${fmtMiB(mem.rssMiB)} (${fmtMiB(mem.hwmMiB)})`;
}

/** The Markdown lines: one row per run, problems, notes, then the goal verdicts. */
export function formatDaemonTable(report: DaemonReport): string[] {
  const out: string[] = [];
  out.push(...tableHead([
    "cluster",
    "mode",
    "status",
    "cold start: loaded / listed / first sync",
    "RSS (peak) after LIST",
    "RSS (peak) after first sync",
    "1-endpoint change median / p95",
    "our peak RSS",
    "RSS at end: anon + file",
    "fake API peak RSS",
  ]));
  for (const r of report.results) {
    const c = r.coldStart;
    const ch = r.change;
    const end = r.end;
    out.push(
      tableRow([
        clusterCell(r),
        runLabel(r),
        statusCell(r),
        c === null
          ? "–"
          : `${fmtS(c.loaded.atMs)} / ${fmtS(c.listed?.atMs)} / ${fmtS(c.firstSync?.atMs)}`,
        memoryCell(c?.listed),
        memoryCell(c?.firstSync),
        ch === null ? "–" : `${fmtMs(ch.medianMs)} / ${fmtMs(ch.p95Ms)}`,
        fmtMiB(end?.hwmMiB),
        end === null
          ? "–"
          : `${fmtMiB(end.rssMiB)}: ${fmtMiB(end.anonMiB)} + ${fmtMiB(end.fileMiB)}`,
        fmtMiB(r.fakeApi?.hwmMiB),
      ]),
    );
  }
  out.push("");
  out.push(...formatMemorySteps(report.results));
  const problems = report.results.filter((r) => r.error !== null);
  for (const r of problems) {
    out.push(
      `- ${clusterCell(r)} ${runLabel(r)}: ${r.status}` +
        `${r.stoppedIn === null ? "" : ` during ${r.stoppedIn}`} after ${r.elapsedS.toFixed(0)} s` +
        ` (${firstLine(r.error ?? "")})`,
    );
  }
  if (problems.length > 0) out.push("");
  for (const note of report.notes) out.push(`- ${note}`);
  if (report.notes.length > 0) out.push("");
  if (report.goals.length > 0) out.push(...formatGoals(report.goals));
  return out;
}

function firstLine(text: string): string {
  const line = text.split("\n")[0] ?? "";
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

/** `K=V …` of the malloc settings the program runs with. */
export function mallocEnvText(): string {
  return MALLOC_ENV_WORDS.join(" ");
}

/** The standing notes: how the program ran and how changes were paced. */
export function standingNotes(changes: number): string[] {
  return [
    `Program: \`${mallocEnvText()} deno run ${V8_FLAGS_OPTION} main.ts\` from source (the ` +
    "compiled binary runs the same code with the same V8 flags; the environment is the one " +
    "deploy/kube-proxy.service and the DaemonSet set), reading the fake API server through a " +
    "kubeconfig. Rows marked *bundled* run the same code as one JavaScript file " +
    "(`deno bundle --platform=deno main.ts`, then `deno run --no-config` of it): no TypeScript, " +
    "module graph or npm resolution at start-up, which is closer to the compiled binary (its " +
    "modules are embedded pre-transpiled and run by `denort`, which this machine cannot " +
    "download, so the binary itself is not measured). " +
    "Times come from its own JSON log lines, relative to the moment the process was started. " +
    "Its memory is sampled from /proc/<pid>/status every 10 ms (50 ms without --allow-all); " +
    "a milestone shows the first sample after its log line.",
    `Changes: ${changes} one-endpoint readiness flips through the fake API server, each sent ` +
    `once ${MIN_SYNC_PERIOD_MS} ms (minSyncPeriod) have passed since the previous sync, timed ` +
    "from the request to the program's log line for the sync that applied it.",
  ];
}

/**
 * Where the peak comes from, per run: the resident set once the program has started, then how
 * much each phase raised the high-water mark (they add up to the peak).
 */
export function formatMemorySteps(results: readonly DaemonRunResult[]): string[] {
  const rows = results.filter((r) => r.coldStart !== null && r.end !== null);
  if (rows.length === 0) return [];
  const hwm = (m: Milestone | null | undefined) => m?.memory?.hwmMiB ?? null;
  const step = (to: number | null, from: number | null) =>
    to === null || from === null ? "–" : `+${fmtMiB(to - from)}`;
  const out = tableHead([
    "cluster",
    "mode",
    "started (anon + file)",
    "+ first LIST",
    "+ first sync",
    "+ changes, state saves",
    "= peak",
    "peak reached at",
  ]);
  for (const r of rows) {
    const c = r.coldStart;
    const start = c?.loaded.memory ?? null;
    out.push(
      tableRow([
        clusterCell(r),
        runLabel(r),
        start === null
          ? "–"
          : `${fmtMiB(start.hwmMiB)} (${fmtMiB(start.anonMiB)} + ${fmtMiB(start.fileMiB)})`,
        step(hwm(c?.listed), hwm(c?.loaded)),
        step(hwm(c?.firstSync), hwm(c?.listed)),
        step(r.end?.hwmMiB ?? null, hwm(c?.firstSync)),
        fmtMiB(r.end?.hwmMiB),
        describePeak(r.peakAtMs, r.stateSavesAtMs),
      ]),
    );
  }
  out.push("");
  return out;
}
