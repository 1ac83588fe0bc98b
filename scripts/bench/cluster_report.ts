/**
 * The pure half of the cluster-scale benchmark: sizes and budgets from flags, the result types,
 * the goals of issue 9 with their verdicts, and the Markdown table. No clock, no processes, so
 * tests/scripts/bench_test.ts can check it on made-up numbers. Its size, budget and table-cell
 * helpers also serve the daemon benchmark's `daemon_report.ts`.
 *
 * @module
 */

/** A proxy mode the benchmark drives. */
export type BenchMode = "iptables" | "nftables";

/** A synthetic cluster size. */
export interface ClusterSize {
  /** Services (one port each). */
  readonly services: number;
  /** Endpoints per Service. */
  readonly endpoints: number;
}

/** Calls of one command and their summed wall time. */
export interface CommandTime {
  readonly calls: number;
  readonly ms: number;
}

/** How a run ended. */
export type RunStatus = "ok" | "over budget" | "failed" | "not run";

/** Everything measured for one (size, mode); a null part was not reached or not applicable. */
export interface ClusterRunResult {
  readonly services: number;
  readonly endpointsPerService: number;
  readonly mode: BenchMode;
  readonly status: RunStatus;
  /** The run's time budget, seconds. */
  readonly budgetS: number;
  /** Seconds the run took (up to where it stopped). */
  readonly elapsedS: number;
  /** What stopped a failed or over-budget run. */
  readonly error: string | null;
  /** Why the kernel steps were skipped, or null when they ran. */
  readonly kernelSkipped: string | null;
  /** All events into the table + the first `snapshot()`. */
  readonly snapshot: {
    readonly buildMs: number;
    /** Heap after a GC, including the synthetic input objects. */
    readonly heapMiB: number;
    /** Of which the input objects (Services, slices, Node). */
    readonly inputHeapMiB: number;
    readonly servicePorts: number;
    readonly endpoints: number;
  } | null;
  /** Full IPv4 render, as the first sync writes it. */
  readonly render: { readonly ms: number; readonly bytes: number; readonly lines: number } | null;
  /** The first full sync into an empty namespace. */
  readonly apply: {
    /** The tool that loaded the rules. */
    readonly tool: string;
    /** Time inside `iptables-restore` / `nft -f` (both families; IPv6 is near empty). */
    readonly toolMs: number;
    /** `backend.sync({ full: true })` wall time (render + probes + tools). */
    readonly syncMs: number;
    /** render.ms / toolMs. */
    readonly ratio: number;
    /** The tool's peak RSS, null without GNU time. */
    readonly toolPeakRssMiB: number | null;
    /** Every command the sync ran (probes, saves, restores). */
    readonly commands: Readonly<Record<string, CommandTime>>;
  } | null;
  /** nftables: upstream-shaped ruleset of the same snapshot. */
  readonly baseline: {
    readonly renderMs: number;
    readonly bytes: number;
    /** `nft -f` time; with `atLeast`, the time until the budget stopped it. */
    readonly applyMs: number;
    /** applyMs / our apply.toolMs. */
    readonly speedup: number;
    /** True when the load was cut at the budget: the numbers are lower bounds. */
    readonly atLeast: boolean;
    readonly peakRssMiB: number | null;
  } | null;
  /** One-endpoint changes that reached the kernel, event into the table → tool exited. */
  readonly change: {
    readonly count: number;
    /** Changes the rules did not show (sync `skipped`): not timed. */
    readonly skipped: number;
    readonly medianMs: number;
    readonly p95Ms: number;
    readonly maxMs: number;
    /** Event + snapshot() alone. */
    readonly snapshotMedianMs: number;
    /** Sync outcome kinds seen (`partial` expected). */
    readonly kinds: readonly string[];
    /** Every command the syncs ran, summed over all changes. */
    readonly commands: Readonly<Record<string, CommandTime>>;
  } | null;
  /** Our process's peak RSS (VmHWM) before the baseline step; null where unreadable. */
  readonly peakRssMiB: number | null;
  /** VmHWM after each step (`start` = after module load): where the peak was reached. */
  readonly peakRssTrailMiB: Readonly<Record<string, number | null>>;
  /** Live heap after a GC at the end of each step (what the run still holds). */
  readonly heapTrailMiB: Readonly<Record<string, number>>;
}

/** One goal of the issue, judged on this run. */
export interface GoalVerdict {
  readonly goal: string;
  /** The measured value, formatted; "–" when not measured. */
  readonly value: string;
  /** Null: not measured (size not run, over budget, no kernel). */
  readonly met: boolean | null;
}

/** What the benchmark writes as JSON. */
export interface ClusterScaleReport {
  readonly kernelSkipped: string | null;
  /** Whether tool peak RSS could be measured (GNU time installed). */
  readonly gnuTime: boolean;
  readonly iptablesLegacy: boolean;
  readonly results: readonly ClusterRunResult[];
  readonly goals: readonly GoalVerdict[];
}

/** Per-size budgets in seconds: by size label, with a fallback for all sizes. */
export interface Budgets {
  readonly bySize: Readonly<Record<string, number>>;
  readonly all: number | null;
}

