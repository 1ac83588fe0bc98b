/**
 * Structural equality of model objects: how the table decides that a recomputed service port
 * is "the same" as the committed one, so flaps cost nothing and unchanged objects are reused.
 *
 * @module
 */

import { sameAddress } from "./endpoints.ts";
import { sameStrings } from "./node.ts";
import type { Endpoint, ServicePort } from "./types.ts";

/**
 * Every field of two endpoints is equal (`ipPort` holds `ip` and `port`, so they are not compared
 * apart).
 */
export function endpointEqual(a: Endpoint, b: Endpoint): boolean {
  return a === b || (
    sameAddress(a, b) && a.isLocal === b.isLocal &&
    a.ready === b.ready && a.serving === b.serving && a.terminating === b.terminating &&
    a.nodeName === b.nodeName && a.zone === b.zone && sameStrings(a.zoneHints, b.zoneHints) &&
    sameStrings(a.nodeHints, b.nodeHints)
  );
}

function sameEndpoints(a: readonly Endpoint[], b: readonly Endpoint[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined || y === undefined || !endpointEqual(x, y)) return false;
  }
  return true;
}

// Sub-lists hold members of `endpoints`, already compared field by field.
function sameAddresses(a: readonly Endpoint[], b: readonly Endpoint[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined || y === undefined || !sameAddress(x, y)) return false;
  }
  return true;
}

/** Every field of two service ports is equal, endpoints included. */
export function servicePortEqual(a: ServicePort, b: ServicePort): boolean {
  if (a === b) return true;
  return a.id === b.id && a.key === b.key && a.serviceKey === b.serviceKey &&
    a.namespace === b.namespace && a.name === b.name && a.portName === b.portName &&
    a.protocol === b.protocol && a.family === b.family && a.serviceType === b.serviceType &&
    a.clusterIP === b.clusterIP && a.port === b.port && a.nodePort === b.nodePort &&
    sameStrings(a.externalIPs, b.externalIPs) &&
    sameStrings(a.loadBalancerVIPs, b.loadBalancerVIPs) &&
    sameStrings(a.loadBalancerSourceRanges, b.loadBalancerSourceRanges) &&
    a.healthCheckNodePort === b.healthCheckNodePort &&
    a.sessionAffinity?.timeoutSeconds === b.sessionAffinity?.timeoutSeconds &&
    a.internalPolicyLocal === b.internalPolicyLocal &&
    a.externalPolicyLocal === b.externalPolicyLocal &&
    a.externallyAccessible === b.externallyAccessible &&
    a.usesClusterEndpoints === b.usesClusterEndpoints &&
    a.usesLocalEndpoints === b.usesLocalEndpoints && a.topologyMode === b.topologyMode &&
    a.hasAnyEndpoints === b.hasAnyEndpoints && a.hasInternalEndpoints === b.hasInternalEndpoints &&
    a.hasExternalEndpoints === b.hasExternalEndpoints &&
    a.localReadyEndpointCount === b.localReadyEndpointCount &&
    sameEndpoints(a.endpoints, b.endpoints) &&
    sameAddresses(a.clusterEndpoints, b.clusterEndpoints) &&
    sameAddresses(a.localEndpoints, b.localEndpoints) &&
    sameAddresses(a.allReachableEndpoints, b.allReachableEndpoints);
}
