/**
 * The proxy's own health, served on `healthzBindAddress` (default `0.0.0.0:10256`) as upstream's
 * `ProxyHealthServer` does (`pkg/proxy/healthcheck/proxy_health.go`, dual-stack version):
 *
 * - a change that needs a sync is *queued* per IP family; a successful sync marks the family
 *   *updated* and clears the queue;
 * - the proxy is unhealthy once any family has a queued change older than the timeout
 *   (`2 × syncPeriod`), so a wedged sync loop fails its liveness probe;
 * - `/livez` answers that alone; `/healthz` is also 503 while this node's Node object is unknown,
 *   being deleted, or tainted `ToBeDeletedByClusterAutoscaler` (so load balancers drain it);
 * - both answer JSON `{"lastUpdated","currentTime",["nodeEligible",]"healthy","status"}` and count
 *   their answers in `kubeproxy_proxy_healthz_total` / `kubeproxy_proxy_livez_total`.
 *
 * @module
 */

import type { IPFamily } from "../model/mod.ts";
import { type HttpServer, type ListenFn, notFound } from "./listen.ts";
import type { Counter } from "./prometheus.ts";

/** The taint the Cluster Autoscaler puts on a node it is about to delete. */
export const TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler";

/** What `/healthz` needs to know about this node's Node object. */
export interface NodeEligibility {
  /** The Node object has been seen (and not deleted). */
  readonly known: boolean;
  /** `metadata.deletionTimestamp` is set. */
  readonly deleting: boolean;
  /** `spec.taints` has a taint with key {@linkcode TO_BE_DELETED_TAINT}. */
  readonly toBeDeletedTaint: boolean;
}

/** One family's state in the JSON body. */
export interface FamilyHealth {
  /** Unix ms of the family's last successful sync (or of start-up). */
  readonly lastUpdated: number;
  readonly healthy: boolean;
}

/** The proxy's health at one instant. */
export interface HealthReport {
  /** The most recent `lastUpdated` of any family; 0 (Go's zero time) when none. */
  readonly lastUpdated: number;
  /** Unix ms when the report was made. */
  readonly currentTime: number;
  /** True when every family is healthy. */
  readonly healthy: boolean;
  /** Per family, only families that have been marked updated at least once. */
  readonly status: ReadonlyMap<IPFamily, FamilyHealth>;
}

/** What {@linkcode ProxyHealth} is built from. */
export interface ProxyHealthOptions {
  /** Unix ms. */
  readonly now: () => number;
  /** A queued change older than this makes the proxy unhealthy (upstream: 2 × syncPeriod). */
  readonly healthTimeoutMs: number;
  /** This node's Node object as last seen. */
  readonly node: () => NodeEligibility;
}

/** Tracks queued and completed syncs per family. */
export class ProxyHealth {
  readonly #options: ProxyHealthOptions;
  readonly #lastUpdated = new Map<IPFamily, number>();
  readonly #oldestQueued = new Map<IPFamily, number>();

  /** @param options Clock, timeout, node state. */
  constructor(options: ProxyHealthOptions) {
    this.#options = options;
  }

  /** A change for `family` arrived that a sync must still apply; keeps the oldest time. */
  queuedUpdate(family: IPFamily): void {
    if (!this.#oldestQueued.has(family)) this.#oldestQueued.set(family, this.#options.now());
  }

  /** `family`'s rules now reflect everything queued (a successful sync, or start-up). */
  updated(family: IPFamily): void {
    this.#oldestQueued.delete(family);
    this.#lastUpdated.set(family, this.#options.now());
  }

  /** Health without node eligibility (what `/livez` and the service health checks use). */
  report(): HealthReport {
    const now = this.#options.now();
    let lastUpdated = 0;
    let healthy = true;
    const status = new Map<IPFamily, FamilyHealth>();
    for (const [family, updatedAt] of [...this.#lastUpdated].sort()) {
      lastUpdated = Math.max(lastUpdated, updatedAt);
      const queuedAt = this.#oldestQueued.get(family);
      const familyHealthy = queuedAt === undefined ||
        now - queuedAt < this.#options.healthTimeoutMs;
      if (!familyHealthy) healthy = false;
      status.set(family, { lastUpdated: updatedAt, healthy: familyHealthy });
    }
    return { lastUpdated, currentTime: now, healthy, status };
  }

  /** True unless the Node is unknown, being deleted, or tainted for deletion. */
  nodeEligible(): boolean {
    const node = this.#options.node();
    return node.known && !node.deleting && !node.toBeDeletedTaint;
  }
}

/** The counters the handlers increment; omit to count nothing. */
export interface HealthCounters {
  readonly healthz?: Counter;
  readonly livez?: Counter;
}

/** The `/healthz` + `/livez` mux of the healthz server; other paths are 404. */
export function healthzHandler(
  health: ProxyHealth,
  counters: HealthCounters = {},
): (request: Request) => Response {
  return (request) => {
    const path = new URL(request.url).pathname;
    if (path !== "/healthz" && path !== "/livez") return notFound();
    const report = health.report();
    const withNode = path === "/healthz";
    const eligible = withNode ? health.nodeEligible() : true;
    const healthy = report.healthy && eligible;
    const code = healthy ? 200 : 503;
    (withNode ? counters.healthz : counters.livez)?.inc({ code: String(code) });
    return new Response(healthBody(report, withNode ? eligible : undefined, healthy), {
      status: code,
      headers: { "Content-Type": "application/json", "X-Content-Type-Options": "nosniff" },
    });
  };
}

/**
 * The JSON body, field for field as upstream marshals `ProxyHealth`. When healthy,
 * `lastUpdated` is the current time (upstream keeps that old meaning for compatibility).
 */
export function healthBody(
  report: HealthReport,
  nodeEligible: boolean | undefined,
  healthy: boolean,
): string {
  const body: Record<string, unknown> = {
    lastUpdated: formatGoTime(healthy ? report.currentTime : report.lastUpdated),
    currentTime: formatGoTime(report.currentTime),
  };
  if (nodeEligible !== undefined) body.nodeEligible = nodeEligible;
  body.healthy = report.healthy;
  if (report.status.size > 0) {
    const status: Record<string, unknown> = {};
    for (const [family, h] of report.status) {
      status[family] = { lastUpdated: formatGoTime(h.lastUpdated), healthy: h.healthy };
    }
    body.status = status;
  }
  return JSON.stringify(body);
}

/**
 * A Unix-ms time as Go's `time.Time` JSON (RFC 3339 in UTC, trailing fractional zeros
 * dropped); 0 is Go's zero time `0001-01-01T00:00:00Z`.
 */
export function formatGoTime(ms: number): string {
  if (ms === 0) return "0001-01-01T00:00:00Z";
  return new Date(ms).toISOString().replace(/\.?0+Z$/, "Z");
}

/** Starts the healthz server. */
export function serveHealthz(
  listen: ListenFn,
  hostname: string,
  port: number,
  health: ProxyHealth,
  counters: HealthCounters = {},
): Promise<HttpServer> {
  return listen({ hostname, port, handler: healthzHandler(health, counters) });
}
