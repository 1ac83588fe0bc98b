/**
 * API objects rebuilt from what the endpoint table kept of them, for the state file. The watcher
 * no longer holds the objects it received (at 10k Services they cost ~30 MiB of heap next to a
 * table that already knows everything kube-proxy reads), so the state file is written from the
 * table instead: each rebuilt object parses back to the very same `ParsedService` /
 * `ParsedSlice`, which is all a restore needs. Parts the table dropped (invalid ports or
 * addresses, labels, unused fields) are not in the state file either. Pure.
 *
 * @module
 */

import type {
  V1Endpoint,
  V1EndpointSlice,
  V1LoadBalancerIngress,
  V1Service,
  V1ServicePort,
} from "@kubernetes/client-node";
import { LABEL_SERVICE_NAME, type ParsedSlice } from "./endpoints.ts";
import { clusterIPOf, type ParsedService, serviceNameOf } from "./service_port.ts";
import type { Endpoint, IPFamily } from "./types.ts";

const FAMILIES: readonly IPFamily[] = ["IPv4", "IPv6"];

/** A Service that `parseService` turns back into `parsed`. */
export function serviceObjectOf(parsed: ParsedService): V1Service {
  const families = FAMILIES.filter((f) => clusterIPOf(parsed, f) !== null);
  const clusterIPs = families.map((f) => clusterIPOf(parsed, f) as string);
  const externalIPs = [...parsed.externalIPs.IPv4, ...parsed.externalIPs.IPv6];
  // eTP Local counts on a ClusterIP Service whose external IPs were all invalid; a blank entry
  // keeps that (the model skips blank external IPs without a warning).
  if (
    externalIPs.length === 0 && parsed.externalPolicyLocal && parsed.serviceType === "ClusterIP"
  ) {
    externalIPs.push("");
  }
  const ingress: V1LoadBalancerIngress[] = [
    ...parsed.loadBalancerVIPs.IPv4,
    ...parsed.loadBalancerVIPs.IPv6,
  ].map((ip) => ({ ip }));
  const sourceRanges = [
    ...parsed.loadBalancerSourceRanges.IPv4,
    ...parsed.loadBalancerSourceRanges.IPv6,
  ];
  const ports: V1ServicePort[] = parsed.ports.map((p) => ({
    ...(p.portName === "" ? {} : { name: p.portName }),
    protocol: p.protocol,
    port: p.port,
    ...(p.nodePort === 0 ? {} : { nodePort: p.nodePort }),
  }));
  return {
    metadata: { namespace: parsed.namespace, name: serviceNameOf(parsed) },
    spec: {
      type: parsed.serviceType,
      clusterIP: clusterIPs[0] ?? "",
      clusterIPs,
      ipFamilies: families,
      ports,
      ...(externalIPs.length === 0 ? {} : { externalIPs }),
      ...(sourceRanges.length === 0 ? {} : { loadBalancerSourceRanges: sourceRanges }),
      ...(parsed.externalPolicyLocal ? { externalTrafficPolicy: "Local" } : {}),
      ...(parsed.internalPolicyLocal ? { internalTrafficPolicy: "Local" } : {}),
      ...(parsed.healthCheckNodePort === 0
        ? {}
        : { healthCheckNodePort: parsed.healthCheckNodePort }),
      ...(parsed.sessionAffinity === null ? {} : {
        sessionAffinity: "ClientIP",
        sessionAffinityConfig: {
          clientIP: { timeoutSeconds: parsed.sessionAffinity.timeoutSeconds },
        },
      }),
    },
    ...(ingress.length === 0 ? {} : { status: { loadBalancer: { ingress } } }),
  };
}

/**
 * An EndpointSlice that `parseEndpointSlice` turns back into `parsed` (for the same node and
 * feature gates). Every port of a slice lists the same endpoints, so they are read from the
 * first port's list; a slice without a valid port keeps none, as it contributes none.
 */
export function sliceObjectOf(parsed: ParsedSlice): V1EndpointSlice {
  const slash = parsed.id.indexOf("/");
  const first: readonly Endpoint[] = parsed.byPort.values().next().value ?? [];
  const endpoints: V1Endpoint[] = [];
  // A port listed twice holds each address once per port number; only then is a set needed.
  // Not otherwise: adding a string made just now (`ep.ip` is cut from `ipPort` when read) to a
  // Set makes V8 keep an internalized copy of it in the old generation and its string table,
  // which at 10k Services grew the heap by ~3 MiB (and the process by ~4 MiB) on every save.
  const seen = first.some((ep) => ep.port !== first[0]?.port) ? new Set<string>() : null;
  for (const ep of first) {
    if (seen !== null) {
      if (seen.has(ep.ip)) continue;
      seen.add(ep.ip);
    }
    endpoints.push(endpointObjectOf(ep));
  }
  return {
    metadata: {
      namespace: parsed.id.slice(0, slash),
      name: parsed.id.slice(slash + 1),
      labels: { [LABEL_SERVICE_NAME]: parsed.serviceKey.slice(slash + 1) },
    },
    addressType: parsed.family,
    ports: parsed.ports.map((p) => ({
      ...(p.portName === "" ? {} : { name: p.portName }),
      protocol: p.protocol,
      port: p.port,
    })),
    endpoints,
  };
}

function endpointObjectOf(ep: Endpoint): V1Endpoint {
  const hints = {
    ...(ep.zoneHints.length === 0 ? {} : { forZones: ep.zoneHints.map((name) => ({ name })) }),
    ...(ep.nodeHints.length === 0 ? {} : { forNodes: ep.nodeHints.map((name) => ({ name })) }),
  };
  return {
    addresses: [ep.ip],
    conditions: { ready: ep.ready, serving: ep.serving, terminating: ep.terminating },
    ...(ep.nodeName === null ? {} : { nodeName: ep.nodeName }),
    ...(ep.zone === null ? {} : { zone: ep.zone }),
    ...(Object.keys(hints).length === 0 ? {} : { hints }),
  };
}
