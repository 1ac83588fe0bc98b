/**
 * The daemon benchmark (issue 9): the real program, as a node runs it, at cluster scale. Where
 * `cluster_scale.ts` measures the pieces (table, render, apply) inside one bench process, this
 * one starts `main.ts` itself and reports what an operator sees: how long the process takes from
 * start to its first sync, how fast one endpoint change reaches the kernel, and how much memory
 * the process holds (issue 9's goal: peak RSS ≤ 100 MB at 10k Services × 10 endpoints).
 *
 * For each (size, mode), in a throwaway network namespace:
 *
 * 1. the fake API server (`tests/e2e/fake_api_main.ts`) starts as its own process and is loaded
 *    with the synthetic cluster (`synthetic_cluster.ts`: N Services × M endpoints and the Node)
 *    before the proxy starts, so the proxy's first LIST returns everything, as on a real node.
 *    Two repairs make it a cluster an API server could hold: the Node's InternalIP becomes
 *    {@linkcode NODE_IP} (on the namespace's loopback, so health-check node ports can open), and
 *    every `healthCheckNodePort` is made unique ({@linkcode withUniqueHealthCheckPorts});
 * 2. the program starts: `deno run main.ts` from source with the product's V8 flags
 *    (`V8_FLAGS_OPTION`, what the compiled binary runs with), an ordinary config file with a
 *    kubeconfig, a state file in a scratch directory, JSON logs at `-v=4`;
 * 3. cold start, read from the program's own log lines (their `ts` is stamped when the event
 *    happens, so no polling interval blurs it): process start → program loaded → everything
 *    listed → first successful sync → first state-file save. `/proc/<pid>/status` (VmRSS,
 *    VmHWM, RssAnon, RssFile) is sampled every 10 ms for the whole run; each milestone gets the
 *    first sample after its line, and the run gets a timeline and the time of its peak;
 * 4. `--changes` one-endpoint changes through the fake API (an endpoint's `ready` flipped), each
 *    timed from the request to the program's `SyncProxyRules complete` line of a newer table
 *    revision. Changes are spaced `minSyncPeriod` (1 s, the default) after the previous sync,
 *    so each one lands on an idle proxy instead of measuring the rate limiter;
 * 5. the program's peak RSS (VmHWM) and current RSS at the end, and the fake API server's peak
 *    RSS (not ours; reported so the machine's total is visible).
 *
 * Every wait is bounded by its step's limit and the run's budget (default 300 s); a run past its
 * budget is reported "over budget" with what it measured so far. Teardown always runs: the
 * program gets SIGTERM, then everything still running in the namespace (the fake API server, a
 * tool the program started) is killed by pid, and the namespace and scratch directory go. Ctrl-C
 * tears the current run down before exiting.
 *
 * iptables at 10k × 10 is left out by default (`iptables-restore` of that ruleset on
 * iptables-nft takes more than 7 minutes); `--modes=iptables` asks for it anyway.
 *
 * Root only (network namespaces); elsewhere each run reports itself skipped with the reason.
 *
 * Run alone: `deno run -A scripts/bench/daemon_rss.ts [--sizes=1k,10k] [--modes=nftables,iptables]
 * [--changes=25] [--budget=300|10k:600] [--json=PATH]`; in the suite: `deno task bench
 * --only=daemon` (same flags).
 *
 * This file is the I/O half (namespaces, child processes, sampling, waits); flags, config text,
 * parsing, verdicts and tables live in `daemon_report.ts`.
 *
 * @module
 */

