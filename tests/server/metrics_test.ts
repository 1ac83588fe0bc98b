import assert from "node:assert/strict";
import {
  KubeProxyMetrics,
  metricsHandler,
  NETWORK_PROGRAMMING_BUCKETS,
  registerProcessMetrics,
  serveMetrics,
} from "../../src/server/metrics.ts";
import { denoListen } from "../../src/server/listen.ts";
import { MetricsRegistry } from "../../src/server/prometheus.ts";
import { parsePrometheusText } from "../fixtures/prometheus_text.ts";

const COMMON = [
  "kubeproxy_network_programming_duration_seconds",
  "kubeproxy_proxy_healthz_total",
  "kubeproxy_proxy_livez_total",
  "kubeproxy_sync_proxy_rules_duration_seconds",
  "kubeproxy_sync_proxy_rules_endpoint_changes_pending",
  "kubeproxy_sync_proxy_rules_endpoint_changes_total",
  "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
  "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
  "kubeproxy_sync_proxy_rules_no_local_endpoints_total",
  "kubeproxy_sync_proxy_rules_service_changes_pending",
  "kubeproxy_sync_proxy_rules_service_changes_total",
  "deno_kube_proxy_api_connected",
  "deno_kube_proxy_serving_from_state_file_since_seconds",
];

Deno.test("KubeProxyMetrics registers upstream's iptables-mode set", () => {
  const r = new MetricsRegistry();
  new KubeProxyMetrics(r, "iptables");
  assert.deepEqual(
    r.names(),
    [
      ...COMMON,
      "kubeproxy_sync_full_proxy_rules_duration_seconds",
      "kubeproxy_sync_partial_proxy_rules_duration_seconds",
      "kubeproxy_sync_proxy_rules_iptables_last",
      "kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total",
      "kubeproxy_sync_proxy_rules_iptables_restore_failures_total",
      "kubeproxy_sync_proxy_rules_iptables_total",
    ].sort(),
  );
});

Deno.test("KubeProxyMetrics registers upstream's nftables-mode set", () => {
  const r = new MetricsRegistry();
  const m = new KubeProxyMetrics(r, "nftables");
  assert.deepEqual(
    r.names(),
    [
      ...COMMON,
      "kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total",
      "kubeproxy_sync_proxy_rules_nftables_sync_failures_total",
    ].sort(),
  );
  assert.equal(m.iptablesRestoreFailures, undefined);
});

Deno.test("KubeProxyMetrics exposition parses, with upstream's types, labels and [ALPHA] help", () => {
  const r = new MetricsRegistry();
  const m = new KubeProxyMetrics(r, "iptables");
  const v4 = { ip_family: "IPv4" };
  m.syncDuration.observe(v4, 0.0125);
  m.syncFullDuration?.observe(v4, 0.0125);
  m.lastSyncTimestamp.set(v4, 1735689600.5);
  m.noLocalEndpoints.set({ ...v4, traffic_policy: "internal" }, 2);
  m.iptablesRestoreFailures?.inc(v4);
  m.healthzTotal.inc({ code: "200" });
  const scrape = parsePrometheusText(r.render());
  assert.equal(scrape.types.get("kubeproxy_sync_proxy_rules_duration_seconds"), "histogram");
  assert.equal(scrape.types.get("kubeproxy_sync_proxy_rules_last_timestamp_seconds"), "gauge");
  assert.equal(scrape.types.get("kubeproxy_proxy_healthz_total"), "counter");
  assert.equal(
    scrape.help.get("kubeproxy_sync_proxy_rules_duration_seconds"),
    "[ALPHA] SyncProxyRules latency in seconds",
  );
  assert.equal(
    scrape.value("kubeproxy_sync_proxy_rules_duration_seconds_bucket", { ...v4, le: "0.016" }),
    1,
  );
  assert.equal(
    scrape.value("kubeproxy_sync_proxy_rules_duration_seconds_bucket", { ...v4, le: "0.008" }),
    0,
  );
  assert.equal(
    scrape.value("kubeproxy_sync_proxy_rules_no_local_endpoints_total", {
      ...v4,
      traffic_policy: "internal",
    }),
    2,
  );
  assert.equal(
    scrape.value("kubeproxy_sync_proxy_rules_iptables_restore_failures_total", v4),
    1,
  );
  assert.equal(scrape.value("kubeproxy_sync_proxy_rules_last_timestamp_seconds", v4), 1735689600.5);
});