/** `1k`, `10k`, `1kx100`: the label flags and tables use. */
export function sizeLabel(size: ClusterSize): string {
  const s = size.services % 1000 === 0 ? `${size.services / 1000}k` : String(size.services);
  return size.endpoints === 10 ? s : `${s}x${size.endpoints}`;
}

/** Parses `--sizes=1k,5k,10k,1kx100` (services, `k` = thousand; `xM` endpoints, default 10). */
export function parseSizes(text: string): ClusterSize[] {
  return text.split(",").filter((s) => s !== "").map((item) => {
    const m = /^(\d+)(k?)(?:x(\d+))?$/i.exec(item.trim());
    if (m === null) {
      throw new Error(
        `Bad size ${JSON.stringify(item)}: use N or Nk services, optionally xM endpoints ` +
          `(e.g. 10k, 1kx100)`,
      );
    }
    const services = Number(m[1]) * (m[2] === "" ? 1 : 1000);
    const endpoints = m[3] === undefined ? 10 : Number(m[3]);
    if (services < 1 || services > 65000 || endpoints < 1) {
      throw new Error(`Bad size ${JSON.stringify(item)}: 1–65000 services, ≥ 1 endpoint`);
    }
    return { services, endpoints };
  });
}

/** Parses `--modes=iptables,nftables`. */
export function parseModes(text: string): BenchMode[] {
  return text.split(",").filter((s) => s !== "").map((m) => {
    if (m !== "iptables" && m !== "nftables") {
      throw new Error(`Bad mode ${JSON.stringify(m)}: use iptables and/or nftables`);
    }
    return m;
  });
}

/** Parses `--budget=300` (every size) or `--budget=10k:600,1k:60` (seconds). */
export function parseBudgets(text: string): Budgets {
  const bySize: Record<string, number> = {};
  let all: number | null = null;
  for (const item of text.split(",").filter((s) => s !== "")) {
    const [key, value] = item.includes(":") ? item.split(":", 2) : [null, item];
    const seconds = Number(value);
    if (!Number.isFinite(seconds) || seconds <= 0) {
      throw new Error(`Bad budget ${JSON.stringify(item)}: use SECONDS or SIZE:SECONDS`);
    }
    if (key === null) all = seconds;
    else {
      const [size] = parseSizes(key ?? "");
      if (size === undefined) throw new Error(`Bad budget ${JSON.stringify(item)}`);
      bySize[sizeLabel(size)] = seconds;
    }
  }
  return { bySize, all };
}

/**
 * The budget of one run, seconds: the flag's, else 60 s per 20,000 endpoints (at least 60 s):
 * 60 s at 1k × 10, 150 s at 5k × 10, 300 s at 10k × 10 and 1k × 100.
 */
export function budgetFor(size: ClusterSize, budgets: Budgets | null): number {
  return flaggedBudgetS(size, budgets) ??
    Math.max(60, Math.round(size.services * size.endpoints * 300 / 100000));
}

/** What `--budget` says for `size` in seconds: its own, else the one for all sizes, else null. */
export function flaggedBudgetS(size: ClusterSize, budgets: Budgets | null): number | null {
  return budgets?.bySize[sizeLabel(size)] ?? budgets?.all ?? null;
}

/** A result with nothing measured yet. */
export function emptyResult(size: ClusterSize, mode: BenchMode, budgetS: number): ClusterRunResult {
  return {
    services: size.services,
    endpointsPerService: size.endpoints,
    mode,
    status: "not run",
    budgetS,
    elapsedS: 0,
    error: null,
    kernelSkipped: null,
    snapshot: null,
    render: null,
    apply: null,
    baseline: null,
    change: null,
    peakRssMiB: null,
    peakRssTrailMiB: {},
    heapTrailMiB: {},
  };
}

/** The median (mean of the middle two for even counts); NaN when empty. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[mid] ?? NaN
    : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

/** The nearest-rank percentile `p` in [0, 1]; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? NaN;
}

/** 100 MB (the unit) in MiB. */
export const RSS_GOAL_MIB = 100e6 / (1024 * 1024);

/** Formats milliseconds for the table. */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return "–";
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  return ms < 10 ? `${ms.toFixed(2)} ms` : `${Math.round(ms)} ms`;
}

/** Formats MiB for the tables; "–" when not measured. */
export function fmtMiB(mib: number | null | undefined): string {
  return mib === null || mib === undefined ? "–" : `${mib.toFixed(0)} MiB`;
}

function fmtBytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

function fmtPct(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}

/** A verdict's mark: ✅ met, ❌ missed, – not measured. */
export function tick(met: boolean | null): string {
  return met === null ? "–" : met ? "✅" : "❌";
}

