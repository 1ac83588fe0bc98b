/**
 * A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text
 * exposition format (version 0.0.4) the way Go's client_golang renders it, so scrapers and
 * dashboards built for upstream kube-proxy read ours unchanged (families sorted by name, series
 * sorted by label values, floats in Go's shortest `%g` form, `+Inf` for the last bucket).
 *
 * @module
 */

/** Label values by label name. */
export type Labels = Readonly<Record<string, string>>;

/** What every metric is declared with. */
export interface MetricOptions {
  /** The full name, e.g. `kubeproxy_sync_proxy_rules_duration_seconds`. */
  readonly name: string;
  readonly help: string;
  /** Label names, in upstream's declaration order. */
  readonly labelNames?: readonly string[];
  /**
   * component-base's stability level; it prefixes HELP with `[ALPHA] ` as upstream's output
   * does. Leave unset for metrics that are not component-base ones (process_*, ours).
   */
  readonly stability?: "ALPHA" | "BETA" | "STABLE";
}

/** A histogram's declaration. */
export interface HistogramOptions extends MetricOptions {
  /** Upper bounds, ascending; `+Inf` is implicit. */
  readonly buckets: readonly number[];
}

/** The content type of {@linkcode MetricsRegistry.render}'s output. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** A metric declared with labels that were not all given (a programming error). */
export class MetricLabelError extends Error {
  /**
   * @param metric The metric's name.
   * @param expected The declared label names.
   * @param got The label names passed.
   */
  constructor(metric: string, expected: readonly string[], got: readonly string[]) {
    super(
      `Metric ${JSON.stringify(metric)} takes labels [${expected.join(", ")}], got [${
        got.join(", ")
      }]`,
    );
    this.name = "MetricLabelError";
  }
}

type MetricType = "counter" | "gauge" | "histogram";

abstract class Family<V> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly series = new Map<string, { labels: readonly string[]; value: V }>();

  constructor(options: MetricOptions, readonly type: MetricType) {
    this.name = options.name;
    this.help = options.stability === undefined
      ? options.help
      : `[${options.stability}] ${options.help}`;
    this.labelNames = options.labelNames ?? [];
  }

  protected entry(labels: Labels, init: () => V): { labels: readonly string[]; value: V } {
    const given = Object.keys(labels);
    if (
      given.length !== this.labelNames.length || !this.labelNames.every((n) => n in labels)
    ) {
      throw new MetricLabelError(this.name, this.labelNames, given);
    }
    const values = this.labelNames.map((n) => labels[n] ?? "");
    const key = values.join("\u0000");
    let found = this.series.get(key);
    if (found === undefined) {
      found = { labels: values, value: init() };
      this.series.set(key, found);
    }
    return found;
  }

  /** Sample lines of this family, without HELP/TYPE. */
  abstract lines(): string[];

  /** Sorted series; an unlabelled metric always has its one series (Go's plain metrics). */
  protected sortedSeries(init: () => V): { labels: readonly string[]; value: V }[] {
    if (this.labelNames.length === 0 && this.series.size === 0) this.entry({}, init);
    return [...this.series.values()].sort((a, b) => compareLabelValues(a.labels, b.labels));
  }

  protected labelText(values: readonly string[], extra?: [string, string]): string {
    const pairs = this.labelNames.map((n, i) => [n, values[i] ?? ""] as [string, string]);
    if (extra !== undefined) pairs.push(extra);
    if (pairs.length === 0) return "";
    return `{${pairs.map(([n, v]) => `${n}="${escapeLabelValue(v)}"`).join(",")}}`;
  }
}

/** A monotonically increasing count. */
export class Counter extends Family<number> {
  /** @param options Name, help, labels. */
  constructor(options: MetricOptions) {
    super(options, "counter");
  }

  /** Adds `by` (default 1) to the series with these labels. */
  inc(labels: Labels = {}, by = 1): void {
    this.entry(labels, () => 0).value += by;
  }

  /**
   * Replaces the total, for counters kept by someone else (the kernel's CPU time) and read at
   * scrape time.
   */
  setTotal(labels: Labels, total: number): void {
    this.entry(labels, () => 0).value = total;
  }

  /** The current value (0 for a series never incremented). */
  get(labels: Labels = {}): number {
    return this.entry(labels, () => 0).value;
  }

  /** Sample lines. */
  lines(): string[] {
    return this.sortedSeries(() => 0).map((s) =>
      `${this.name}${this.labelText(s.labels)} ${formatGoFloat(s.value)}`
    );
  }
}

/** A value that goes up and down. */
export class Gauge extends Family<number> {
  /** @param options Name, help, labels. */
  constructor(options: MetricOptions) {
    super(options, "gauge");
  }

  /** Sets the series with these labels. */
  set(labels: Labels, value: number): void {
    this.entry(labels, () => 0).value = value;
  }

  /** The current value (0 for a series never set). */
  get(labels: Labels = {}): number {
    return this.entry(labels, () => 0).value;
  }

  /** Sample lines. */
  lines(): string[] {
    return this.sortedSeries(() => 0).map((s) =>
      `${this.name}${this.labelText(s.labels)} ${formatGoFloat(s.value)}`
    );
  }
}