import { join } from "node:path";
import type { V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node";
import { DenoCommandRunner } from "../../src/runner.ts";
import {
  createNamespace,
  kernelTestSkipReason,
  type TestNamespace,
} from "../../tests/fixtures/netns.ts";
import { LineChild, WaitTimeoutError } from "../../tests/e2e/child.ts";
import { cacheProgram } from "../../tests/e2e/daemon_proxy.ts";
import type { FakeApiRequest, FakeApiResponse } from "../../tests/e2e/fake_api_main.ts";
import type { Resource } from "../../tests/e2e/proxy.ts";
import { MALLOC_ENV_WORDS, V8_FLAGS_OPTION } from "../compile.ts";
import {
  type BenchMode,
  type Budgets,
  type ClusterSize,
  median,
  percentile,
  sizeLabel,
} from "./cluster_report.ts";
import {
  daemonBudgetS,
  daemonConfigYaml,
  type DaemonProgram,
  type DaemonReport,
  type DaemonRunResult,
  DEFAULT_CHANGES,
  DEFAULT_PROGRAMS,
  DEFAULT_SIZES,
  emptyDaemonResult,
  formatDaemonTable,
  isSyncOfRevisionAfter,
  judgeDaemonGoals,
  kubeconfigYaml,
  LOG,
  type LogRecord,
  mallocEnvText,
  type MemorySample,
  type Milestone,
  MIN_SYNC_PERIOD_MS,
  parseDaemonArgs,
  parseLogRecord,
  parseProcMemory,
  peakTime,
  planRuns,
  type ProcMemory,
  standingNotes,
  thinSamples,
} from "./daemon_report.ts";
import {
  makeSyntheticCluster,
  type SyntheticCluster,
  withEndpointReadyFlipped,
} from "./synthetic_cluster.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const MAIN = join(ROOT, "main.ts");
const DENO_JSON = join(ROOT, "deno.json");
const FAKE_API_MAIN = join(ROOT, "tests/e2e/fake_api_main.ts");
const real = new DenoCommandRunner();

/** How long the fake API server may take to start, and to answer one batch. */
const FAKE_START_TIMEOUT_MS = 20_000;
const FAKE_BATCH_TIMEOUT_MS = 60_000;
/** Objects sent to the fake API server per round trip while loading. */
const LOAD_BATCH = 250;
/** How long one change may take to be synced before the run fails. */
const CHANGE_TIMEOUT_MS = 30_000;
/** How long the program may take to log that it started. */
const START_TIMEOUT_MS = 60_000;
/** After the first sync: how long to wait for the first state-file save (saved at once). */
const SAVE_TIMEOUT_MS = 15_000;
/** SIGTERM → SIGKILL for the program (its own shutdown bound is 2 s). */
const STOP_TIMEOUT_MS = 5_000;

/** The run's budget ran out. */
export class OverBudgetError extends Error {
  /** @param step What the run was doing. */
  constructor(step: string, options?: ErrorOptions) {
    super(`The run's time budget ran out during ${step}`, options);
    this.name = "OverBudgetError";
  }
}

/** The run was interrupted (SIGINT). */
export class InterruptedError extends Error {
  constructor() {
    super("Interrupted (SIGINT): the run was torn down");
    this.name = "InterruptedError";
  }
}

/** A run's deadline and the step it is in. */
class Budget {
  step = "start-up";
  readonly #deadline: number;

  constructor(ms: number) {
    this.#deadline = performance.now() + ms;
  }

  /** Milliseconds left (at least 1, so it can be passed as a timeout). */
  left(): number {
    return Math.max(1, Math.floor(this.#deadline - performance.now()));
  }

  /** Whether the budget is (about) spent: a wait bounded by `left()` just ran out. */
  spent(): boolean {
    return performance.now() >= this.#deadline - 250;
  }

  /** A step's own limit, capped by what is left of the budget. */
  cap(stepMs: number): number {
    return Math.min(stepMs, this.left());
  }

  /** Enters `step`; throws when the budget is already spent. */
  enter(step: string): void {
    this.step = step;
    if (this.spent()) throw new OverBudgetError(step);
  }
}

/** `/proc/<pid>/status`, or null when the process is gone. */
async function readStatus(pid: number): Promise<string | null> {
  const path = `/proc/${pid}/status`;
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    // Deno reads another process's /proc entry only with --allow-all (`deno task bench` has
    // the narrower flags): read it through the runner seam instead.
    const result = await real.run("cat", [path]);
    return result.code === 0 ? result.stdout : null;
  }
}

async function memoryOf(pid: number): Promise<ProcMemory | null> {
  const status = await readStatus(pid);
  return status === null ? null : parseProcMemory(status);
}

/** The process name (`/proc/<pid>/comm`): to check the pid is the program, not a wrapper. */
async function commOf(pid: number): Promise<string> {
  const status = await readStatus(pid);
  return /^Name:\s*(\S+)/m.exec(status ?? "")?.[1] ?? "";
}

function answerTo(id: number): (line: string) => boolean {
  return (line) => line.startsWith(`{"id":${id},`) || line === `{"id":${id}}`;
}

/** An API object to load and the resource it belongs to. */
type ApiObject = readonly [Resource, object];

/** `tests/e2e/fake_api_main.ts` as a child process; unlike `FakeApi`, it exposes its pid. */
class BenchApi {
  readonly child: LineChild;
  readonly url: string;
  readonly token: string | null;
  readonly caCert: string;
  #nextId = 1;

  private constructor(child: LineChild, start: FakeApiResponse) {
    this.child = child;
    this.url = start.url ?? "";
    this.token = start.token ?? null;
    this.caCert = start.caCert ?? "";
  }

  static async start(namespace: string, timeoutMs: number): Promise<BenchApi> {
    const child = LineChild.start({
      namespace,
      label: "fake API server",
      command: [
        Deno.execPath(),
        "run",
        "--allow-net",
        "--allow-read",
        "--no-prompt",
        FAKE_API_MAIN,
      ],
    });
    try {
      const line = await child.nextLine((l) => l.startsWith('{"id":0,'), timeoutMs, "start");
      return new BenchApi(child, JSON.parse(line) as FakeApiResponse);
    } catch (error) {
      await child.stop("SIGKILL", 2_000);
      throw error;
    }
  }

  /**
   * Creates or replaces `objects`, many per round trip (one at a time, 20k objects would take
   * 20k round trips); each answer is still checked.
   */
  async applyAll(objects: readonly ApiObject[], timeoutMs: () => number): Promise<void> {
    for (let i = 0; i < objects.length; i += LOAD_BATCH) {
      const requests: FakeApiRequest[] = objects.slice(i, i + LOAD_BATCH).map((
        [resource, object],
      ) => ({ id: this.#nextId++, op: "apply", resource, object }));
      const limit = timeoutMs();
      // Waiters first, so no answer can arrive before its waiter; settled together, so a dead
      // child rejects them all at once without unhandled rejections.
      const answers = Promise.allSettled(
        requests.map((r) => this.child.nextLine(answerTo(r.id), limit, `apply #${r.id}`)),
      );
      await this.child.send(requests.map((r) => JSON.stringify(r)).join("\n"));
      for (const settled of await answers) {
        if (settled.status === "rejected") throw settled.reason;
        const response = JSON.parse(settled.value) as FakeApiResponse;
        if (response.error !== undefined) throw new Error(`fake API: ${response.error}`);
      }
    }
  }

  /** Sends one object (an update the program sees through its watch). */
  apply(resource: Resource, object: object, timeoutMs: number): Promise<void> {
    return this.applyAll([[resource, object]], () => timeoutMs);
  }

  /** Writes the kubeconfig and CA file into `dir`; returns the kubeconfig's path. */
  async writeKubeconfig(dir: string): Promise<string> {
    const ca = join(dir, "ca.crt");
    await Deno.writeTextFile(ca, this.caCert);
    const path = join(dir, "kubeconfig");
    await Deno.writeTextFile(path, kubeconfigYaml(this.url, ca, this.token));
    return path;
  }
}

/**
 * The Node's InternalIP in the namespace (a documentation address, on its loopback): the
 * synthetic Node's own (192.168.0.2) may not be used in a namespace, and without an address of
 * its own the program could not open the health-check node ports a real node serves.
 */
export const NODE_IP = "192.0.2.1";

/** `node` with its InternalIP replaced by `address`. */
export function withNodeAddress(node: V1Node, address: string): V1Node {
  const others = (node.status?.addresses ?? []).filter((a) => a.type !== "InternalIP");
  return {
    ...node,
    status: { ...node.status, addresses: [{ type: "InternalIP", address }, ...others] },
  };
}

/**
 * Gives the namespace the Node's address, as the node's own interface would have it. On the
 * loopback: a dummy interface needs a kernel module that containers often lack, and the address
 * only has to be local.
 */
async function addNodeAddress(ns: TestNamespace): Promise<void> {
  const args = ["addr", "add", `${NODE_IP}/32`, "dev", "lo"];
  const result = await ns.runner.run("ip", args);
  if (result.code !== 0) throw new Error(`ip ${args.join(" ")} failed: ${result.stderr}`);
}

/** The size of Kubernetes' default node-port range (30000–32767). */
const NODE_PORT_RANGE = 2768;

/**
 * `services` with every `healthCheckNodePort` made unique (30000 upwards, in order), as an API
 * server allocates them. The synthetic cluster reuses them above 700 such Services, and the
 * program would retry the ports it cannot open at every sync, which a real node never does.
 */
export function withUniqueHealthCheckPorts(services: readonly V1Service[]): V1Service[] {
  let next = 0;
  return services.map((svc) => {
    if (svc.spec?.healthCheckNodePort === undefined) return svc;
    const healthCheckNodePort = 30000 + (next++ % NODE_PORT_RANGE);
    return { ...svc, spec: { ...svc.spec, healthCheckNodePort } };
  });
}

/** The cluster's objects in the order a real API server's informers deliver them. */
function clusterObjects(cluster: SyntheticCluster): ApiObject[] {
  return [
    ["nodes", withNodeAddress(cluster.node, NODE_IP)],
    ...withUniqueHealthCheckPorts(cluster.services).map((s): ApiObject => ["services", s]),
    ...cluster.slices.map((s): ApiObject => ["endpointslices", s]),
  ];
}

/** The program's next JSON log line that `match` accepts (lines come from stdout + stderr). */
async function nextRecord(
  child: LineChild,
  what: string,
  timeoutMs: number,
  match: (record: LogRecord) => boolean,
): Promise<LogRecord> {
  const line = await child.nextLine(
    (l) => {
      const record = parseLogRecord(l);
      return record !== null && match(record);
    },
    timeoutMs,
    what,
  );
  const record = parseLogRecord(line);
  if (record === null) throw new Error(`Unparsable log line: ${line}`);
  return record;
}

/**
 * Consumes the sync lines the program has already written and returns the newest one (null if
 * none): syncs the bench did not cause (the follow-up after the first sync, the periodic one)
 * also start a `minSyncPeriod` cooldown, so the next change must wait for them too.
 */
async function latestSync(child: LineChild): Promise<LogRecord | null> {
  let latest: LogRecord | null = null;
  while (true) {
    try {
      latest = await nextRecord(child, "a sync line", 1, (r) => r.msg === LOG.synced);
    } catch (error) {
      if (error instanceof WaitTimeoutError && child.exitCode === null) return latest;
      throw error;
    }
  }
}

/** Kills whatever still runs in `namespace` (processes our children started), by pid. */
async function killLeftovers(namespace: string): Promise<void> {
  const pids = await real.run("ip", ["netns", "pids", namespace]);
  for (const word of pids.stdout.split(/\s+/)) {
    const pid = Number(word);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Exited meanwhile.
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Samples a process's memory every few milliseconds, so each milestone gets the memory of the
 * moment its log line was written rather than of whenever the bench got round to reading it.
 */
class MemorySampler {
  readonly samples: MemorySample[] = [];
  readonly #pid: number;
  readonly #origin: number;
  readonly #intervalMs: number;
  #stopped = false;
  #waiters: (() => void)[] = [];
  readonly #loop: Promise<void>;

  /**
   * @param pid The process.
   * @param origin Its start (Unix ms): sample times are relative to it.
   * @param intervalMs Time between samples.
   */
  constructor(pid: number, origin: number, intervalMs: number) {
    this.#pid = pid;
    this.#origin = origin;
    this.#intervalMs = intervalMs;
    this.#loop = this.#run();
  }

  /** The first sample at or after `atMs`; waits for it (null once the process is gone). */
  async after(atMs: number): Promise<MemorySample | null> {
    while (true) {
      const found = this.samples.find((s) => s.atMs >= atMs);
      if (found !== undefined) return found;
      if (this.#stopped) return null;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Stops sampling. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const memory = await memoryOf(this.#pid);
      if (memory === null) this.#stopped = true;
      else this.samples.push({ atMs: Date.now() - this.#origin, ...memory });
      for (const wake of this.#waiters.splice(0)) wake();
      if (!this.#stopped) await delay(this.#intervalMs);
    }
    for (const wake of this.#waiters.splice(0)) wake();
  }
}

/**
 * Whether this process may read another's /proc entry itself (Deno wants --allow-all); if not,
 * each read spawns `cat`, and the sampler slows down accordingly.
 */
async function procDirectlyReadable(): Promise<boolean> {
  try {
    await Deno.readTextFile(`/proc/${Deno.pid}/status`);
    return true;
  } catch {
    return false;
  }
}

/** What Ctrl-C needs to reach: the children of the run in progress. */
export class RunSession {
  /** Children alive right now. */
  readonly active: Set<LineChild> = new Set();
  /** Set once SIGINT arrived: no new run starts. */
  interrupted = false;

  /** Kills every child, so each pending wait fails at once and teardown runs. */
  interrupt(): void {
    this.interrupted = true;
    for (const child of this.active) void child.stop("SIGKILL", 2_000);
  }
}

/**
 * Measures one (size, mode). Never throws for a budget overrun or a failed step: the result
 * says so and keeps what was measured before.
 */
export async function measureDaemon(
  size: ClusterSize,
  mode: BenchMode,
  options: {
    readonly budgetS: number;
    readonly changes: number;
    /**
     * `source`: `main.ts`; `bundle`: the one JavaScript file at `bundle`
     * ({@linkcode bundleProgram}). @default source
     */
    readonly program?: DaemonProgram;
    readonly bundle?: string;
  },
  session: RunSession = new RunSession(),
): Promise<DaemonRunResult> {
  const active = session.active;
  const started = performance.now();
  const programKind = options.program ?? "source";
  let result = emptyDaemonResult(size, mode, options.budgetS, programKind);
  const skipped = await kernelTestSkipReason();
  if (skipped !== null) return { ...result, status: "skipped", error: skipped };
  if (programKind === "bundle" && options.bundle === undefined) {
    return { ...result, error: "No bundle was made: run bundleProgram() first" };
  }

  const budget = new Budget(options.budgetS * 1000);
  const cluster = makeSyntheticCluster({
    services: size.services,
    endpointsPerService: size.endpoints,
  });
  let program: LineChild | undefined;
  let api: BenchApi | undefined;
  let stopSampler = (): Promise<void> => Promise.resolve();
  let spawnedAt: number | null = null;
  const directProc = await procDirectlyReadable();
  const ns = await createNamespace(`daemon-${mode.slice(0, 3)}-${sizeLabel(size)}`);
  const dir = await Deno.makeTempDir({ prefix: "dkp-bench-daemon-" });
  const stateFile = join(dir, "state.json");
  try {
    await addNodeAddress(ns);
    budget.enter("fake API start");
    api = await BenchApi.start(ns.name, budget.cap(FAKE_START_TIMEOUT_MS));
    active.add(api.child);
    budget.enter("loading the fake API server");
    const objects = clusterObjects(cluster);
    const loadStart = performance.now();
    await api.applyAll(objects, () => budget.cap(FAKE_BATCH_TIMEOUT_MS));
    result = { ...result, load: { objects: objects.length, ms: performance.now() - loadStart } };

    const config = join(dir, "kube-proxy-config.yaml");
    await Deno.writeTextFile(
      config,
      daemonConfigYaml({
        mode,
        kubeconfig: await api.writeKubeconfig(dir),
        nodeName: cluster.nodeName,
        clusterCIDR: cluster.clusterCIDR,
      }),
    );

    budget.enter("program start");
    const origin = Date.now();
    spawnedAt = origin;
    program = LineChild.start({
      namespace: ns.name,
      label: `kube-proxy (${mode}, ${sizeLabel(size)})`,
      cwd: ROOT,
      // The program logs to stderr; LineChild matches stdout lines. `exec` keeps the pid the
      // program's own (as `ip netns exec` does), so /proc/<pid> is the program's.
      // The environment the shipped unit and DaemonSet give it; `env` and `sh` exec, too.
      command: [
        "env",
        ...MALLOC_ENV_WORDS,
        "sh",
        "-c",
        'exec "$@" 2>&1',
        "sh",
        Deno.execPath(),
        "run",
        "-A",
        "--cached-only",
        "--no-prompt",
        V8_FLAGS_OPTION,
        ...(programKind === "bundle" && options.bundle !== undefined
          ? ["--no-config", options.bundle]
          : [`--config=${DENO_JSON}`, MAIN]),
        `--config=${config}`,
        `--state-file=${stateFile}`,
      ],
    });
    active.add(program);
    const pid = program.pid;
    const sampler = new MemorySampler(pid, origin, directProc ? 10 : 50);
    stopSampler = async () => {
      await sampler.stop();
      result = {
        ...result,
        peakAtMs: peakTime(sampler.samples),
        timeline: thinSamples(sampler.samples, 100),
      };
    };
    const milestone = async (record: LogRecord): Promise<Milestone> => {
      const atMs = record.tsMs - origin;
      const sample = await sampler.after(atMs);
      if (sample === null) return { atMs, memory: null, memoryAtMs: null };
      const { atMs: memoryAtMs, ...memory } = sample;
      return { atMs, memory, memoryAtMs };
    };

    const startLine = await nextRecord(
      program,
      "the start-up line",
      budget.cap(START_TIMEOUT_MS),
      (r) => r.msg === LOG.started,
    );
    const comm = await commOf(pid);
    if (comm !== "deno") {
      throw new Error(`pid ${pid} is ${JSON.stringify(comm)}, not the program (deno)`);
    }
    result = {
      ...result,
      coldStart: {
        loaded: await milestone(startLine),
        listed: null,
        firstSync: null,
        stateSaved: null,
        firstSyncLog: null,
      },
    };
    const reached = (patch: Partial<NonNullable<DaemonRunResult["coldStart"]>>) => {
      if (result.coldStart !== null) {
        result = { ...result, coldStart: { ...result.coldStart, ...patch } };
      }
    };

    budget.enter("the first LIST");
    reached({
      listed: await milestone(
        await nextRecord(program, "the first LIST", budget.left(), (r) => r.msg === LOG.listed),
      ),
    });

    budget.enter("the first sync");
    const firstSyncLine = await nextRecord(
      program,
      "the first sync",
      budget.left(),
      (r) => isSyncOfRevisionAfter(r, -1),
    );
    reached({ firstSync: await milestone(firstSyncLine), firstSyncLog: firstSyncLine.fields });

    budget.enter("the first state-file save");
    const saved = await nextRecord(
      program,
      "the first state-file save",
      budget.cap(SAVE_TIMEOUT_MS),
      (r) => r.msg === LOG.saved,
    );
    reached({ stateSaved: await milestone(saved) });

    // One-endpoint changes, spread over the Services (every type), each on an idle proxy.
    const slices: V1EndpointSlice[] = [...cluster.slices];
    let revision = Number(firstSyncLine.fields.revision);
    let lastSyncAt = firstSyncLine.tsMs;
    const latencies: number[] = [];
    const samples: { ms: number; kind: string }[] = [];
    const kinds = new Set<string>();
    for (let i = 0; i < options.changes; i++) {
      budget.enter(`one-endpoint change ${i + 1} of ${options.changes}`);
      // Wait out the cooldown of the last sync, whoever caused it.
      while (true) {
        const pause = lastSyncAt + MIN_SYNC_PERIOD_MS + 50 - Date.now();
        if (pause > budget.left()) throw new OverBudgetError(budget.step);
        if (pause > 0) await delay(pause);
        const other = await latestSync(program);
        if (other === null || other.tsMs <= lastSyncAt) break;
        lastSyncAt = other.tsMs;
        if (typeof other.fields.revision === "number") {
          revision = Math.max(revision, other.fields.revision);
        }
      }
      const k = (i * 7919 + 5) % slices.length;
      const next = withEndpointReadyFlipped(slices[k] as V1EndpointSlice, (i * 3) % size.endpoints);
      slices[k] = next;
      const sentAt = Date.now();
      await api.apply("endpointslices", next, budget.cap(FAKE_BATCH_TIMEOUT_MS));
      const synced = await nextRecord(
        program,
        `the sync of change ${i + 1}`,
        budget.cap(CHANGE_TIMEOUT_MS),
        (r) => isSyncOfRevisionAfter(r, revision),
      );
      latencies.push(synced.tsMs - sentAt);
      samples.push({ ms: synced.tsMs - sentAt, kind: String(synced.fields.kind) });
      kinds.add(String(synced.fields.kind));
      revision = Number(synced.fields.revision);
      lastSyncAt = synced.tsMs;
      result = {
        ...result,
        change: {
          count: latencies.length,
          medianMs: median(latencies),
          p95Ms: percentile(latencies, 0.95),
          maxMs: Math.max(...latencies),
          kinds: [...kinds].sort(),
          samples: [...samples],
        },
      };
    }
    result = { ...result, status: "ok" };
  } catch (error) {
    const over = error instanceof OverBudgetError || budget.spent();
    result = {
      ...result,
      status: session.interrupted ? "failed" : over ? "over budget" : "failed",
      stoppedIn: budget.step,
      error: session.interrupted
        ? new InterruptedError().message
        : error instanceof Error
        ? error.message
        : String(error),
    };
  } finally {
    await stopSampler();
    if (program !== undefined && spawnedAt !== null) {
      const origin = spawnedAt;
      const saves = program.allOutput().split("\n").map(parseLogRecord)
        .filter((r): r is LogRecord => r !== null && r.msg === LOG.saved)
        .map((r) => r.tsMs - origin);
      result = { ...result, stateSavesAtMs: saves };
    }
    // The end: VmHWM is the peak of the whole run, read before anything is stopped.
    const end = program === undefined ? null : await memoryOf(program.pid);
    const fakeApi = api === undefined ? null : await memoryOf(api.child.pid);
    let stateFileBytes: number | null = null;
    try {
      stateFileBytes = (await Deno.stat(stateFile)).size;
    } catch {
      // Never saved.
    }
    result = {
      ...result,
      end,
      fakeApi,
      stateFileBytes,
      elapsedS: (performance.now() - started) / 1000,
    };
    if (program !== undefined) {
      await program.stop("SIGTERM", STOP_TIMEOUT_MS);
      active.delete(program);
    }
    if (api !== undefined) {
      await api.child.stop("SIGKILL", 2_000);
      active.delete(api.child);
    }
    await killLeftovers(ns.name);
    await ns.remove();
    await Deno.remove(dir, { recursive: true });
  }
  return result;
}

/**
 * Writes the program as one JavaScript file into `dir` (`deno bundle`, its npm dependency
 * inlined), runs it once and returns its path. Run in the root namespace: esbuild may need the
 * registry.
 */
export async function bundleProgram(dir: string): Promise<string> {
  const out = join(dir, "kube-proxy.js");
  const result = await real.run(Deno.execPath(), [
    "bundle",
    "--quiet",
    "--platform=deno",
    `--config=${DENO_JSON}`,
    "-o",
    out,
    MAIN,
  ], { timeoutMs: 300_000 });
  if (result.code !== 0) throw new Error(`deno bundle main.ts failed: ${result.stderr}`);
  // One run first, so V8's code cache exists as it does for the source runs and for a binary
  // that has run before (the cache is kept per V8 flags, hence the same ones).
  const warm = await real.run(Deno.execPath(), [
    "run",
    "--no-config",
    "--cached-only",
    V8_FLAGS_OPTION,
    out,
    "--version",
  ], { timeoutMs: 60_000 });
  if (warm.code !== 0) throw new Error(`${out} --version failed: ${warm.stderr}`);
  return out;
}

/** Options of {@linkcode runDaemonRss}. */
export interface DaemonRssOptions {
  /** @default 1k and 10k × 10 */
  readonly sizes?: readonly ClusterSize[];
  /** @default per size: both modes, nftables only above 5k Services */
  readonly modes?: readonly BenchMode[];
  /** How to run the program; each (size, mode) runs once per entry. @default source, bundle */
  readonly programs?: readonly DaemonProgram[];
  /** Per-size budgets, seconds. @default 300 s each */
  readonly budgets?: Budgets;
  /** One-endpoint changes per run. @default 25 */
  readonly changes?: number;
  /** Receives the Markdown lines. @default stdout */
  readonly print?: (line: string) => void;
}

/**
 * Runs every (size, mode), prints the Markdown table and returns the report. Ctrl-C tears the
 * run in progress down (its children and namespace) and then ends the process with 130.
 */
export async function runDaemonRss(options: DaemonRssOptions = {}): Promise<DaemonReport> {
  const changes = options.changes ?? DEFAULT_CHANGES;
  const plan = planRuns(
    options.sizes ?? DEFAULT_SIZES,
    options.modes ?? null,
    options.programs ?? DEFAULT_PROGRAMS,
  );
  const session = new RunSession();
  const onInterrupt = () => session.interrupt();
  Deno.addSignalListener("SIGINT", onInterrupt);
  const results: DaemonRunResult[] = [];
  const dir = await Deno.makeTempDir({ prefix: "dkp-bench-bundle-" });
  try {
    let bundle: string | undefined;
    if ((await kernelTestSkipReason()) === null) {
      await cacheProgram();
      if (plan.runs.some((r) => r.program === "bundle")) bundle = await bundleProgram(dir);
    }
    for (const { size, mode, program } of plan.runs) {
      if (session.interrupted) break;
      results.push(
        await measureDaemon(size, mode, {
          budgetS: daemonBudgetS(size, options.budgets ?? null),
          changes,
          program,
          ...(bundle === undefined ? {} : { bundle }),
        }, session),
      );
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
    await Deno.remove(dir, { recursive: true });
  }
  if (session.interrupted) Deno.exit(130);
  const report: DaemonReport = {
    program:
      `${mallocEnvText()} deno run -A --cached-only ${V8_FLAGS_OPTION} main.ts --config=FILE ` +
      "--state-file=FILE (bundled: `--no-config kube-proxy.js` instead of `main.ts`)",
    results,
    goals: judgeDaemonGoals(results),
    notes: [...plan.notes, ...standingNotes(changes)],
  };
  const print = options.print ??
    ((line: string) => Deno.stdout.writeSync(new TextEncoder().encode(line + "\n")));
  for (const line of formatDaemonTable(report)) print(line);
  return report;
}

if (import.meta.main) {
  const args = parseDaemonArgs(Deno.args);
  const report = await runDaemonRss({
    sizes: args.sizes,
    ...(args.modes === null ? {} : { modes: args.modes }),
    programs: args.programs,
    ...(args.budgets === null ? {} : { budgets: args.budgets }),
    changes: args.changes,
  });
  if (args.json !== null) {
    const json = args.json;
    Deno.mkdirSync(json.slice(0, Math.max(0, json.lastIndexOf("/"))) || ".", { recursive: true });
    Deno.writeTextFileSync(json, JSON.stringify(report, null, 2) + "\n");
  }
}
