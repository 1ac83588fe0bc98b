import assert from "node:assert/strict";
import {
  DuplicateMetricError,
  exponentialBuckets,
  formatGoFloat,
  MetricLabelError,
  MetricsRegistry,
} from "../../src/server/prometheus.ts";

Deno.test("formatGoFloat() writes numbers as Go's client_golang does", () => {
  const cases: [number, string][] = [
    [0, "0"],
    [1, "1"],
    [131072, "131072"],
    [1048576, "1.048576e+06"],
    [1.7356896e9, "1.7356896e+09"],
    [0.001, "0.001"],
    [0.0001, "0.0001"],
    [0.00001, "1e-05"],
    [16.384, "16.384"],
    [Infinity, "+Inf"],
    [-Infinity, "-Inf"],
    [NaN, "NaN"],
    [-2.5, "-2.5"],
  ];
  for (const [value, text] of cases) assert.equal(formatGoFloat(value), text, String(value));
});

Deno.test("exponentialBuckets() gives upstream's sync-duration bounds", () => {
  assert.deepEqual(exponentialBuckets(0.001, 2, 15).map(formatGoFloat), [
    "0.001",
    "0.002",
    "0.004",
    "0.008",
    "0.016",
    "0.032",
    "0.064",
    "0.128",
    "0.256",
    "0.512",
    "1.024",
    "2.048",
    "4.096",
    "8.192",
    "16.384",
  ]);
});

Deno.test("MetricsRegistry.render() writes the text format: HELP, TYPE, sorted families and series", () => {
  const r = new MetricsRegistry();
  const c = r.counter({
    name: "b_total",
    help: "B things",
    labelNames: ["code"],
    stability: "ALPHA",
  });
  const g = r.gauge({ name: "a_gauge", help: "An \\ odd\nhelp" });
  const h = r.histogram({
    name: "c_seconds",
    help: "C latency",
    labelNames: ["ip_family"],
    buckets: [0.1, 1],
  });
  c.inc({ code: "503" });
  c.inc({ code: "200" }, 2);
  g.set({}, 1.5);
  h.observe({ ip_family: "IPv4" }, 0.05);
  h.observe({ ip_family: "IPv4" }, 0.5);
  h.observe({ ip_family: "IPv4" }, 5);
  assert.equal(
    r.render(),
    [
      "# HELP a_gauge An \\\\ odd\\nhelp",
      "# TYPE a_gauge gauge",
      "a_gauge 1.5",
      "# HELP b_total [ALPHA] B things",
      "# TYPE b_total counter",
      'b_total{code="200"} 2',
      'b_total{code="503"} 1',
      "# HELP c_seconds C latency",
      "# TYPE c_seconds histogram",
      'c_seconds_bucket{ip_family="IPv4",le="0.1"} 1',
      'c_seconds_bucket{ip_family="IPv4",le="1"} 2',
      'c_seconds_bucket{ip_family="IPv4",le="+Inf"} 3',
      'c_seconds_sum{ip_family="IPv4"} 5.55',
      'c_seconds_count{ip_family="IPv4"} 3',
      "",
    ].join("\n"),
  );
});

Deno.test("MetricsRegistry.render() leaves out labelled families with no series and shows unlabelled ones as 0", () => {
  const r = new MetricsRegistry();
  r.counter({ name: "x_total", help: "x", labelNames: ["code"] });
  r.counter({ name: "y_total", help: "y" });
  assert.equal(r.render(), "# HELP y_total y\n# TYPE y_total counter\ny_total 0\n");
});

Deno.test("MetricsRegistry escapes label values", () => {
  const r = new MetricsRegistry();
  r.gauge({ name: "g", help: "g", labelNames: ["v"] }).set({ v: 'a"b\\c\nd' }, 1);
  assert.match(r.render(), /^g\{v="a\\"b\\\\c\\nd"\} 1$/m);
});

Deno.test("MetricsRegistry rejects wrong label sets and duplicate names", () => {
  const r = new MetricsRegistry();
  const c = r.counter({ name: "x_total", help: "x", labelNames: ["code"] });
  assert.throws(() => c.inc({ cod: "200" }), MetricLabelError);
  assert.throws(() => c.inc(), MetricLabelError);
  assert.throws(() => r.gauge({ name: "x_total", help: "again" }), DuplicateMetricError);
});

Deno.test("MetricsRegistry.onCollect() refreshes values before each render", () => {
  const r = new MetricsRegistry();
  const g = r.gauge({ name: "up", help: "up" });
  let value = 0;
  r.onCollect(() => g.set({}, ++value));
  assert.match(r.render(), /^up 1$/m);
  assert.match(r.render(), /^up 2$/m);
});
