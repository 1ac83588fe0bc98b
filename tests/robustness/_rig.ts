/**
 * The fault-matrix rig: the real cluster source on a fake API server (hand-driven clock,
 * in-memory state file), feeding a real {@linkcode Proxier} and a real backend whose commands a
 * {@linkcode RecordingRunner} answers. Tests read what an operator would see: the restore input
 * handed to the kernel, /healthz, the metrics and the log.
 *
 * @module
 */

import type { V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node";
import type { BackendDeps, ProxyBackend, RenderOptions } from "../../src/backend/backend.ts";
import { IptablesBackend } from "../../src/backend/iptables/backend.ts";
import { NftablesBackend } from "../../src/backend/nftables/backend.ts";
import type { CommandRunner } from "../../src/runner.ts";
import { healthzHandler, ProxyHealth } from "../../src/server/healthz.ts";
import { KubeProxyMetrics } from "../../src/server/metrics.ts";
import { MetricsRegistry } from "../../src/server/prometheus.ts";
import { encodeState } from "../../src/state/state_file.ts";
import { Proxier } from "../../src/sync/proxier.ts";
import type { FakeApiServer } from "../fixtures/fake_api_server.ts";
import { TEST_NODE_NAME } from "../fixtures/k8s_builders.ts";
import { parsePrometheusText } from "../fixtures/prometheus_text.ts";
import { type RecordedCall, RecordingRunner } from "../fixtures/recording_runner.ts";
import { makeSource, type TestSource, type TestSourceOptions } from "../fixtures/test_source.ts";

/** Where the rig keeps its state file. */
export const STATE = "/var/lib/kube-proxy/state.json";

/** The rig's syncPeriod (upstream's default): health timeout and convergence budget. */
export const SYNC_PERIOD_MS = 30_000;

/** Upstream's defaults with every local address for NodePorts. */
export const OPTIONS: RenderOptions = Object.freeze({
  masqueradeBit: 14,
  masqueradeAll: false,
  localhostNodePorts: true,
  nodePortAddresses: Object.freeze([]) as readonly string[],
});

/** The state file a node would have saved from `api` as it is now. */
export function savedState(api: FakeApiServer): string {
  return encodeState({
    nodeName: TEST_NODE_NAME,
    savedAt: "2026-01-01T00:00:00.000Z",
    services: api.objects<V1Service>("services"),
    endpointSlices: api.objects<V1EndpointSlice>("endpointslices"),
    node: api.objects<V1Node>("nodes")[0] ?? null,
  });
}

/** The pieces of one rig. */
export interface Rig {
  readonly t: TestSource;
  readonly runner: RecordingRunner;
  readonly backend: ProxyBackend;
  readonly proxier: Proxier;
  readonly health: ProxyHealth;
  /** One sync; resolves with the error it failed with, if any. */
  sync(): Promise<unknown>;
  /** The rules handed to the kernel: every restore / nft input, in order. */
  applies(): RecordedCall[];
  /** GET /healthz as the kubelet would. */
  healthz(): Promise<{ status: number; body: Record<string, unknown> }>;
  /** A metric's current value. */
  metric(name: string, labels?: Readonly<Record<string, string>>): number | undefined;
}

/** Options of {@linkcode makeRig}. */
export interface RigOptions extends TestSourceOptions {
  readonly mode?: "iptables" | "nftables";
  /** Wraps the recording runner (to make commands fail, hang or vanish). */
  readonly runner?: RecordingRunner;
  /** Replaces the runner the backend uses (real processes). */
  readonly backendRunner?: CommandRunner;
  readonly applyTimeoutMs?: number;
}

/** A rig on `api`; the source is not started. */
export async function makeRig(api: FakeApiServer, options: RigOptions = {}): Promise<Rig> {
  const { mode = "iptables", runner: given, backendRunner, applyTimeoutMs, ...sourceOptions } =
    options;
  const t = await makeSource(api, sourceOptions);
  const runner = given ?? new RecordingRunner();
  const deps: BackendDeps = {
    runner: backendRunner ?? runner,
    log: t.log,
    options: OPTIONS,
    ...(applyTimeoutMs === undefined ? {} : { applyTimeoutMs }),
  };
  const backend = mode === "iptables"
    ? new IptablesBackend(deps, { hostAddresses: () => null })
    : new NftablesBackend(deps, { cleanupOtherModes: null });
  const registry = new MetricsRegistry();
  const metrics = new KubeProxyMetrics(registry, mode);
  const health = new ProxyHealth({
    now: () => t.clock.now(),
    healthTimeoutMs: 2 * SYNC_PERIOD_MS,
    node: () => ({
      known: proxier.lastSnapshot?.node.known ?? false,
      deleting: false,
      toBeDeletedTaint: false,
    }),
  });
  const proxier: Proxier = new Proxier({
    table: t.table.table,
    backend,
    log: t.log,
    metrics,
    health,
    now: () => t.clock.now(),
    families: ["IPv4", "IPv6"],
  });
  for (const family of ["IPv4", "IPv6"] as const) health.updated(family);
  const handler = healthzHandler(health);
  return {
    t,
    runner,
    backend,
    proxier,
    health,
    async sync() {
      try {
        await proxier.sync();
        return undefined;
      } catch (error) {
        return error;
      }
    },
    applies: () =>
      runner.calls.filter((c) =>
        c.stdin !== undefined &&
        (c.command.endsWith("tables-restore") || c.command === "nft")
      ),
    async healthz() {
      const response = handler(new Request("http://127.0.0.1:10256/healthz"));
      return { status: response.status, body: await response.json() };
    },
    metric: (name, labels) => parsePrometheusText(registry.render()).value(name, labels),
  };
}
