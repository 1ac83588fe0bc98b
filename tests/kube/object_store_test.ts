import assert from "node:assert/strict";
import { ObjectStore, slimObject } from "../../src/kube/object_store.ts";
import type { KubeObject } from "../../src/kube/resources.ts";

function obj(name: string, rv: string, extra: Record<string, unknown> = {}): KubeObject {
  return { metadata: { namespace: "ns", name, uid: `uid-${name}`, resourceVersion: rv }, ...extra };
}

function summary(changes: ReturnType<ObjectStore<KubeObject>["replace"]>): string[] {
  return changes.map((c) =>
    `${c.type} ${c.object.metadata?.name}@${c.object.metadata?.resourceVersion}`
  );
}

Deno.test("ObjectStore.replace() turns a full LIST into deletes, adds and updates, ignoring unchanged objects", () => {
  const store = new ObjectStore<KubeObject>();
  assert.deepEqual(summary(store.replace([obj("a", "1"), obj("b", "2"), obj("c", "3")])), [
    "add a@1",
    "add b@2",
    "add c@3",
  ]);
  assert.deepEqual(summary(store.replace([obj("c", "3"), obj("b", "9"), obj("d", "4")])), [
    "delete a@1",
    "update b@9",
    "add d@4",
  ]);
  assert.deepEqual(summary(store.replace([obj("b", "9"), obj("c", "3"), obj("d", "4")])), []);
});

Deno.test("ObjectStore.upsert() reports the previous version on update and nothing for a repeat", () => {
  const store = new ObjectStore<KubeObject>();
  store.upsert(obj("a", "1"));
  const change = store.upsert(obj("a", "2"));
  assert.equal(change?.type, "update");
  assert.equal(change?.type === "update" ? change.previous.metadata?.resourceVersion : "", "1");
  assert.equal(store.upsert(obj("a", "2")), null);
  assert.equal(store.remove(obj("zz", "1")), null);
});

Deno.test("ObjectStore compares objects without resourceVersions by content", () => {
  const store = new ObjectStore<KubeObject>();
  const bare = (
    port: number,
  ): KubeObject => ({ metadata: { namespace: "ns", name: "x" }, spec: { port } } as KubeObject);
  store.upsert(bare(80));
  assert.equal(store.upsert(bare(80)), null);
  assert.equal(store.upsert(bare(81))?.type, "update");
});

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
