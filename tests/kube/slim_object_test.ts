import assert from "node:assert/strict";
import { slimObject } from "../../src/kube/slim_object.ts";

Deno.test("slimObject() drops managedFields and a Node's image list, and nothing else", () => {
  const node = {
    metadata: { name: "n", managedFields: [{ manager: "kubelet" }], labels: { a: "b" } },
    status: {
      images: [{ names: ["x"] }],
      addresses: [{ type: "InternalIP", address: "192.168.0.2" }],
    },
  };
  assert.deepEqual(slimObject(node), {
    metadata: { name: "n", labels: { a: "b" } },
    status: { addresses: [{ type: "InternalIP", address: "192.168.0.2" }] },
  });
  const plain = { metadata: { name: "s" } };
  assert.equal(slimObject(plain), plain);
});

Deno.test("slimObject() drops annotations, owner references and endpoints' targetRef, keeping what the model reads", () => {
  const slice = {
    metadata: {
      name: "web-abcde",
      namespace: "default",
      uid: "u1",
      resourceVersion: "7",
      labels: { "kubernetes.io/service-name": "web" },
      annotations: { "endpoints.kubernetes.io/last-change-trigger-time": "2026-11-26T09:00:00Z" },
      ownerReferences: [{ apiVersion: "v1", kind: "Service", name: "web", uid: "s1" }],
    },
    addressType: "IPv4",
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    endpoints: [
      {
        addresses: ["10.0.0.1"],
        conditions: { ready: true },
        nodeName: "node-1",
        targetRef: { kind: "Pod", namespace: "default", name: "web-1", uid: "p1" },
      },
      { addresses: ["10.0.0.2"], conditions: { ready: false }, zone: "z" },
    ],
  };
  assert.deepEqual(slimObject(slice), {
    metadata: {
      name: "web-abcde",
      namespace: "default",
      uid: "u1",
      resourceVersion: "7",
      labels: { "kubernetes.io/service-name": "web" },
    },
    addressType: "IPv4",
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    endpoints: [
      { addresses: ["10.0.0.1"], conditions: { ready: true }, nodeName: "node-1" },
      { addresses: ["10.0.0.2"], conditions: { ready: false }, zone: "z" },
    ],
  });
  // The input is not modified: the watcher may still hold it.
  assert.equal(slice.endpoints[0]?.targetRef?.name, "web-1");
});
