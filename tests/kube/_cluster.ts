/**
 * A small test cluster for the cluster-source tests: Services `ns1/svc<i>` with ClusterIP
 * 172.30.x.y and port p80, each with one EndpointSlice holding a local endpoint 10.180.x.y:8080,
 * and this node's Node.
 *
 * @module
 */

import type { V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import type { FakeApiServer } from "../fixtures/fake_api_server.ts";
import {
  makeEndpoint,
  makeNode,
  makeService,
  makeSlice,
  servicePort,
  setClusterIPs,
  slicePort,
  TEST_NODE_NAME,
} from "../fixtures/k8s_builders.ts";

/** Service `ns1/svc<i>`. */
export function service(i: number): V1Service {
  return makeService("ns1", `svc${i}`, (s) => {
    setClusterIPs(s, `172.30.${i >> 8}.${i & 255}`);
    s.spec.ports = [servicePort("p80", 80)];
  });
}

/** EndpointSlice `ns1/svc<i>-1` with one local endpoint (`ip`, default 10.180.x.y). */
export function slice(i: number, ip = `10.180.${i >> 8}.${i & 255}`): V1EndpointSlice {
  return makeSlice("ns1", `svc${i}`, 1, (es) => {
    es.ports = [slicePort("p80", 8080)];
    es.endpoints = [makeEndpoint(ip, { nodeName: TEST_NODE_NAME })];
  });
}

/** Stores `count` Services with their slices, and this node's Node. */
export function seed(api: FakeApiServer, count: number): void {
  for (let i = 1; i <= count; i++) {
    api.create("services", service(i));
    api.create("endpointslices", slice(i));
  }
  api.create("nodes", makeNode());
}