Deno.test("NETWORK_PROGRAMMING_BUCKETS has upstream's 81 bounds from 0 to 300 s", () => {
  assert.equal(NETWORK_PROGRAMMING_BUCKETS.length, 81);
  assert.deepEqual(NETWORK_PROGRAMMING_BUCKETS.slice(0, 5), [0, 0.25, 0.5, 1, 2]);
  assert.deepEqual(NETWORK_PROGRAMMING_BUCKETS.slice(-3), [240, 270, 300]);
});

Deno.test("registerProcessMetrics() reads memory, CPU and start time from /proc", () => {
  const r = new MetricsRegistry();
  const files: Record<string, string> = {
    "/proc/self/statm": "25000 5000 1200 300 0 8000 0\n",
    // pid (comm with ") " in it) state … utime=250 stime=50 … starttime=12345
    "/proc/self/stat": "4242 (kube) proxy) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 " +
      "8 0 12345 102400000 5000\n",
    "/proc/stat": "cpu  1 2 3\nbtime 1735689000\nprocesses 9\n",
  };
  registerProcessMetrics(r, { read: (p) => files[p] });
  const scrape = parsePrometheusText(r.render());
  assert.equal(scrape.value("process_resident_memory_bytes"), 5000 * 4096);
  assert.equal(scrape.value("process_virtual_memory_bytes"), 25000 * 4096);
  assert.equal(scrape.value("process_cpu_seconds_total"), 3);
  assert.equal(scrape.types.get("process_cpu_seconds_total"), "counter");
  assert.equal(scrape.value("process_start_time_seconds"), 1735689000 + 123.45);
});

Deno.test("registerProcessMetrics() falls back to the given start time without /proc", () => {
  const r = new MetricsRegistry();
  registerProcessMetrics(r, { read: () => undefined, startTimeMs: 1735689600000 });
  assert.equal(parsePrometheusText(r.render()).value("process_start_time_seconds"), 1735689600);
});

function metricsFetch(mode: "iptables" | "nftables" = "nftables") {
  const registry = new MetricsRegistry();
  new KubeProxyMetrics(registry, mode);
  const handler = metricsHandler({
    registry,
    mode,
    configz: () => ({ mode, syncPeriod: "30s" }),
  });
  return (path: string) => handler(new Request(`http://127.0.0.1:10249${path}`));
}

Deno.test("metricsHandler() serves /proxyMode as plain text", async () => {
  const res = metricsFetch("nftables")("/proxyMode");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/plain; charset=utf-8");
  assert.equal(await res.text(), "nftables");
});

Deno.test("metricsHandler() serves /configz under the kubeproxy.config.k8s.io key", async () => {
  const res = metricsFetch()("/configz");
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.deepEqual(await res.json(), {
    "kubeproxy.config.k8s.io": { mode: "nftables", syncPeriod: "30s" },
  });
});

Deno.test("metricsHandler() answers /healthz with ok and unknown paths with 404", async () => {
  const get = metricsFetch();
  assert.equal(await get("/healthz").text(), "ok");
  const missing = get("/nope");
  assert.equal(missing.status, 404);
  assert.equal(await missing.text(), "404 page not found\n");
});

Deno.test("serveMetrics() serves /metrics over HTTP with the Prometheus content type", async () => {
  const registry = new MetricsRegistry();
  const m = new KubeProxyMetrics(registry, "iptables");
  m.syncDuration.observe({ ip_family: "IPv4" }, 0.002);
  const server = await serveMetrics(denoListen, "127.0.0.1", 0, {
    registry,
    mode: "iptables",
    configz: () => ({}),
  });
  try {
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const scrape = parsePrometheusText(await res.text());
    assert.equal(
      scrape.value("kubeproxy_sync_proxy_rules_duration_seconds_count", { ip_family: "IPv4" }),
      1,
    );
  } finally {
    await server.close();
  }
});
