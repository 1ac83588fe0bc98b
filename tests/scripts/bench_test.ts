import assert from "node:assert/strict";
import {
  budgetFor,
  buildReport,
  type ClusterRunResult,
  emptyResult,
  formatClusterTable,
  judgeGoals,
  parseBudgets,
  parseModes,
  parseSizes,
  percentile,
} from "../../scripts/bench/cluster_report.ts";
import { measureRun } from "../../scripts/bench/cluster_scale.ts";
import { statusFieldMiB } from "../../scripts/bench/rss.ts";
import { parseBenchArgs } from "../../scripts/bench.ts";

const TINY = { services: 20, endpoints: 3 };

/** A finished 10k × 10 run with the given numbers. */
function run10k(
  mode: "iptables" | "nftables",
  numbers: { ratio: number; changeMs: number; rss: number; speedup?: number },
): ClusterRunResult {
  return {
    ...emptyResult({ services: 10000, endpoints: 10 }, mode, 300),
    status: "ok",
    elapsedS: 12,
    snapshot: { buildMs: 400, heapMiB: 75, inputHeapMiB: 35, servicePorts: 10000, endpoints: 1e5 },
    render: { ms: 600, bytes: 12 * 2 ** 20, lines: 200000 },
    apply: {
      tool: mode === "iptables" ? "iptables-restore" : "nft",
      toolMs: 600 / numbers.ratio,
      syncMs: 700 / numbers.ratio,
      ratio: numbers.ratio,
      toolPeakRssMiB: 50,
      commands: { [mode === "iptables" ? "iptables-restore" : "nft"]: { calls: 1, ms: 1 } },
    },
    baseline: numbers.speedup === undefined ? null : {
      renderMs: 900,
      bytes: 20 * 2 ** 20,
      applyMs: (600 / numbers.ratio) * numbers.speedup,
      speedup: numbers.speedup,
      atLeast: false,
      peakRssMiB: 300,
    },
    change: {
      count: 20,
      skipped: 0,
      medianMs: numbers.changeMs,
      p95Ms: numbers.changeMs * 2,
      maxMs: numbers.changeMs * 3,
      snapshotMedianMs: 1,
      kinds: ["partial"],
      commands: {},
    },
    peakRssMiB: numbers.rss,
  };
}

Deno.test("parseSizes() reads the issue's matrix and rejects a size it cannot read", () => {
  assert.deepEqual(parseSizes("1k,5k,10k,1kx100"), [
    { services: 1000, endpoints: 10 },
    { services: 5000, endpoints: 10 },
    { services: 10000, endpoints: 10 },
    { services: 1000, endpoints: 100 },
  ]);
  assert.deepEqual(parseSizes("250x4"), [{ services: 250, endpoints: 4 }]);
  assert.throws(() => parseSizes("ten"), /Bad size "ten": use N or Nk services/);
  assert.throws(() => parseModes("ipvs"), /Bad mode "ipvs": use iptables and\/or nftables/);
});

Deno.test("budgetFor() takes the flag's per-size budget, then the global one, then the default", () => {
  const budgets = parseBudgets("10k:600,1kx100:90");
  assert.equal(budgetFor({ services: 10000, endpoints: 10 }, budgets), 600);
  assert.equal(budgetFor({ services: 1000, endpoints: 100 }, budgets), 90);
  assert.equal(budgetFor({ services: 1000, endpoints: 10 }, parseBudgets("45")), 45);
  assert.equal(budgetFor({ services: 1000, endpoints: 10 }, null), 60);
  assert.equal(budgetFor({ services: 10000, endpoints: 10 }, null), 300);
  assert.throws(() => parseBudgets("10k:soon"), /Bad budget "10k:soon"/);
});

Deno.test("percentile() is the nearest rank: p95 of 20 samples is the 19th", () => {
  const samples = Array.from({ length: 20 }, (_, i) => 20 - i);
  assert.equal(percentile(samples, 0.95), 19);
  assert.equal(percentile(samples, 0.5), 10);
});

