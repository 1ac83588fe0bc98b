/**
 * The fault matrix of issue 10: every fault we can produce here, and what the node keeps doing.
 * API faults use the fake API server; apply faults the recording runner (or a real process that
 * hangs); the SIGTERM-during-apply case runs the real tools in a throwaway namespace (root only).
 *
 * Time is virtual (the source's hand-driven clock): "converges within 2 s + one sync period" is
 * measured on that clock, with the production backoff (800 ms doubling to a 30 s cap).
 *
 * @module
 */

import assert from "node:assert/strict";
import { ApplyError, type ProxyBackend, type SyncOutcome } from "../../src/backend/backend.ts";
import { IptablesBackend } from "../../src/backend/iptables/backend.ts";
import { resolveConfig } from "../../src/config/mod.ts";
import { runDaemon } from "../../src/daemon.ts";
import { EndpointTable } from "../../src/model/mod.ts";
import { SILENT_LOGGER } from "../../src/log.ts";
import {
  CommandNotFoundError,
  type CommandResult,
  type CommandRunner,
  DenoCommandRunner,
  type RunOptions,
} from "../../src/runner.ts";
import { SyncFailedError } from "../../src/sync/proxier.ts";
import { type FakeApiServer, withApi } from "../fixtures/fake_api_server.ts";
import { makeNode, makeTableOptions, TEST_NODE_NAME } from "../fixtures/k8s_builders.ts";
import { ManualClock } from "../fixtures/manual_clock.ts";
import { MemoryFiles } from "../fixtures/memory_files.ts";
import { ignoreKernelTests, withNamespace } from "../fixtures/netns.ts";
import { seed, service, slice } from "../fixtures/numbered_services.ts";
import { RecordingRunner } from "../fixtures/recording_runner.ts";
import { REQUEST_TIMEOUT_MS } from "../fixtures/test_source.ts";
import { randomCluster, tableFrom } from "./_random_cluster.ts";
import { makeRig, type Rig, savedState, STATE, SYNC_PERIOD_MS } from "./_rig.ts";

const ignore = await ignoreKernelTests();

/** The production retry delays (src/kube defaults), so convergence times are the real ones. */
const PRODUCTION_BACKOFF = {};
/** The convergence budget after the API server recovers. */
const CONVERGENCE_BUDGET_MS = 2_000 + SYNC_PERIOD_MS;

