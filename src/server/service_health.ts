/**
 * Health-check node ports for `externalTrafficPolicy: Local` LoadBalancer Services, as upstream's
 * `ServiceHealthServer` (`pkg/proxy/healthcheck/service_health.go`): one HTTP listener per
 * Service on its `healthCheckNodePort`, answering 200 while this node has local ready endpoints
 * and the proxy is healthy, 503 otherwise, so cloud load balancers only send to nodes that can
 * serve. Listeners open and close as Services come and go.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { cidrContains, ipFamilyOf, type TableSnapshot } from "../model/mod.ts";
import type { HttpServer, ListenFn } from "./listen.ts";

/** What the per-Service answers are built from. */
export interface ServiceHealthOptions {
  readonly listen: ListenFn;
  readonly log: Logger;
  /** The proxy's own health (`ProxyHealth.report().healthy`). */
  readonly proxyHealthy: () => boolean;
  /**
   * The addresses to listen on, evaluated whenever a Service's listener opens: `null` means
   * every address (`nodePortAddresses` unset); see {@linkcode healthCheckAddresses}.
   */
  readonly addresses: () => readonly string[] | null;
}

interface Instance {
  readonly port: number;
  readonly servers: HttpServer[];
  endpoints: number;
}

/** Opens, answers and closes the health-check node ports. */
export class ServiceHealthServer {
  readonly #options: ServiceHealthOptions;
  readonly #services = new Map<string, Instance>();

  /** @param options Listener, logger, proxy health, addresses. */
  constructor(options: ServiceHealthOptions) {
    this.#options = options;
  }

