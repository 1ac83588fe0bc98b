import assert from "node:assert/strict";
import { decodeConfig, resolveConfig } from "../../src/config/mod.ts";
import { resolveConnection } from "../../src/kube/connection.ts";
import { SILENT_LOGGER } from "../../src/log.ts";
import {
  daemonBudgetS,
  daemonConfigYaml,
  type DaemonRunResult,
  describePeak,
  emptyDaemonResult,
  formatDaemonTable,
  formatMemorySteps,
  isSyncOfRevisionAfter,
  judgeDaemonGoals,
  kubeconfigYaml,
  type LogRecord,
  parseDaemonArgs,
  parseLogRecord,
  parseProcMemory,
  peakTime,
  planRuns,
  thinSamples,
} from "../../scripts/bench/daemon_report.ts";
import { parseBudgets } from "../../scripts/bench/cluster_report.ts";
import { makeSyntheticCluster } from "../../scripts/bench/synthetic_cluster.ts";
import { ManualClock } from "../fixtures/manual_clock.ts";

const K1 = { services: 1000, endpoints: 10 };
const K10 = { services: 10000, endpoints: 10 };

/** The memory lines of a real `/proc/<pid>/status` (other lines trimmed). */
const STATUS = [
  "Name:\tdeno",
  "Pid:\t4242",
  "VmPeak:\t 3461120 kB",
  "VmHWM:\t  160256 kB",
  "VmRSS:\t  151552 kB",
  "RssAnon:\t  102400 kB",
  "RssFile:\t   49152 kB",
  "RssShmem:\t       0 kB",
  "Threads:\t11",
].join("\n");

function record(line: string): LogRecord {
  const r = parseLogRecord(line);
  assert.ok(r !== null, line);
  return r;
}

/** A finished run with the given peak and end memory. */
function run(
  size: { services: number; endpoints: number },
  mode: "nftables" | "iptables",
  peakMiB: number,
  status: DaemonRunResult["status"] = "ok",
): DaemonRunResult {
  const memory = (rss: number) => ({ rssMiB: rss, hwmMiB: rss, anonMiB: rss - 40, fileMiB: 40 });
  return {
    ...emptyDaemonResult(size, mode, 300),
    status,
    elapsedS: 40,
    error: status === "ok" ? null : "The run's time budget ran out during the first sync",
    stoppedIn: status === "ok" ? null : "the first sync",
    load: { objects: 20001, ms: 2500 },
    coldStart: {
      loaded: { atMs: 400, memory: memory(110), memoryAtMs: 405 },
      listed: { atMs: 2600, memory: memory(peakMiB - 30), memoryAtMs: 2608 },
      firstSync: status === "ok"
        ? { atMs: 4100, memory: memory(peakMiB - 10), memoryAtMs: 4101 }
        : null,
      stateSaved: null,
      firstSyncLog: null,
    },
    change: status === "ok"
      ? {
        count: 25,
        medianMs: 41,
        p95Ms: 70,
        maxMs: 90,
        kinds: ["partial"],
        samples: [{ ms: 41, kind: "partial" }],
      }
      : null,
    end: { rssMiB: peakMiB - 20, hwmMiB: peakMiB, anonMiB: peakMiB - 60, fileMiB: 40 },
    peakAtMs: 12_300,
    fakeApi: { rssMiB: 300, hwmMiB: 320, anonMiB: 280, fileMiB: 40 },
    stateFileBytes: 1000,
  };
}

Deno.test("parseProcMemory() reads the resident set, its peak and its split in MiB", () => {
  assert.deepEqual(parseProcMemory(STATUS), {
    rssMiB: 148,
    hwmMiB: 156.5,
    anonMiB: 100,
    fileMiB: 48,
  });
  // A kernel without the Rss* split (before 4.5) still gives the totals.
  assert.deepEqual(parseProcMemory("VmHWM:\t 2048 kB\nVmRSS:\t 1024 kB\n"), {
    rssMiB: 1,
    hwmMiB: 2,
    anonMiB: null,
    fileMiB: null,
  });
});