/** Lets the event loop run real I/O (the fake server's answers) for a moment. */
function tick(ms = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Moves virtual time on in 100 ms steps until `done()`, letting requests in flight get their
 * answers between steps (bounded, so a hung request cannot stall the loop). Returns the virtual
 * time it took; fails past `limitMs`.
 */
async function driveUntil(rig: Rig, done: () => boolean, limitMs: number): Promise<number> {
  const clock = rig.t.clock;
  const start = clock.now();
  for (;;) {
    await Promise.race([clock.idle((ms) => ms === REQUEST_TIMEOUT_MS), tick(25)]);
    await tick();
    if (done()) return clock.now() - start;
    if (clock.now() - start > limitMs) {
      throw new Error(`Not converged within ${limitMs} ms (virtual):\n${rig.t.log.text}`);
    }
    clock.jump(100);
  }
}

/** Moves virtual time on by `ms` in 1 s steps, letting real I/O run between them. */
async function driveFor(rig: Rig, ms: number): Promise<void> {
  for (let passed = 0; passed < ms; passed += 1_000) {
    await tick(2);
    rig.t.clock.jump(1_000);
  }
  await tick(2);
}

function hasService(rig: Rig, name: string): () => boolean {
  return () => rig.t.table.events.includes(`add services ns1/${name}`);
}

/** Starts the source, waits for the three watches, and applies the first rules. */
async function running(rig: Rig, api: FakeApiServer): Promise<void> {
  await rig.t.source.start();
  await Promise.all([
    api.waitForWatch("services"),
    api.waitForWatch("endpointslices"),
    api.waitForWatch("nodes"),
  ]);
  await rig.t.clock.idle((ms) => ms === REQUEST_TIMEOUT_MS);
  assert.equal(await rig.sync(), undefined);
  assert.equal(rig.applies().length > 0, true, "first rules applied");
}

/**
 * The shared shape of every mid-run API fault: rules are in place; the fault starts and a new
 * Service is created meanwhile; syncs during the fault change nothing in the kernel and /healthz
 * stays 200; after `recover()` the new Service's rules are applied within the budget.
 */
async function survivesApiFault(
  fault: (api: FakeApiServer, rig: Rig) => void | Promise<void>,
  recover: (api: FakeApiServer) => void,
): Promise<void> {
  await withApi(async (api) => {
    seed(api, 1);
    const rig = await makeRig(api, { backoff: PRODUCTION_BACKOFF });
    try {
      await running(rig, api);
      const before = rig.applies().length;
      await fault(api, rig);
      api.create("services", service(2));
      api.create("endpointslices", slice(2));
      for (let i = 0; i < 3; i++) {
        await driveFor(rig, 20_000);
        assert.equal(await rig.sync(), undefined);
        assert.equal((await rig.healthz()).status, 200, "healthy while rules stay in force");
        assert.ok(
          rig.proxier.lastSnapshot?.v4.servicePorts.some((p) => p.clusterIP === "172.30.0.1"),
          "the source keeps what it had; svc1 is not deleted by the fault",
        );
      }
      const during = rig.applies().slice(before);
      assert.ok(
        during.every((c) => !/^-F|^-X|delete table|flush table/m.test(c.stdin ?? "")),
        "nothing flushed or deleted during the fault",
      );
      assert.ok(
        during.filter((c) => c.command === "iptables-restore").every((c) =>
          c.stdin?.includes("172.30.0.1")
        ),
        "every IPv4 restore during the fault still carries svc1",
      );

      recover(api);
      // Both watches must recover; each may sit in its own backoff, which only virtual time ends.
      const svc2 = hasService(rig, "svc2");
      const took = await driveUntil(
        rig,
        () => svc2() && rig.t.table.events.includes("add endpointSlices ns1/svc2-1"),
        CONVERGENCE_BUDGET_MS,
      );
      assert.ok(took <= CONVERGENCE_BUDGET_MS, `converged after ${took} ms`);
      assert.equal(await rig.sync(), undefined);
      const last = rig.applies().filter((c) => c.command === "iptables-restore").at(-1)?.stdin ??
        "";
      assert.match(last, /172\.30\.0\.2/, "the new Service's rules reach the kernel");
    } finally {
      api.clearFaults();
      api.setReachable(true);
      await rig.t.source.stop();
    }
  });
}

// ---- API server faults ------------------------------------------------------------------------

Deno.test("API server down at startup with a state file: rules come from the file within one sync", async () => {
  await withApi(async (api) => {
    seed(api, 2);
    const files = new MemoryFiles({ [STATE]: savedState(api) });
    api.setReachable(false);
    const rig = await makeRig(api, { stateFile: STATE, files });
    try {
      await rig.t.source.start();
      assert.notEqual(rig.t.source.servingFromStateSince, null);
      assert.equal(await rig.sync(), undefined);
      const v4 = rig.applies().find((c) => c.command === "iptables-restore")?.stdin ?? "";
      assert.match(v4, /-d 172\.30\.0\.1 --dport 80 -j KUBE-SVC-/);
      assert.match(v4, /-d 172\.30\.0\.2 --dport 80 -j KUBE-SVC-/);
      assert.match(v4, /DNAT .*--to-destination 10\.180\.0\.2:8080/);
      assert.equal((await rig.healthz()).status, 200);
    } finally {
      await rig.t.source.stop();
    }
  });
});

Deno.test("API server down at startup without a state file: healthz reports not synced, retries with capped backoff, no rules flushed", async () => {
  await withApi(async (api) => {
    seed(api, 1);
    api.setReachable(false);
    const rig = await makeRig(api, { backoff: { initialMs: 100, capMs: 400 } });
    try {
      void rig.t.source.start();
      const delays: number[] = [];
      for (let i = 0; i < 6; i++) {
        if (i > 0) rig.t.clock.jump(delays[i - 1] as number);
        delays.push(await rig.t.clock.nextSleep((ms) => ms < 1_000));
      }
      // Jitter at random() = 0.5 is 3/4 of 100, 200, 400 (the cap) …
      assert.deepEqual(delays.slice(0, 3), [75, 150, 300]);
      assert.ok(delays.slice(3).every((d) => d === 300), `capped: ${delays}`);

      assert.equal(await rig.sync(), undefined);
      assert.deepEqual(rig.proxier.lastResult, { kind: "not-synced" });
      assert.deepEqual(rig.runner.calls, [], "no command ran: the node's rules are untouched");
      const hz = await rig.healthz();
      assert.equal(hz.status, 503);
      assert.equal(hz.body.nodeEligible, false);
    } finally {
      await rig.t.source.stop();
    }
  });
});

Deno.test("API server dies mid-run: existing rules stay and rules converge within 2 s + one sync period of its return", async () => {
  await survivesApiFault((api) => api.setReachable(false), (api) => api.setReachable(true));
});

Deno.test("API server hangs mid-run (accepts but never answers): existing rules stay and rules converge after recovery", async () => {
  await survivesApiFault((api) => {
    api.hangRequests(true);
    api.dropWatches();
  }, (api) => api.hangRequests(false));
});

Deno.test("API server returns 500s mid-run: existing rules stay and rules converge after recovery", async () => {
  await survivesApiFault((api) => {
    api.failRequests(500);
    api.dropWatches();
  }, (api) => api.clearFaults());
});

Deno.test("API server drops watch streams repeatedly: existing rules stay and rules converge", async () => {
  await survivesApiFault(async (api, rig) => {
    for (let i = 0; i < 5; i++) {
      api.dropWatches();
      await driveFor(rig, 1_000);
    }
  }, (api) => void api.dropWatches());
});

Deno.test("API server answers 410 Gone in a loop: existing rules stay and rules converge after recovery", async () => {
  await survivesApiFault((api) => {
    api.failRequests(410, { verb: "watch" });
    api.compact();
    api.dropWatches();
  }, (api) => api.clearFaults());
});

Deno.test("API server returns a huge list (20k services) mid-run: rules stay, memory stays within budget, rules converge", async () => {
  const count = Number(Deno.env.get("HUGE_LIST_SERVICES") ?? 20_000);
  await withApi(
    async (api) => {
      seed(api, 1);
      const rig = await makeRig(api, { backoff: PRODUCTION_BACKOFF, pageSize: 5_000 });
      try {
        await running(rig, api);
        const rssBefore = Deno.memoryUsage().rss;
        for (let i = 2; i <= count + 1; i++) api.create("services", service(i));
        api.compact();
        api.dropWatches();
        await driveUntil(rig, hasService(rig, `svc${count + 1}`), CONVERGENCE_BUDGET_MS);
        assert.equal(await rig.sync(), undefined);
        const last = rig.applies().filter((c) => c.command === "iptables-restore").at(-1);
        const newest = count + 1;
        assert.ok(last?.stdin?.includes(` -d 172.30.${newest >> 8}.${newest & 255} `));
        const grown = (Deno.memoryUsage().rss - rssBefore) / 2 ** 20;
        // Budget: 20k Services with their rules text well under 512 MiB on an edge node.
        assert.ok(grown < 512, `RSS grew by ${grown.toFixed(0)} MiB`);
      } finally {
        await rig.t.source.stop();
      }
    },
    {},
    60_000,
  );
});

// ---- apply faults -----------------------------------------------------------------------------

/** A rig whose restore tool answers with `answer` while `failing` is true. */
async function applyFaultRig(
  api: FakeApiServer,
  answer: () => Partial<CommandResult>,
  mode: "iptables" | "nftables" = "iptables",
) {
  const state = { failing: true };
  const runner = new RecordingRunner((call) => {
    const isApply = call.command.endsWith("tables-restore") || (call.command === "nft" &&
      call.stdin !== undefined);
    return state.failing && isApply ? answer() : undefined;
  });
  const rig = await makeRig(api, { runner, mode });
  await running(rig, api).catch(() => {});
  return { rig, state };
}

async function survivesApplyFault(
  answer: () => Partial<CommandResult>,
  expected: RegExp,
  mode: "iptables" | "nftables" = "iptables",
): Promise<void> {
  await withApi(async (api) => {
    seed(api, 1);
    const { rig, state } = await applyFaultRig(api, answer, mode);
    try {
      // The first sync already failed (running() ignored it); two more attempts.
      for (let i = 0; i < 2; i++) {
        rig.t.clock.jump(SYNC_PERIOD_MS);
        const error = await rig.sync();
        assert.ok(error instanceof SyncFailedError, `sync ${i} must fail: ${error}`);
        assert.match(error.message, expected);
      }
      const errors = rig.t.log.lines.filter((l) => l.startsWith("E "));
      const proxierErrors = errors.filter((l) => l.startsWith("E Failed to apply proxy rules"));
      assert.equal(proxierErrors.length, 1, `one error per distinct cause:\n${errors.join("\n")}`);
      const metric = mode === "iptables"
        ? "kubeproxy_sync_proxy_rules_iptables_restore_failures_total"
        : "kubeproxy_sync_proxy_rules_nftables_sync_failures_total";
      assert.equal(rig.metric(metric, { ip_family: "IPv4" }), 3);

      state.failing = false;
      rig.t.clock.jump(1_000);
      assert.equal(await rig.sync(), undefined);
      const result = rig.proxier.lastResult;
      assert.equal(result?.kind, "full", "the retry after a failure is a full sync");
      assert.ok(rig.t.log.lines.some((l) => l.startsWith("I Proxy rules applied again")));
    } finally {
      await rig.t.source.stop();
    }
  });
}

Deno.test("iptables-restore fails: previous rules stay, error logged once per cause, metric counts, full resync later", async () => {
  await survivesApplyFault(
    () => ({ code: 2, stderr: "iptables-restore: line 7 failed\n" }),
    /line 7 failed/,
  );
});

Deno.test({
  name: "iptables-restore fails repeatedly: the log has one error line per distinct cause in total",
  async fn() {
    await withApi(async (api) => {
      seed(api, 1);
      const { rig } = await applyFaultRig(api, () => ({ code: 2, stderr: "line 7 failed\n" }));
      try {
        for (let i = 0; i < 3; i++) await rig.sync();
        const errors = rig.t.log.lines.filter((l) => l.startsWith("E "));
        assert.ok(errors.length <= 2, `one E line per family at most:\n${errors.join("\n")}`);
      } finally {
        await rig.t.source.stop();
      }
    });
  },
});

Deno.test({
  name: "iptables-restore fails in both families: the restore-failure metric counts each family",
  async fn() {
    await withApi(async (api) => {
      seed(api, 1);
      const { rig } = await applyFaultRig(api, () => ({ code: 2, stderr: "line 7 failed\n" }));
      try {
        const metric = "kubeproxy_sync_proxy_rules_iptables_restore_failures_total";
        assert.equal(rig.metric(metric, { ip_family: "IPv4" }), 1);
        assert.equal(rig.metric(metric, { ip_family: "IPv6" }), 1);
      } finally {
        await rig.t.source.stop();
      }
    });
  },
});

Deno.test("nft fails: previous rules stay, error logged once per cause, metric counts, full resync later", async () => {
  await survivesApplyFault(
    () => ({ code: 1, stderr: "Error: Could not process rule: No such file or directory\n" }),
    /Could not process rule/,
    "nftables",
  );
});

Deno.test("iptables-restore hangs: the apply times out and is killed, previous rules stay, the proxy carries on", async () => {
  await withApi(async (api) => {
    seed(api, 1);
    // The real runner, with the restore tool replaced by a process that never finishes.
    const real = new DenoCommandRunner();
    const hanging: CommandRunner = {
      run(command: string, _args: readonly string[], options?: RunOptions) {
        if (command.endsWith("tables-restore")) {
          return real.run("sleep", ["30"], { ...options, stdin: "" });
        }
        return Promise.resolve({ code: 0, stdout: "", stderr: "", timedOut: false });
      },
    };
    const rig = await makeRig(api, { backendRunner: hanging, applyTimeoutMs: 300 });
    try {
      await rig.t.source.start();
      const started = performance.now();
      const error = await rig.sync();
      assert.ok(performance.now() - started < 10_000, "killed, not waited for");
      assert.ok(error instanceof SyncFailedError, String(error));
      assert.match(error.message, /timed out|did not finish|killed|300/i);
      assert.equal(
        rig.metric("kubeproxy_sync_proxy_rules_iptables_restore_failures_total", {
          ip_family: "IPv4",
        }),
        1,
      );
    } finally {
      await rig.t.source.stop();
    }
  });
});

Deno.test("iptables-restore missing: the error names the tool, previous rules stay, the proxy carries on", async () => {
  await survivesApplyFault(
    () => {
      throw new CommandNotFoundError("iptables-restore");
    },
    /iptables-restore/,
  );
});

// ---- state file faults -----------------------------------------------------------------------

async function stateFault(
  files: MemoryFiles,
  expectedWarning: RegExp,
  when: "startup" | "save",
): Promise<void> {
  await withApi(async (api) => {
    seed(api, 1);
    const rig = await makeRig(api, { stateFile: STATE, files, stateSaveIntervalMs: 1_000 });
    try {
      await running(rig, api);
      if (when === "save") {
        api.create("services", service(2));
        await rig.t.table.waitFor("add services ns1/svc2");
        await driveFor(rig, 3_000);
      }
      assert.ok(
        rig.t.log.lines.some((l) => l.startsWith("W ") && expectedWarning.test(l)),
        rig.t.log.text,
      );
      assert.equal(await rig.sync(), undefined, "carries on");
      assert.match(rig.applies().at(-1)?.stdin ?? "", /172\.30\.0\.2/);
    } finally {
      await rig.t.source.stop();
    }
  });
}

Deno.test("state file corrupt: warning, rules come from the API server", async () => {
  // Reachable API server: the file is only read as a fallback, so make it the fallback.
  await withApi(async (api) => {
    seed(api, 1);
    const files = new MemoryFiles({ [STATE]: '{"kind": "DenoKubeProxyState", garbage' });
    api.setReachable(false);
    const rig = await makeRig(api, { stateFile: STATE, files, backoff: PRODUCTION_BACKOFF });
    try {
      const starting = rig.t.source.start();
      await rig.t.log.waitFor("W State file");
      assert.equal(await rig.sync(), undefined);
      assert.deepEqual(rig.runner.calls, [], "nothing applied from a corrupt file");
      api.setReachable(true);
      await driveUntil(rig, () => rig.t.table.snapshot().synced, CONVERGENCE_BUDGET_MS);
      await starting;
      assert.equal(await rig.sync(), undefined);
      const v4 = rig.applies().find((c) => c.command === "iptables-restore");
      assert.match(v4?.stdin ?? "", /172\.30\.0\.1/);
    } finally {
      await rig.t.source.stop();
    }
  });
});

for (
  const [what, text, warning] of [
    ["truncated", (s: string) => s.slice(0, Math.floor(s.length / 2)), /not valid JSON/],
    ["empty", () => "", /is empty/],
    [
      "of the wrong version",
      (s: string) => s.replace(/"formatVersion":\s*1/, '"formatVersion": 99'),
      /format version 99 is not supported/,
    ],
  ] as const
) {
  Deno.test(`state file ${what}: warning, nothing applied from it, rules wait for the API server`, async () => {
    await withApi(async (api) => {
      seed(api, 1);
      const files = new MemoryFiles({ [STATE]: text(savedState(api)) });
      api.setReachable(false);
      const rig = await makeRig(api, { stateFile: STATE, files });
      try {
        void rig.t.source.start();
        const line = await rig.t.log.waitFor("W State file");
        assert.match(line, warning);
        assert.equal(await rig.sync(), undefined);
        assert.deepEqual(rig.runner.calls, []);
      } finally {
        await rig.t.source.stop();
      }
    });
  });
}

Deno.test("state file in an unwritable directory: warning, rules unaffected", async () => {
  const files = new MemoryFiles();
  files.fail("mkdir", new Deno.errors.PermissionDenied("mkdir /var/lib/kube-proxy: read-only"));
  files.fail("writeSynced", new Deno.errors.PermissionDenied("open: permission denied"));
  await stateFault(files, /Cannot save the state file; rules are unaffected/, "save");
});

Deno.test("state file on a full disk: warning, rules unaffected", async () => {
  const files = new MemoryFiles();
  files.fail("writeSynced", new Error("No space left on device (os error 28)"));
  await stateFault(files, /Cannot save the state file.*No space left on device/, "save");
});

// ---- SIGTERM during an apply -------------------------------------------------------------------

Deno.test({
  name: "SIGTERM during an apply: the kernel has the old ruleset or the new one, never a part",
  ignore,
  async fn() {
    const snapshot = tableFrom(randomCluster(7, 400)).snapshot();
    const backend = new IptablesBackend({
      runner: new RecordingRunner(),
      log: SILENT_LOGGER,
      options: {
        masqueradeBit: 14,
        masqueradeAll: false,
        localhostNodePorts: true,
        nodePortAddresses: [],
      },
    }, { hostAddresses: () => null });
    const full = backend.renderFull(snapshot);
    const v4 = full.slice(full.indexOf("\n") + 1, full.indexOf("\n# IPv6"));
    const wanted = new Set(
      v4.split("\n").filter((l) => l.startsWith(":KUBE-SVC-")).map((l) => l.split(" ")[0]),
    );
    assert.ok(wanted.size > 10, "a ruleset big enough to interrupt");
    await withNamespace("sigterm", async (ns) => {
      const outcomes = new Set<string>();
      // Interrupt the restore at increasing points; each time the table is all or nothing.
      for (const delayMs of [1, 5, 20, 60, 200]) {
        await ns.runner.run("iptables", ["-t", "nat", "-F"]);
        await ns.runner.run("iptables", ["-t", "nat", "-X"]);
        const r = await ns.runner.run("timeout", [
          "-s",
          "TERM",
          `${delayMs / 1000}`,
          "iptables-restore",
          "-w",
          "5",
          "--noflush",
        ], { stdin: v4, timeoutMs: 30_000 });
        const saved = await ns.runner.run("iptables-save", ["-t", "nat"], { timeoutMs: 30_000 });
        const present = saved.stdout.split("\n").filter((l) => l.startsWith(":KUBE-SVC-")).length;
        assert.ok(
          present === 0 || present === wanted.size,
          `after SIGTERM at ${delayMs} ms (exit ${r.code}): ${present} of ${wanted.size} chains`,
        );
        outcomes.add(present === 0 ? "old" : "new");
      }
      assert.ok(outcomes.size >= 1);
    });
  },
});

// ---- the daemon keeps running ------------------------------------------------------------------

/** runDaemon() with `backend`, a source that delivers svc1 at once, no servers, virtual time. */
function startDaemon(backend: ProxyBackend) {
  const clock = new ManualClock();
  const table = new EndpointTable(makeTableOptions());
  const handlers = new Map<string, () => void>();
  const exits: number[] = [];
  const config = {
    ...resolveConfig({
      apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
      kind: "KubeProxyConfiguration",
    }, { hostnameOverride: TEST_NODE_NAME }),
    healthzBindAddress: "",
    metricsBindAddress: "",
  };
  let finished = false;
  const code = runDaemon({
    config,
    table,
    backend,
    runner: new RecordingRunner(),
    log: SILENT_LOGGER,
    clock,
    source: (onChange) => ({
      connected: true,
      servingFromStateSince: null,
      start() {
        table.onNodeAdd(makeNode());
        table.onServiceAdd(service(1));
        table.onEndpointSliceAdd(slice(1));
        for (const s of ["services", "endpointSlices", "node"] as const) table.markSynced(s);
        onChange("service");
        return Promise.resolve();
      },
      stop: () => Promise.resolve(),
    }),
    signals: {
      add: (signal, handler) => void handlers.set(signal, handler),
      remove: (signal) => void handlers.delete(signal),
    },
    exit: (c) => exits.push(c),
    kernelFiles: {
      read: () => Promise.resolve("0\n"),
      write: () => Promise.reject(new Deno.errors.PermissionDenied("read-only")),
    },
    cpus: 2,
    readProc: () => undefined,
    localAddresses: () => [],
  }).then((c) => {
    finished = true;
    return c;
  });
  return {
    code,
    clock,
    config,
    exits,
    sigterm: () => handlers.get("SIGTERM")?.(),
    finished: () => finished,
  };
}

/** A backend whose syncs the test answers one by one. */
class ScriptedBackend implements ProxyBackend {
  readonly mode = "iptables" as const;
  readonly calls: { resolve: () => void; reject: (e: Error) => void }[] = [];
  #waiters: (() => void)[] = [];
  renderFull(): string {
    return "";
  }
  sync(): Promise<SyncOutcome> {
    return new Promise<SyncOutcome>((resolve, reject) => {
      this.calls.push({
        resolve: () => resolve({ kind: "full", rulesWritten: 1, bytesWritten: 1 }),
        reject,
      });
      for (const w of this.#waiters.splice(0)) w();
    });
  }
  cleanup(): Promise<void> {
    return Promise.resolve();
  }
  /** Resolves once `count` syncs have been asked for. */
  called(count: number): Promise<void> {
    if (this.calls.length >= count) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => (this.calls.length >= count ? resolve() : this.#waiters.push(check));
      this.#waiters.push(check);
    });
  }
}

Deno.test("runDaemon() never exits because applies keep failing: it retries every syncPeriod until SIGTERM", async () => {
  const backend = new ScriptedBackend();
  const d = startDaemon(backend);
  for (let n = 1; n <= 4; n++) {
    await backend.called(n);
    backend.calls[n - 1]?.reject(new ApplyError("iptables-restore: line 3 failed", "IPv4"));
    if (n < 4) await d.clock.advance(d.config.syncPeriodMs);
  }
  assert.equal(d.finished(), false, "still running after repeated apply failures");
  d.sigterm();
  assert.equal(await d.code, 0);
  assert.deepEqual(d.exits, []);
});

Deno.test("SIGTERM during an apply: the daemon lets the apply finish before it returns", async () => {
  const backend = new ScriptedBackend();
  const d = startDaemon(backend);
  await backend.called(1);
  d.sigterm();
  await d.clock.advance(500);
  assert.equal(d.finished(), false, "waits for the apply in flight");
  backend.calls[0]?.resolve();
  assert.equal(await d.code, 0);
  assert.equal(backend.calls.length, 1, "no new apply after the signal");
});
