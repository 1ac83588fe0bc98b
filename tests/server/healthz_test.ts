import assert from "node:assert/strict";
import {
  formatGoTime,
  healthzHandler,
  type NodeEligibility,
  ProxyHealth,
  serveHealthz,
} from "../../src/server/healthz.ts";
import { denoListen } from "../../src/server/listen.ts";
import { MetricsRegistry } from "../../src/server/prometheus.ts";
import { KubeProxyMetrics } from "../../src/server/metrics.ts";

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const SYNC_PERIOD = 30_000;

function setup(node: Partial<NodeEligibility> = {}) {
  let now = T0;
  const state: { -readonly [K in keyof NodeEligibility]: NodeEligibility[K] } = {
    known: true,
    deleting: false,
    toBeDeletedTaint: false,
    ...node,
  };
  const health = new ProxyHealth({
    now: () => now,
    healthTimeoutMs: 2 * SYNC_PERIOD,
    node: () => state,
  });
  const registry = new MetricsRegistry();
  const metrics = new KubeProxyMetrics(registry, "iptables");
  const handler = healthzHandler(health, {
    healthz: metrics.healthzTotal,
    livez: metrics.livezTotal,
  });
  const get = (path: "/healthz" | "/livez" | string) =>
    handler(new Request(`http://127.0.0.1:10256${path}`));
  return {
    health,
    metrics,
    state,
    get,
    at: (ms: number) => (now = T0 + ms),
  };
}

Deno.test("healthzHandler() /healthz answers 200 with upstream's JSON while no change is queued", async () => {
  const { health, get, at } = setup();
  health.updated("IPv4");
  health.updated("IPv6");
  at(5_000);
  const res = get("/healthz");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  assert.equal(
    await res.text(),
    '{"lastUpdated":"2025-01-01T12:00:05Z","currentTime":"2025-01-01T12:00:05Z",' +
      '"nodeEligible":true,"healthy":true,"status":{' +
      '"IPv4":{"lastUpdated":"2025-01-01T12:00:00Z","healthy":true},' +
      '"IPv6":{"lastUpdated":"2025-01-01T12:00:00Z","healthy":true}}}',
  );
});

Deno.test("healthzHandler() /healthz stays 200 until a queued change is 2 × syncPeriod old, then answers 503", async () => {
  const { health, get, at } = setup();
  health.updated("IPv4");
  at(1_000);
  health.queuedUpdate("IPv4");
  at(1_000 + 2 * SYNC_PERIOD - 1);
  assert.equal(get("/healthz").status, 200);
  at(1_000 + 2 * SYNC_PERIOD);
  const res = get("/healthz");
  assert.equal(res.status, 503);
  const body = await res.json();
  assert.equal(body.healthy, false);
  assert.equal(body.lastUpdated, "2025-01-01T12:00:00Z", "the real last update when unhealthy");
  assert.deepEqual(body.status.IPv4, { lastUpdated: "2025-01-01T12:00:00Z", healthy: false });
});

Deno.test("ProxyHealth.queuedUpdate() keeps the oldest pending time", () => {
  const { health, at } = setup();
  health.updated("IPv4");
  health.queuedUpdate("IPv4");
  at(50_000);
  health.queuedUpdate("IPv4");
  at(60_000);
  assert.equal(health.report().healthy, false, "measured from the first queued change");
});

Deno.test("healthzHandler() /healthz and /livez turn 200 again after a successful sync", () => {
  const { health, get, at } = setup();
  health.updated("IPv4");
  health.queuedUpdate("IPv4");
  at(61_000);
  assert.equal(get("/livez").status, 503);
  health.updated("IPv4");
  assert.equal(get("/healthz").status, 200);
  assert.equal(get("/livez").status, 200);
});

Deno.test("healthzHandler() /healthz answers 503 while this node's Node object is unknown; /livez does not care", async () => {
  const { health, get } = setup({ known: false });
  health.updated("IPv4");
  const healthz = get("/healthz");
  assert.equal(healthz.status, 503);
  const body = await healthz.json();
  assert.equal(body.nodeEligible, false);
  assert.equal(body.healthy, true, "the proxy itself is fine");
  const livez = get("/livez");
  assert.equal(livez.status, 200);
  assert.equal("nodeEligible" in await livez.json(), false);
});

Deno.test("healthzHandler() /healthz answers 503 for a Node being deleted or tainted ToBeDeletedByClusterAutoscaler", () => {
  for (const node of [{ deleting: true }, { toBeDeletedTaint: true }]) {
    const { health, get } = setup(node);
    health.updated("IPv4");
    assert.equal(get("/healthz").status, 503, JSON.stringify(node));
    assert.equal(get("/livez").status, 200, JSON.stringify(node));
  }
});

Deno.test("healthzHandler() counts answers in kubeproxy_proxy_healthz_total / livez_total by code", () => {
  const { health, get, metrics, state } = setup();
  health.updated("IPv4");
  get("/healthz");
  get("/healthz");
  get("/livez");
  state.known = false;
  get("/healthz");
  assert.equal(metrics.healthzTotal.get({ code: "200" }), 2);
  assert.equal(metrics.healthzTotal.get({ code: "503" }), 1);
  assert.equal(metrics.livezTotal.get({ code: "200" }), 1);
});

Deno.test("healthzHandler() answers 404 for other paths", () => {
  const { get } = setup();
  assert.equal(get("/metrics").status, 404);
});

Deno.test("healthzHandler() before any update reports Go's zero time and no status", async () => {
  const { get } = setup();
  const body = await get("/livez").json();
  assert.deepEqual(Object.keys(body), ["lastUpdated", "currentTime", "healthy"]);
  assert.equal(body.healthy, true);
});

Deno.test("formatGoTime() writes RFC 3339 like Go, dropping zero fractions", () => {
  assert.equal(formatGoTime(0), "0001-01-01T00:00:00Z");
  assert.equal(formatGoTime(Date.UTC(2025, 0, 1, 0, 0, 1, 500)), "2025-01-01T00:00:01.5Z");
  assert.equal(formatGoTime(Date.UTC(2025, 0, 1, 0, 0, 10, 120)), "2025-01-01T00:00:10.12Z");
  assert.equal(formatGoTime(Date.UTC(2025, 0, 1, 0, 0, 10)), "2025-01-01T00:00:10Z");
});

Deno.test("serveHealthz() serves /healthz over HTTP", async () => {
  const { health } = setup();
  health.updated("IPv4");
  const server = await serveHealthz(denoListen, "127.0.0.1", 0, health);
  try {
    const res = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    assert.equal(res.status, 200);
    assert.equal((await res.json()).healthy, true);
  } finally {
    await server.close();
  }
});