/** Judges the goals at 10k × 10 on `results`. */
export function judgeGoals(results: readonly ClusterRunResult[]): GoalVerdict[] {
  const at = (mode: BenchMode) =>
    results.find((r) => r.mode === mode && r.services === 10000 && r.endpointsPerService === 10);
  const goals: GoalVerdict[] = [];
  const ipt = at("iptables");
  goals.push({
    goal: "iptables: full render ≤ 5% of iptables-restore at 10k × 10",
    value: ipt?.apply ? fmtPct(ipt.apply.ratio) : "–",
    met: ipt?.apply ? ipt.apply.ratio <= 0.05 : null,
  });
  const nft = at("nftables");
  const b = nft?.baseline ?? null;
  goals.push({
    goal: "nftables: cold load ≥ 10× faster than upstream's shape at 10k × 10",
    value: b === null ? "–" : `${b.atLeast ? "≥ " : ""}${b.speedup.toFixed(1)}×`,
    met: b === null ? null : b.speedup >= 10 ? true : b.atLeast ? null : false,
  });
  for (const mode of ["iptables", "nftables"] as const) {
    const c = at(mode)?.change ?? null;
    goals.push({
      goal: `${mode}: one-endpoint change ≤ 100 ms median at 10k services`,
      value: c === null ? "–" : `${fmtMs(c.medianMs)} (p95 ${fmtMs(c.p95Ms)})`,
      met: c === null ? null : c.medianMs <= 100,
    });
  }
  for (const mode of ["iptables", "nftables"] as const) {
    const rss = at(mode)?.peakRssMiB ?? null;
    goals.push({
      goal: `${mode}: our peak RSS ≤ 100 MB (${RSS_GOAL_MIB.toFixed(1)} MiB) at 10k × 10`,
      value: fmtMiB(rss),
      met: rss === null ? null : rss <= RSS_GOAL_MIB,
    });
  }
  return goals;
}

/** Puts results and verdicts together. */
export function buildReport(
  results: readonly ClusterRunResult[],
  env: { kernelSkipped: string | null; gnuTime: boolean; iptablesLegacy: boolean },
): ClusterScaleReport {
  return { ...env, results, goals: judgeGoals(results) };
}

/** A run's status for the tables; an overrun names the budget it ran out of. */
export function statusCell(r: { readonly status: string; readonly budgetS: number }): string {
  return r.status === "over budget" ? `over budget (${r.budgetS} s)` : r.status;
}

/** A Markdown table's header row for `columns` and the separator row under it. */
export function tableHead(columns: readonly string[]): string[] {
  return [tableRow(columns), `|${"---|".repeat(columns.length)}`];
}

/** A run's cluster as the tables name it: `10000 × 10`. */
export function clusterCell(
  r: { readonly services: number; readonly endpointsPerService: number },
): string {
  return `${r.services} × ${r.endpointsPerService}`;
}

/** One Markdown table row of `cells` (pipes at both ends). */
export function tableRow(cells: readonly string[]): string {
  return ["", ...cells, ""].join(" | ").trim();
}

/** The goals as a Markdown table: what each measured and its verdict. */
export function formatGoals(goals: readonly GoalVerdict[]): string[] {
  return [
    ...tableHead(["goal", "measured", "verdict"]),
    ...goals.map((g) => `| ${g.goal} | ${g.value} | ${tick(g.met)} |`),
  ];
}

/** The Markdown lines: the results table, then the goals with ✅ / ❌ / – (not measured). */
export function formatClusterTable(report: ClusterScaleReport): string[] {
  const out: string[] = [];
  out.push(...tableHead([
    "cluster",
    "mode",
    "status",
    "snapshot build (heap)",
    "full render (text)",
    "kernel apply (tool peak RSS)",
    "render / apply",
    "upstream shape: apply (speed-up)",
    "1-endpoint change median / p95",
    "our peak RSS",
  ]));
  for (const r of report.results) {
    const s = r.snapshot;
    const a = r.apply;
    const b = r.baseline;
    const c = r.change;
    const baseline = r.mode === "iptables"
      ? "n/a"
      : b === null
      ? "–"
      : `${b.atLeast ? "> " : ""}${fmtMs(b.applyMs)} (${b.atLeast ? "≥ " : ""}${
        b.speedup.toFixed(1)
      }×)`;
    out.push(
      tableRow([
        clusterCell(r),
        r.mode,
        statusCell(r),
        s === null ? "–" : `${fmtMs(s.buildMs)} (${fmtMiB(s.heapMiB)})`,
        r.render === null ? "–" : `${fmtMs(r.render.ms)} (${fmtBytes(r.render.bytes)})`,
        a === null ? "–" : `${fmtMs(a.toolMs)} (${fmtMiB(a.toolPeakRssMiB)})`,
        a === null ? "–" : fmtPct(a.ratio),
        baseline,
        c === null ? "–" : `${fmtMs(c.medianMs)} / ${fmtMs(c.p95Ms)}`,
        fmtMiB(r.peakRssMiB),
      ]),
    );
  }
  out.push("");
  if (report.kernelSkipped !== null) {
    out.push(`Kernel steps skipped: ${report.kernelSkipped}.`);
    out.push("");
  }
  const problems = report.results.filter((r) => r.error !== null);
  for (const r of problems) {
    out.push(
      `- ${clusterCell(r)} ${r.mode}: ${r.status} after ` +
        `${r.elapsedS.toFixed(0)} s (${r.error})`,
    );
  }
  if (problems.length > 0) out.push("");
  out.push(...formatGoals(report.goals));
  return out;
}