Deno.test("thinSamples() keeps the first sample of every step, so the timeline stays short", () => {
  const samples = [0, 9, 21, 100, 105, 230, 231].map((atMs) => ({
    atMs,
    rssMiB: atMs,
    hwmMiB: atMs,
    anonMiB: null,
    fileMiB: null,
  }));
  assert.deepEqual(thinSamples(samples, 100).map((s) => s.atMs), [0, 100, 230]);
  assert.deepEqual(thinSamples([], 100), []);
});

Deno.test("peakTime() is when the high-water mark last rose", () => {
  const at = (atMs: number, hwmMiB: number | null) => ({
    atMs,
    rssMiB: hwmMiB,
    hwmMiB,
    anonMiB: null,
    fileMiB: null,
  });
  assert.equal(peakTime([at(0, 10), at(10, 50), at(20, 50), at(30, 40), at(40, null)]), 10);
  assert.equal(peakTime([]), null);
});

Deno.test("describePeak() names a state-file save that finished within a second of the peak", () => {
  assert.equal(describePeak(23_450, [7_300, 23_490]), "23.4 s (state-file save at 23.5 s)");
  assert.equal(describePeak(18_119, [12_700, 17_700]), "18.1 s (state-file save at 17.7 s)");
  assert.equal(describePeak(12_000, [7_300, 23_490]), "12.0 s");
  assert.equal(describePeak(null, []), "–");
});

Deno.test("parseLogRecord() reads the program's JSON lines and ignores anything else", () => {
  const sync = record(
    '{"ts":1795687923.787,"caller":"kube-proxy","v":2,"msg":"SyncProxyRules complete",' +
      '"kind":"full","full":true,"elapsed":"373ms","revision":1}',
  );
  assert.equal(sync.tsMs, 1795687923787);
  assert.equal(sync.msg, "SyncProxyRules complete");
  assert.equal(sync.fields.kind, "full");
  const error = record('{"ts":1.5,"caller":"kube-proxy","err":"boom","msg":"Failed"}');
  assert.equal(error.msg, "Failed");
  assert.equal(parseLogRecord("Warning: something from Deno"), null);
  assert.equal(parseLogRecord('{"id":3}'), null);
  assert.equal(parseLogRecord("{not json"), null);
});

Deno.test("isSyncOfRevisionAfter() accepts only a completed sync of a newer table revision", () => {
  const line = (msg: string, revision: number) =>
    record(JSON.stringify({ ts: 1, msg, kind: "partial", revision }));
  assert.equal(isSyncOfRevisionAfter(line("SyncProxyRules complete", 5), 4), true);
  assert.equal(isSyncOfRevisionAfter(line("SyncProxyRules complete", 4), 4), false);
  assert.equal(isSyncOfRevisionAfter(line("Syncing nftables rules", 9), 4), false);
});

Deno.test("daemonConfigYaml() is a config the program resolves to the bench's node and mode", () => {
  const cluster = makeSyntheticCluster({ services: 1, endpointsPerService: 1 });
  for (const mode of ["nftables", "iptables"] as const) {
    const decoded = decodeConfig(daemonConfigYaml({
      mode,
      kubeconfig: "/tmp/bench/kubeconfig",
      nodeName: cluster.nodeName,
      clusterCIDR: cluster.clusterCIDR,
    }));
    const config = resolveConfig(decoded.file, { lineOf: decoded.lineOf });
    assert.equal(config.mode, mode);
    assert.equal(config.hostnameOverride, "node-0");
    assert.deepEqual(config.clusterCIDRs, ["10.0.0.0/8"]);
    assert.equal(config.clientConnection.kubeconfig, "/tmp/bench/kubeconfig");
    // JSON lines at -v=4: every sync and state-file save has a line the bench can read.
    assert.equal(config.logging.format, "json");
    assert.equal(config.logging.verbosity, 4);
    // Upstream's sync periods, which the change pacing assumes.
    assert.equal(config.minSyncPeriodMs, 1000);
  }
});

