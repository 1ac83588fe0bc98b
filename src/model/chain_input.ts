/**
 * The exact strings upstream hashes into per-service and per-endpoint chain names, so
 * backends can produce upstream-identical names (reference §2.1):
 * `KUBE-SVC-` + base32(sha256(servicePortChainInput(sp)))[0:16], and
 * `KUBE-SEP-` + base32(sha256(endpointChainInput(sp, ep)))[0:16].
 *
 * @module
 */

import type { Endpoint, ServicePort } from "./types.ts";

/** `ServicePortName.String() + lower(protocol)`, e.g. `ns1/svc1:p80tcp`. */
export function servicePortChainInput(sp: Pick<ServicePort, "key" | "protocol">): string {
  return sp.key + sp.protocol.toLowerCase();
}

/** `ServicePortName.String() + lower(protocol) + Endpoint.String()`, e.g. `ns1/svc1:p80tcp10.180.0.1:80`. */
export function endpointChainInput(
  sp: Pick<ServicePort, "key" | "protocol">,
  ep: Pick<Endpoint, "ipPort">,
): string {
  return servicePortChainInput(sp) + ep.ipPort;
}