interface HistogramValue {
  readonly counts: number[];
  sum: number;
  count: number;
}

/** Observations counted into cumulative buckets. */
export class Histogram extends Family<HistogramValue> {
  readonly buckets: readonly number[];

  /** @param options Name, help, labels, bucket bounds. */
  constructor(options: HistogramOptions) {
    super(options, "histogram");
    this.buckets = [...options.buckets];
  }

  #init = (): HistogramValue => ({ counts: this.buckets.map(() => 0), sum: 0, count: 0 });

  /** Records one observation in the series with these labels. */
  observe(labels: Labels, value: number): void {
    const v = this.entry(labels, this.#init).value;
    for (let i = 0; i < this.buckets.length; i++) {
      if (value <= (this.buckets[i] ?? Infinity)) v.counts[i] = (v.counts[i] ?? 0) + 1;
    }
    v.sum += value;
    v.count++;
  }

  /** The number of observations in the series with these labels. */
  count(labels: Labels = {}): number {
    return this.entry(labels, this.#init).value.count;
  }

  /** Sample lines. */
  lines(): string[] {
    const out: string[] = [];
    for (const s of this.sortedSeries(this.#init)) {
      this.buckets.forEach((bound, i) => {
        out.push(
          `${this.name}_bucket${this.labelText(s.labels, ["le", formatGoFloat(bound)])} ${
            formatGoFloat(s.value.counts[i] ?? 0)
          }`,
        );
      });
      out.push(
        `${this.name}_bucket${this.labelText(s.labels, ["le", "+Inf"])} ${
          formatGoFloat(s.value.count)
        }`,
      );
      out.push(`${this.name}_sum${this.labelText(s.labels)} ${formatGoFloat(s.value.sum)}`);
      out.push(`${this.name}_count${this.labelText(s.labels)} ${formatGoFloat(s.value.count)}`);
    }
    return out;
  }
}

/** A name used twice in one registry (a programming error). */
export class DuplicateMetricError extends Error {
  /** @param metric The duplicated name. */
  constructor(metric: string) {
    super(`Metric ${JSON.stringify(metric)} is registered twice`);
    this.name = "DuplicateMetricError";
  }
}

/** Holds metric families and renders them. No module-level state: make one per process. */
export class MetricsRegistry {
  readonly #families = new Map<string, Family<unknown>>();
  readonly #collectors: (() => void)[] = [];

  /** Declares a counter. */
  counter(options: MetricOptions): Counter {
    return this.#add(new Counter(options));
  }

  /** Declares a gauge. */
  gauge(options: MetricOptions): Gauge {
    return this.#add(new Gauge(options));
  }

  /** Declares a histogram. */
  histogram(options: HistogramOptions): Histogram {
    return this.#add(new Histogram(options));
  }

  /** Runs `refresh` before every render, to update gauges read at scrape time. */
  onCollect(refresh: () => void): void {
    this.#collectors.push(refresh);
  }

  /** The names of every declared family, sorted. */
  names(): string[] {
    return [...this.#families.keys()].sort();
  }

  /**
   * The text exposition of every family that has samples, sorted by name. Labelled families
   * with no series yet are left out, as client_golang does.
   */
  render(): string {
    for (const refresh of this.#collectors) refresh();
    const out: string[] = [];
    for (const name of this.names()) {
      const family = this.#families.get(name);
      if (family === undefined) continue;
      const lines = family.lines();
      if (lines.length === 0) continue;
      out.push(`# HELP ${name} ${escapeHelp(family.help)}`);
      out.push(`# TYPE ${name} ${family.type}`);
      out.push(...lines);
    }
    return out.length === 0 ? "" : out.join("\n") + "\n";
  }

  #add<F extends Family<unknown>>(family: F): F {
    if (this.#families.has(family.name)) throw new DuplicateMetricError(family.name);
    this.#families.set(family.name, family as unknown as Family<unknown>);
    return family;
  }
}

/**
 * A number as Go's `strconv.FormatFloat(v, 'g', -1, 64)` writes it (client_golang's format):
 * the shortest round-trip digits, exponent form below 1e-4 and from 1e6 up (`1.048576e+06`).
 */
export function formatGoFloat(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  if (value === 0) return Object.is(value, -0) ? "-0" : "0";
  const [mantissa = "", exponentText = "0"] = value.toExponential().split("e");
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 6) {
    const sign = exponent < 0 ? "-" : "+";
    return `${mantissa}e${sign}${String(Math.abs(exponent)).padStart(2, "0")}`;
  }
  return String(value);
}

/** The `le` bounds of Prometheus' `ExponentialBuckets(start, factor, count)`. */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  const out: number[] = [];
  let next = start;
  for (let i = 0; i < count; i++) {
    out.push(next);
    next *= factor;
  }
  return out;
}

/** The `le` bounds of Prometheus' `LinearBuckets(start, width, count)`. */
export function linearBuckets(start: number, width: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + i * width);
}

function compareLabelValues(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i] ?? "";
    const y = b[i] ?? "";
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

function escapeLabelValue(v: string): string {
  return v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');
}

function escapeHelp(v: string): string {
  return v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}