Deno.test("kubeconfigYaml() names the server, the CA file and the token the program connects with", async () => {
  const ca = await Deno.readTextFile(new URL("../fixtures/tls/ca.crt", import.meta.url));
  const files: Record<string, string> = {
    "/b/kubeconfig": kubeconfigYaml("https://127.0.0.1:41234", "/b/ca.crt", "secret-token"),
    "/b/ca.crt": ca,
  };
  const connection = await resolveConnection({ kubeconfig: "/b/kubeconfig", master: "" }, {
    env: () => undefined,
    readTextFile: (path) => {
      const text = files[path];
      return text === undefined
        ? Promise.reject(new Deno.errors.NotFound(path))
        : Promise.resolve(text);
    },
    clock: new ManualClock(),
    log: SILENT_LOGGER,
  });
  assert.equal(connection.server, "https://127.0.0.1:41234");
  assert.equal(connection.transport.caCerts.length, 1);
  assert.match(connection.transport.caCerts[0] ?? "", /BEGIN CERTIFICATE/);
  assert.equal(await connection.credentials.authorization(), "Bearer secret-token");
});

Deno.test("parseDaemonArgs() defaults to 1k and 10k and names the flags on a typo", () => {
  const args = parseDaemonArgs([]);
  assert.deepEqual(args.sizes, [K1, K10]);
  assert.equal(args.modes, null);
  assert.deepEqual(args.programs, ["source", "bundle"]);
  assert.equal(args.changes, 25);
  assert.equal(args.json, null);
  const asked = parseDaemonArgs([
    "--sizes=5k",
    "--modes=iptables",
    "--changes=3",
    "--budget=5k:90",
    "--json=/tmp/d.json",
    "--programs=bundle",
  ]);
  assert.deepEqual(asked.programs, ["bundle"]);
  assert.deepEqual(asked.sizes, [{ services: 5000, endpoints: 10 }]);
  assert.deepEqual(asked.modes, ["iptables"]);
  assert.equal(asked.changes, 3);
  assert.equal(asked.json, "/tmp/d.json");
  assert.throws(() => parseDaemonArgs(["--size=1k"]), /Unknown argument "--size=1k": use --sizes=/);
  assert.throws(() => parseDaemonArgs(["--changes=0"]), /--changes must be a positive integer/);
  assert.throws(
    () => parseDaemonArgs(["--programs=binary"]),
    /--programs: unknown program "binary": use /,
  );
  assert.throws(() => parseDaemonArgs(["--programs="]), /--programs names no program/);
});

Deno.test("planRuns() runs each (size, mode) once per program, source first", () => {
  const { runs } = planRuns([K1], ["nftables"], ["source", "bundle"]);
  assert.deepEqual(runs.map((r) => `${r.size.services} ${r.mode} ${r.program}`), [
    "1000 nftables source",
    "1000 nftables bundle",
  ]);
});

Deno.test("planRuns() leaves iptables out at 10k by default and says so; --modes is obeyed", () => {
  const byDefault = planRuns([K1, K10], null, ["source"]);
  assert.deepEqual(byDefault.runs.map((r) => `${r.size.services} ${r.mode}`), [
    "1000 nftables",
    "1000 iptables",
    "10000 nftables",
  ]);
  assert.equal(byDefault.notes.length, 1);
  assert.match(byDefault.notes[0] ?? "", /iptables at 10000 × 10 not run by default.*--modes=/);
  const asked = planRuns([K10], ["iptables", "nftables"], ["source"]);
  assert.deepEqual(asked.runs.map((r) => r.mode), ["iptables", "nftables"]);
  assert.deepEqual(asked.notes, []);
});

