/**
 * Helpers for the kube/ and state/ tests: a hand-driven clock, a table that records the events
 * it receives, in-memory files, and a cluster source wired to a fake API server.
 *
 * @module
 */

import type { V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node";
import { EndpointTable, type SyncSource, type TableSnapshot } from "../../src/model/mod.ts";
import type { Clock } from "../../src/kube/clock.ts";
import type { TableSink } from "../../src/kube/cluster_source.ts";
import {
  type ClusterSource,
  createClusterSource,
  denoHttpTransport,
  type HttpTransport,
  type KubeSourceOptions,
} from "../../src/kube/mod.ts";
import type { LogFields, Logger } from "../../src/log.ts";
import type { StateFs } from "../../src/state/state_file.ts";
import { FakeApiServer, type FakeApiServerOptions } from "../fixtures/fake_api_server.ts";
import { makeTableOptions, TEST_NODE_NAME } from "../fixtures/k8s_builders.ts";

interface Timer {
  readonly at: number;
  readonly ms: number;
  readonly resolve: () => void;
  claimed: boolean;
}

/**
 * A clock that only moves when told. `sleep()` registers a timer; `advance()` fires the due ones;
 * `nextSleep()` waits until someone sleeps, so a test can see a backoff delay without waiting it.
 */
export class ManualClock implements Clock {
  #now: number;
  #timers: Timer[] = [];
  #waiters: { match: (ms: number) => boolean; resolve: (ms: number) => void }[] = [];
  #idleWaiters: { match: (ms: number) => boolean; resolve: () => void }[] = [];

  /** @param start The initial time (ms since the epoch). */
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  /** The current virtual time. */
  now(): number {
    return this.#now;
  }

  /** Registers a timer that `advance()` fires; an abort resolves it at once. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const timer: Timer = {
        at: this.#now + Math.max(0, ms),
        ms,
        claimed: false,
        resolve: () => {
          this.#timers = this.#timers.filter((t) => t !== timer);
          signal?.removeEventListener("abort", timer.resolve);
          resolve();
          this.#checkIdle();
        },
      };
      signal?.addEventListener("abort", timer.resolve, { once: true });
      this.#timers.push(timer);
      for (const waiter of [...this.#waiters]) {
        if (!waiter.match(ms)) continue;
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        timer.claimed = true;
        waiter.resolve(ms);
        break;
      }
    });
  }

  /** The durations of the timers now pending. */
  get pending(): number[] {
    return this.#timers.map((t) => t.ms);
  }

  /**
   * Resolves with the duration of a pending sleep that `match` accepts and that no earlier call
   * returned, waiting for one if needed.
   */
  nextSleep(match: (ms: number) => boolean = () => true): Promise<number> {
    const existing = this.#timers.find((t) => !t.claimed && match(t.ms));
    if (existing !== undefined) {
      existing.claimed = true;
      return Promise.resolve(existing.ms);
    }
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  /**
   * Resolves once no pending timer is accepted by `match`: e.g. once every request in flight
   * got its answer (its timeout timer is cancelled then), before jumping time forward.
   */
  idle(match: (ms: number) => boolean): Promise<void> {
    if (!this.#timers.some((t) => match(t.ms))) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push({ match, resolve }));
  }

  #checkIdle(): void {
    for (const w of [...this.#idleWaiters]) {
      if (this.#timers.some((t) => w.match(t.ms))) continue;
      this.#idleWaiters.splice(this.#idleWaiters.indexOf(w), 1);
      w.resolve();
    }
  }

  /** Moves time forward and fires every timer that is due. */
  advance(ms: number): void {
    this.#now += ms;
    for (const timer of [...this.#timers].sort((a, b) => a.at - b.at)) {
      if (timer.at <= this.#now) timer.resolve();
    }
  }
}

/** One recorded table event: `"add services ns1/svc1"`, `"synced node"`, … */
export type TableEvent = string;

/**
 * A real {@linkcode EndpointTable} that also records every event it receives and lets tests
 * await one.
 */
export class RecordingTable implements TableSink {
  /** The table being fed. */
  readonly table: EndpointTable;
  /** Every event, in order. */
  readonly events: TableEvent[] = [];
  #waiters: { match: (e: TableEvent) => boolean; resolve: () => void }[] = [];

  constructor(table = new EndpointTable(makeTableOptions())) {
    this.table = table;
  }

  /** Resolves when an event `match` accepts arrives (or has already arrived, if `past`). */
  waitFor(match: string | ((e: TableEvent) => boolean), past = true): Promise<void> {
    const test = typeof match === "string" ? (e: TableEvent) => e === match : match;
    if (past && this.events.some(test)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ match: test, resolve }));
  }

  /** A snapshot of the table (for comparing tables). */
  snapshot(): TableSnapshot {
    return this.table.snapshot();
  }

  #record(event: TableEvent): void {
    this.events.push(event);
    for (const w of [...this.#waiters]) {
      if (!w.match(event)) continue;
      this.#waiters.splice(this.#waiters.indexOf(w), 1);
      w.resolve();
    }
  }

  onServiceAdd(s: V1Service): void {
    this.table.onServiceAdd(s);
    this.#record(`add services ${key(s)}`);
  }
  onServiceUpdate(p: V1Service, s: V1Service): void {
    this.table.onServiceUpdate(p, s);
    this.#record(`update services ${key(s)}`);
  }
  onServiceDelete(s: V1Service): void {
    this.table.onServiceDelete(s);
    this.#record(`delete services ${key(s)}`);
  }
  onEndpointSliceAdd(s: V1EndpointSlice): void {
    this.table.onEndpointSliceAdd(s);
    this.#record(`add endpointSlices ${key(s)}`);
  }
  onEndpointSliceUpdate(p: V1EndpointSlice, s: V1EndpointSlice): void {
    this.table.onEndpointSliceUpdate(p, s);
    this.#record(`update endpointSlices ${key(s)}`);
  }
  onEndpointSliceDelete(s: V1EndpointSlice): void {
    this.table.onEndpointSliceDelete(s);
    this.#record(`delete endpointSlices ${key(s)}`);
  }
  onNodeAdd(n: V1Node): void {
    this.table.onNodeAdd(n);
    this.#record(`add node ${key(n)}`);
  }
  onNodeUpdate(p: V1Node, n: V1Node): void {
    this.table.onNodeUpdate(p, n);
    this.#record(`update node ${key(n)}`);
  }
  onNodeDelete(n: V1Node): void {
    this.table.onNodeDelete(n);
    this.#record(`delete node ${key(n)}`);
  }
  markSynced(source: SyncSource): void {
    this.table.markSynced(source);
    this.#record(`synced ${source}`);
  }
}

function key(o: { metadata?: { namespace?: string; name?: string } }): string {
  const ns = o.metadata?.namespace ?? "";
  return ns === "" ? o.metadata?.name ?? "" : `${ns}/${o.metadata?.name ?? ""}`;
}

/** A logger that keeps every line, for asserting what an operator would read. */
export class MemoryLogger implements Logger {
  readonly verbosity = 10;
  /** `"W message key=value"` lines. */
  readonly lines: string[] = [];
  #waiters: { prefix: string; resolve: (line: string) => void }[] = [];

  info(message: string, fields?: LogFields): void {
    this.#add(line("I", message, fields));
  }
  warn(message: string, fields?: LogFields): void {
    this.#add(line("W", message, fields));
  }
  error(message: string, fields?: LogFields): void {
    this.#add(line("E", message, fields));
  }
  /** Resolves with the first line (logged so far or later) that starts with `prefix`. */
  waitFor(prefix: string): Promise<string> {
    const found = this.lines.find((l) => l.startsWith(prefix));
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve) => this.#waiters.push({ prefix, resolve }));
  }
  #add(text: string): void {
    this.lines.push(text);
    for (const w of [...this.#waiters]) {
      if (!text.startsWith(w.prefix)) continue;
      this.#waiters.splice(this.#waiters.indexOf(w), 1);
      w.resolve(text);
    }
  }
  /** The whole log as one string. */
  get text(): string {
    return this.lines.join("\n");
  }
}

function line(severity: string, message: string, fields?: LogFields): string {
  const pairs = Object.entries(fields ?? {}).map(([k, v]) =>
    ` ${k}=${v instanceof Error ? v.message : typeof v === "string" ? v : JSON.stringify(v)}`
  );
  return `${severity} ${message}${pairs.join("")}`;
}

/** Files held in memory; reading a missing one throws `Deno.errors.NotFound`. */
export class MemoryFiles implements StateFs {
  readonly files = new Map<string, string>();
  /** Make the next operations of a kind fail with this error. */
  readonly failures: { op: keyof StateFs; error: Error; remaining: number }[] = [];
  /** Names of the operations done, e.g. `"rename /x/.s.tmp /x/s"`. */
  readonly log: string[] = [];
  #renameWaiters: { count: number; resolve: () => void }[] = [];
  #renames = 0;

  /** How many renames succeeded (completed atomic writes). */
  get renames(): number {
    return this.#renames;
  }

  /** Resolves once `count` renames have happened. */
  waitForRenames(count: number): Promise<void> {
    if (this.renames >= count) return Promise.resolve();
    return new Promise((resolve) => this.#renameWaiters.push({ count, resolve }));
  }

  constructor(initial: Record<string, string> = {}) {
    for (const [path, text] of Object.entries(initial)) this.files.set(path, text);
  }

  /** Makes the next `count` calls of `op` throw `error`. */
  fail(op: keyof StateFs, error: Error, count = Infinity): void {
    this.failures.push({ op, error, remaining: count });
  }

  #check(op: keyof StateFs): void {
    const f = this.failures.find((x) => x.op === op && x.remaining > 0);
    if (f === undefined) return;
    f.remaining--;
    throw f.error;
  }

  readTextFile = (path: string): Promise<string> => {
    this.#check("readTextFile");
    const text = this.files.get(path);
    if (text === undefined) {
      return Promise.reject(new Deno.errors.NotFound(`no such file: ${path}`));
    }
    return Promise.resolve(text);
  };
  mkdir = (path: string): Promise<void> => {
    this.log.push(`mkdir ${path}`);
    this.#check("mkdir");
    return Promise.resolve();
  };
  writeSynced = (path: string, data: Uint8Array): Promise<void> => {
    this.log.push(`write ${path}`);
    this.#check("writeSynced");
    this.files.set(path, new TextDecoder().decode(data));
    return Promise.resolve();
  };
  rename = (from: string, to: string): Promise<void> => {
    this.log.push(`rename ${from} ${to}`);
    this.#check("rename");
    const text = this.files.get(from);
    if (text === undefined) return Promise.reject(new Deno.errors.NotFound(from));
    this.files.delete(from);
    this.files.set(to, text);
    this.#renames++;
    for (const w of [...this.#renameWaiters]) {
      if (this.renames < w.count) continue;
      this.#renameWaiters.splice(this.#renameWaiters.indexOf(w), 1);
      w.resolve();
    }
    return Promise.resolve();
  };
  remove = (path: string): Promise<void> => {
    this.log.push(`remove ${path}`);
    this.files.delete(path);
    return Promise.resolve();
  };
}

/** A kubeconfig (YAML) pointing at `server`, trusting its CA and sending its token. */
export function kubeconfigFor(
  server: { url: string; caCert: string | null; token: string | null },
  token: string | null = server.token,
): string {
  const ca = server.caCert === null
    ? ""
    : `\n    certificate-authority-data: ${btoa(server.caCert)}`;
  const user = token === null ? "{}" : `\n    token: ${token}`;
  return `apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: ${server.url}${ca}
users:
- name: kube-proxy
  user: ${user}
contexts:
- name: fake
  context: {cluster: fake, user: kube-proxy}
current-context: fake
`;
}

/** The request timeout of {@linkcode makeSource}'s sources (a value no other timer uses). */
export const REQUEST_TIMEOUT_MS = 7_777;

/** What {@linkcode makeSource} returns. */
export interface TestSource {
  readonly source: ClusterSource;
  readonly table: RecordingTable;
  readonly clock: ManualClock;
  readonly log: MemoryLogger;
  readonly files: MemoryFiles;
  /** How many times onChange was called. */
  readonly changes: () => number;
  /** The kinds onChange was called with, in order (`"synced"` when called without one). */
  readonly changeKinds: string[];
}

/** Options for {@linkcode makeSource}. */
export interface TestSourceOptions extends Partial<KubeSourceOptions> {
  readonly token?: string | null;
  /** The kubeconfig text (default: {@linkcode kubeconfigFor} the server). */
  readonly kubeconfigText?: string;
  /** Wraps the HTTP transport (to act between requests). */
  readonly wrapTransport?: (t: HttpTransport) => HttpTransport;
  readonly files?: MemoryFiles;
  readonly clock?: ManualClock;
  readonly table?: RecordingTable;
}

/**
 * A cluster source on `server` through a kubeconfig, with a manual clock, fixed jitter
 * (random = 0.5), in-memory files and no periodic relist unless asked. Not started.
 */
export async function makeSource(
  server: FakeApiServer,
  options: TestSourceOptions = {},
): Promise<TestSource> {
  const files = options.files ?? new MemoryFiles();
  files.files.set(
    "/etc/kube-proxy/kubeconfig",
    options.kubeconfigText ?? kubeconfigFor(server, options.token),
  );
  const clock = options.clock ?? new ManualClock();
  const table = options.table ?? new RecordingTable();
  const log = new MemoryLogger();
  const changeKinds: string[] = [];
  const {
    token: _t,
    files: _f,
    clock: _c,
    table: _tb,
    kubeconfigText: _k,
    wrapTransport,
    ...rest
  } = options;
  const source = await createClusterSource({
    kubeconfig: "/etc/kube-proxy/kubeconfig",
    master: "",
    qps: -1,
    burst: 10,
    contentType: "application/json",
    apiMode: "watch",
    pollIntervalMs: 10_000,
    configSyncPeriodMs: 900_000,
    stateFile: "",
    nodeName: TEST_NODE_NAME,
    backoff: { initialMs: 100, capMs: 400 },
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    initialSyncTimeoutMs: 3_600_000,
    ...rest,
  }, {
    table,
    onChange: (kind) => changeKinds.push(kind ?? "synced"),
    log,
    env: () => undefined,
    readTextFile: files.readTextFile,
    clock,
    random: () => 0.5,
    stateFs: files,
    httpTransport: (settings) => {
      const transport = denoHttpTransport(settings);
      return wrapTransport === undefined ? transport : wrapTransport(transport);
    },
  });
  return { source, table, clock, log, files, changes: () => changeKinds.length, changeKinds };
}

/**
 * The table as an operator would read it: one line per service port,
 * `ns/name:port/PROTO clusterIP:port -> endpoints`, for both families.
 */
export function describeTable(snapshot: TableSnapshot): string[] {
  return [...snapshot.v4.servicePorts, ...snapshot.v6.servicePorts].map((p) =>
    `${p.id} ${p.clusterIP}:${p.port} -> ${p.clusterEndpoints.map((e) => e.ipPort).join(",")}`
  );
}

/**
 * Runs `fn` against a fresh fake API server and closes it afterwards. A test that waits for
 * something that never comes fails after `limitMs` (real time) instead of hanging CI.
 */
export async function withApi(
  fn: (api: FakeApiServer) => Promise<void>,
  options: FakeApiServerOptions = {},
  limitMs = 30_000,
): Promise<void> {
  const api = await FakeApiServer.start(options);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      fn(api),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Test did not finish within ${limitMs} ms`)),
          limitMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await api.close();
  }
}