Deno.test("measureRun() on a tiny cluster without a kernel fills snapshot and render only", async () => {
  const progress: string[] = [];
  for (const mode of ["iptables", "nftables"] as const) {
    const r = await measureRun(TINY, mode, {
      kernel: false,
      budgetMs: 600_000,
      onProgress: (p) => progress.push(p.status),
    });
    assert.equal(r.status, "ok", r.error ?? "");
    assert.equal(r.kernelSkipped, "kernel steps not requested");
    assert.equal(r.snapshot?.servicePorts, 20);
    assert.ok((r.render?.bytes ?? 0) > 0 && (r.render?.lines ?? 0) > 0);
    assert.equal(r.apply, null);
    assert.equal(r.change, null);
    assert.equal(r.baseline, null);
    // The JSON file carries exactly what the function returned.
    assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
  }
  assert.equal(progress.at(-1), "ok");
});

Deno.test("measureRun() past its budget reports over budget and keeps what it measured", async () => {
  const r = await measureRun(TINY, "nftables", { kernel: false, budgetMs: 0 });
  assert.equal(r.status, "over budget");
  assert.match(r.error ?? "", /over budget during snapshot/);
  assert.equal(r.snapshot?.servicePorts, 20);
  assert.equal(r.render, null);
  const table = formatClusterTable(buildReport([r], {
    kernelSkipped: null,
    gnuTime: true,
    iptablesLegacy: false,
  }));
  assert.ok(table.some((l) => l.startsWith("| 20 × 3 | nftables | over budget (0 s) |")));
  assert.ok(table.some((l) => l.includes("over budget after 0 s (over budget during snapshot)")));
});

Deno.test("judgeGoals() marks met goals ✅, missed ❌ and unmeasured – in the table", () => {
  const results = [
    run10k("iptables", { ratio: 0.03, changeMs: 80, rss: 150 }),
    run10k("nftables", { ratio: 0.2, changeMs: 120, rss: 90, speedup: 25 }),
  ];
  const goals = judgeGoals(results);
  assert.deepEqual(goals.map((g) => g.met), [true, true, true, false, false, true]);
  assert.equal(goals[1]?.value, "25.0×");
  const lines = formatClusterTable(buildReport(results, {
    kernelSkipped: null,
    gnuTime: true,
    iptablesLegacy: false,
  }));
  assert.ok(lines.includes(
    "| iptables: full render ≤ 5% of iptables-restore at 10k × 10 | 3.0% | ✅ |",
  ));
  assert.ok(lines.includes(
    "| nftables: one-endpoint change ≤ 100 ms median at 10k services | 120 ms (p95 240 ms) | ❌ |",
  ));
  assert.ok(lines.some((l) => l.startsWith("| 10000 × 10 | nftables | ok |")));
  assert.deepEqual(judgeGoals([]).map((g) => g.met), [null, null, null, null, null, null]);
});

Deno.test("parseBenchArgs() defaults the JSON path and names the flags on a typo", () => {
  const args = parseBenchArgs(["--only=cluster", "--sizes=1k", "--modes=nftables"]);
  assert.equal(args.json, "dist/bench.json");
  assert.deepEqual(args.sizes, [{ services: 1000, endpoints: 10 }]);
  assert.deepEqual(args.modes, ["nftables"]);
  assert.equal(parseBenchArgs(["--json=/tmp/x.json", "--no-baseline"]).baseline, false);
  assert.throws(() => parseBenchArgs(["--size=1k"]), /Unknown argument "--size=1k": use --only=/);
  assert.throws(
    () => parseBenchArgs(["--only=ipvs"]),
    /Unknown section "ipvs": use model, cluster/,
  );
});

Deno.test("statusFieldMiB() reads VmHWM from /proc/self/status text", () => {
  assert.equal(
    statusFieldMiB("Name:\tdeno\nVmHWM:\t  102400 kB\nVmRSS:\t 2048 kB\n", "VmHWM"),
    100,
  );
  assert.equal(statusFieldMiB("Name:\tdeno\n", "VmHWM"), null);
});
