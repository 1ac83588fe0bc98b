/**
 * API side benchmark: how long the state file takes to encode, write (fsync + rename) and read
 * back, what a poll round's diff costs when nothing changed, and the initial sync of a
 * `ClusterSource` (paginated LISTs over HTTP from the in-repo fake API server, into a real
 * `EndpointTable`). Prints a Markdown table and returns the numbers. Not a test.
 *
 * ```sh
 * deno run -A scripts/bench/api_source.ts [--sizes=1000,10000] [--endpoints=10]
 * ```
 *
 * The fake API server runs in the same process, so the initial-sync column includes its JSON
 * encoding too: an upper bound for our side.
 *
 * @module
 */

import { createClusterSource, SYSTEM_CLOCK } from "../../src/kube/mod.ts";
import { VersionStore } from "../../src/kube/version_store.ts";
import type { KubeObject } from "../../src/kube/resources.ts";
import { SILENT_LOGGER } from "../../src/log.ts";
import { EndpointTable } from "../../src/model/mod.ts";
import {
  type ClusterState,
  decodeState,
  DENO_STATE_FS,
  encodeState,
  readStateFile,
  writeStateFile,
} from "../../src/state/mod.ts";
import { FakeApiServer, fakeUid } from "../../tests/fixtures/fake_api_server.ts";
import { makeSyntheticCluster } from "./synthetic_cluster.ts";

/** What to measure. */
export interface ApiSourceBenchOptions {
  /** Service counts. @default [1000, 10000] */
  readonly sizes?: readonly number[];
  /** Endpoints per Service. @default 10 */
  readonly endpoints?: number;
}

/** One row per cluster size. */
export interface ApiSourceRow {
  readonly services: number;
  readonly endpoints: number;
  /** Size of the state file. */
  readonly stateMebibytes: number;
  readonly encodeMs: number;
  /** Atomic write (temp file, fsync, rename) on the real file system. */
  readonly writeMs: number;
  /** Read and decode. */
  readonly readMs: number;
  /** `VersionStore.replace` of an unchanged full LIST (a quiet poll round), all three kinds. */
  readonly pollDiffMs: number;
  /** `createClusterSource().start()` until synced, against the fake API server. */
  readonly initialSyncMs: number;
}

const encoder = new TextEncoder();

function print(line = ""): void {
  Deno.stdout.writeSync(encoder.encode(line + "\n"));
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] ?? NaN;
}

async function time(runs: number, fn: () => unknown | Promise<unknown>): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  return median(samples);
}

async function measure(services: number, endpoints: number, dir: string): Promise<ApiSourceRow> {
  const cluster = makeSyntheticCluster({ services, endpointsPerService: endpoints });
  // As the API server would serve them: with uids.
  const withUid = <T extends KubeObject>(o: T, i: number): T => ({
    ...o,
    metadata: { ...o.metadata, uid: fakeUid(i + 1) },
  });
  const svcs = cluster.services.map(withUid);
  const slices = cluster.slices.map(withUid);
  const state: ClusterState = {
    nodeName: cluster.nodeName,
    savedAt: new Date(0).toISOString(),
    services: svcs,
    endpointSlices: slices,
    node: cluster.node,
  };
  const text = encodeState(state);
  const path = `${dir}/state-${services}.json`;
  const encodeMs = await time(5, () => encodeState(state));
  const writeMs = await time(5, () => writeStateFile(path, text, DENO_STATE_FS));
  const readMs = await time(5, async () => decodeState(await Deno.readTextFile(path), path));
  await readStateFile(path, DENO_STATE_FS);

  const stores = [new VersionStore<KubeObject>(), new VersionStore<KubeObject>()];
  stores[0]?.replace(svcs);
  stores[1]?.replace(slices);
  const pollDiffMs = await time(5, () => {
    stores[0]?.replace(svcs.map((o) => ({ ...o })));
    stores[1]?.replace(slices.map((o) => ({ ...o })));
  });

  const api = await FakeApiServer.start({ token: null });
  try {
    for (const s of cluster.services) api.create("services", s);
    for (const s of cluster.slices) api.create("endpointslices", s);
    api.create("nodes", cluster.node);
    const initialSyncMs = await time(3, async () => {
      const table = new EndpointTable({
        nodeName: cluster.nodeName,
        detectLocalMode: "ClusterCIDR",
        clusterCIDRs: [cluster.clusterCIDR],
        bridgeInterface: "",
        interfaceNamePrefix: "",
      });
      const source = await createClusterSource({
        kubeconfig: "",
        master: api.url,
        qps: -1,
        burst: 10,
        contentType: "application/json",
        apiMode: "watch",
        pollIntervalMs: 10_000,
        configSyncPeriodMs: 900_000,
        stateFile: "",
        nodeName: cluster.nodeName,
      }, {
        table,
        log: SILENT_LOGGER,
        env: () => undefined,
        readTextFile: (p) => Deno.readTextFile(p),
        clock: SYSTEM_CLOCK,
      });
      await source.start();
      table.snapshot();
      await source.stop();
    });
    return {
      services,
      endpoints,
      stateMebibytes: encoder.encode(text).length / 2 ** 20,
      encodeMs,
      writeMs,
      readMs,
      pollDiffMs,
      initialSyncMs,
    };
  } finally {
    await api.close();
  }
}

/** Runs the benchmark and prints a Markdown table. */
export async function benchApiSource(
  options: ApiSourceBenchOptions = {},
): Promise<{ rows: ApiSourceRow[] }> {
  const sizes = options.sizes ?? [1000, 10000];
  const endpoints = options.endpoints ?? 10;
  const dir = await Deno.makeTempDir({ prefix: "bench_api_source_" });
  const rows: ApiSourceRow[] = [];
  try {
    for (const size of sizes) rows.push(await measure(size, endpoints, dir));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  print(
    "| services | endpoints | state file MiB | encode ms | write ms | read ms | quiet poll diff ms | initial sync ms |",
  );
  print("|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const r of rows) {
    print(
      `| ${r.services} | ${r.services * r.endpoints} | ${r.stateMebibytes.toFixed(1)} | ` +
        `${r.encodeMs.toFixed(1)} | ${r.writeMs.toFixed(1)} | ${r.readMs.toFixed(1)} | ` +
        `${r.pollDiffMs.toFixed(1)} | ${r.initialSyncMs.toFixed(0)} |`,
    );
  }
  return { rows };
}

if (import.meta.main) {
  const arg = (name: string) => Deno.args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
  const sizes = arg("sizes")?.split(",").map(Number);
  const endpoints = arg("endpoints");
  await benchApiSource({
    ...(sizes === undefined ? {} : { sizes }),
    ...(endpoints === undefined ? {} : { endpoints: Number(endpoints) }),
  });
}