Deno.test("daemonBudgetS() takes the size's budget, then the global one, then 300 s", () => {
  assert.equal(daemonBudgetS(K10, parseBudgets("10k:600,1k:60")), 600);
  assert.equal(daemonBudgetS(K1, parseBudgets("10k:600,1k:60")), 60);
  assert.equal(daemonBudgetS(K1, parseBudgets("120")), 120);
  assert.equal(daemonBudgetS(K1, null), 300);
});

Deno.test("judgeDaemonGoals() judges the 100 MB goal only on complete 10k × 10 runs", () => {
  const goals = judgeDaemonGoals([
    run(K1, "nftables", 80),
    run(K10, "nftables", 90),
    run(K10, "iptables", 150, "over budget"),
  ]);
  assert.deepEqual(goals.map((g) => [g.goal.split(":")[0], g.value, g.met]), [
    ["nftables", "90 MiB", true],
    // Stopped early yet already above the goal: missed whatever the rest would have cost.
    ["iptables", "150 MiB (over budget)", false],
  ]);
  const both = judgeDaemonGoals([
    run(K10, "nftables", 110),
    { ...run(K10, "nftables", 94), program: "bundle" },
  ]);
  assert.deepEqual(both.map((g) => [g.goal.split(":")[0], g.value, g.met]), [
    ["nftables", "110 MiB", false],
    ["nftables, bundled", "94 MiB", true],
  ]);
  const early = judgeDaemonGoals([run(K10, "nftables", 60, "over budget")]);
  assert.equal(early[0]?.met, null);
  assert.equal(judgeDaemonGoals([run(K10, "nftables", 120)])[0]?.met, false);
});

Deno.test("formatDaemonTable() shows cold start, memory per milestone and what stopped a run", () => {
  const results = [run(K10, "nftables", 180), run(K10, "iptables", 150, "over budget")];
  const lines = formatDaemonTable({
    program: "deno run main.ts",
    results,
    goals: judgeDaemonGoals(results),
    notes: ["a note"],
  });
  assert.ok(
    lines.includes(
      "| 10000 × 10 | nftables | ok | 0.4 s / 2.6 s / 4.1 s | 150 MiB (150 MiB) | " +
        "170 MiB (170 MiB) | 41 ms / 70 ms | 180 MiB | 160 MiB: 120 MiB + 40 MiB | 320 MiB |",
    ),
    lines.join("\n"),
  );
  assert.ok(lines.some((l) => l.startsWith("| 10000 × 10 | iptables | over budget (300 s) |")));
  const bundled = formatDaemonTable({
    program: "deno run main.ts",
    results: [{ ...run(K10, "nftables", 90), program: "bundle" }],
    goals: [],
    notes: [],
  });
  assert.ok(bundled.some((l) => l.startsWith("| 10000 × 10 | nftables, bundled | ok |")));
  assert.ok(lines.includes(
    "- 10000 × 10 iptables: over budget during the first sync after 40 s (The run's time " +
      "budget ran out during the first sync)",
  ));
  assert.ok(lines.includes("- a note"));
  assert.ok(lines.some((l) =>
    l.startsWith("| nftables: the program's peak RSS ≤ 100 MB") &&
    l.endsWith("| 180 MiB | ❌ |")
  ));
});

Deno.test("formatMemorySteps() splits the peak into start-up, LIST, first sync and what came later", () => {
  const lines = formatMemorySteps([
    run(K10, "nftables", 180),
    emptyDaemonResult(K1, "iptables", 60),
  ]);
  assert.deepEqual(lines.slice(2), [
    "| 10000 × 10 | nftables | 110 MiB (70 MiB + 40 MiB) | +40 MiB | +20 MiB | +10 MiB | " +
    "180 MiB | 12.3 s |",
    "",
  ]);
  assert.deepEqual(formatMemorySteps([emptyDaemonResult(K1, "iptables", 60)]), []);
});