  /** The open listeners: `namespace/name` → port. */
  get services(): ReadonlyMap<string, number> {
    return new Map([...this.#services].map(([k, v]) => [k, v.port]));
  }

  /**
   * Makes the open set equal `ports` (`namespace/name` → health-check node port): closes
   * listeners of Services that went away or changed port, opens new ones. A port that cannot
   * be opened is logged and retried at the next call, as upstream.
   */
  async syncServices(ports: ReadonlyMap<string, number>): Promise<void> {
    for (const [name, instance] of [...this.#services]) {
      if (ports.get(name) === instance.port) continue;
      this.#options.log.info("Closing healthcheck", { service: name, port: instance.port }, 2);
      this.#services.delete(name);
      await closeAll(instance.servers);
    }
    for (const [name, port] of [...ports].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (this.#services.has(name)) continue;
      this.#options.log.info("Opening healthcheck", { service: name, port }, 2);
      const instance: Instance = { port, servers: [], endpoints: 0 };
      try {
        for (const hostname of this.#hostnames()) {
          instance.servers.push(
            await this.#listenOne(hostname, port, this.#handler(name)),
          );
        }
        this.#services.set(name, instance);
      } catch (error) {
        await closeAll(instance.servers);
        this.#options.log.error("Failed to start healthcheck", {
          service: name,
          port,
          err: error instanceof Error ? error.message : String(error),
        });
      }
    }
  }

  /** Sets each open Service's count of local ready endpoints; absent Services get 0. */
  syncEndpoints(counts: ReadonlyMap<string, number>): void {
    for (const [name, instance] of this.#services) instance.endpoints = counts.get(name) ?? 0;
  }

  /** Closes every listener (shutdown). */
  async close(): Promise<void> {
    const all = [...this.#services.values()].flatMap((i) => i.servers);
    this.#services.clear();
    await closeAll(all);
  }

  #hostnames(): string[] {
    const chosen = this.#options.addresses();
    // `::` first: on a dual-stack host one socket serves both families; "0.0.0.0" is the
    // fallback where IPv6 is disabled (see #listenOne).
    return chosen === null ? ["::"] : [...chosen];
  }

  async #listenOne(
    hostname: string,
    port: number,
    handler: (request: Request) => Response,
  ): Promise<HttpServer> {
    try {
      return await this.#options.listen({ hostname, port, handler });
    } catch (error) {
      if (hostname !== "::") throw error;
      return await this.#options.listen({ hostname: "0.0.0.0", port, handler });
    }
  }

  #handler(name: string): (request: Request) => Response {
    const slash = name.indexOf("/");
    const namespace = name.slice(0, slash);
    const serviceName = name.slice(slash + 1);
    return () => {
      const count = this.#services.get(name)?.endpoints ?? 0;
      const healthy = this.#options.proxyHealthy();
      return new Response(serviceHealthBody(namespace, serviceName, count, healthy), {
        status: count !== 0 && healthy ? 200 : 503,
        headers: {
          "Content-Type": "application/json",
          "X-Content-Type-Options": "nosniff",
          "X-Load-Balancing-Endpoint-Weight": String(count),
        },
      });
    };
  }
}

/** The body upstream writes, byte for byte (tab-indented, no trailing newline). */
export function serviceHealthBody(
  namespace: string,
  name: string,
  localEndpoints: number,
  serviceProxyHealthy: boolean,
): string {
  return [
    "{",
    '\t"service": {',
    `\t\t"namespace": ${JSON.stringify(namespace)},`,
    `\t\t"name": ${JSON.stringify(name)}`,
    "\t},",
    `\t"localEndpoints": ${localEndpoints},`,
    `\t"serviceProxyHealthy": ${serviceProxyHealthy}`,
    "}",
  ].join("\n");
}

/** The two maps a sync hands to {@linkcode ServiceHealthServer}. */
export interface HealthChecks {
  /** `namespace/name` → `healthCheckNodePort`, for Services that have one. */
  readonly ports: ReadonlyMap<string, number>;
  /** `namespace/name` → local ready endpoints (the larger of the two families). */
  readonly endpoints: ReadonlyMap<string, number>;
}

/** Pure: which health-check node ports a snapshot asks for, and their endpoint counts. */
export function healthChecksFromSnapshot(snapshot: TableSnapshot): HealthChecks {
  const ports = new Map<string, number>();
  const endpoints = new Map<string, number>();
  for (const view of [snapshot.v4, snapshot.v6]) {
    for (const sp of view.servicePorts) {
      if (sp.healthCheckNodePort === 0) continue;
      ports.set(sp.serviceKey, sp.healthCheckNodePort);
      endpoints.set(
        sp.serviceKey,
        Math.max(endpoints.get(sp.serviceKey) ?? 0, sp.localReadyEndpointCount),
      );
    }
  }
  return { ports, endpoints };
}

/**
 * Pure: the addresses health-check servers listen on, as upstream's
 * `nodePortAddresses.GetNodeIPs`: `null` (every address) when `nodePortAddresses` is empty;
 * otherwise the node's primary IP per family for `primary`, and each local address inside a
 * listed CIDR. When nothing matches the list is empty and nothing listens, as upstream.
 */
export function healthCheckAddresses(
  nodePortAddresses: readonly string[],
  snapshot: TableSnapshot | undefined,
  localAddresses: readonly string[],
): string[] | null {
  if (nodePortAddresses.length === 0) return null;
  const out = new Set<string>();
  for (const entry of nodePortAddresses) {
    if (entry === "primary") {
      for (const ip of [snapshot?.v4.nodeIPs[0], snapshot?.v6.nodeIPs[0]]) {
        if (ip !== undefined) out.add(ip);
      }
      continue;
    }
    for (const ip of localAddresses) {
      if (ipFamilyOf(ip) !== null && cidrContains(entry, ip)) out.add(ip);
    }
  }
  return [...out].sort();
}

/** The real local addresses, on `Deno.networkInterfaces()` (needs `--allow-sys`). */
export function denoLocalAddresses(): string[] {
  try {
    return Deno.networkInterfaces().map((i) => i.address);
  } catch {
    return [];
  }
}

async function closeAll(servers: readonly HttpServer[]): Promise<void> {
  await Promise.allSettled(servers.map((s) => s.close()));
}
