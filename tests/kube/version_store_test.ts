import assert from "node:assert/strict";
import type { KubeObject } from "../../src/kube/resources.ts";
import { type StoreChange, VersionStore } from "../../src/kube/version_store.ts";

function obj(name: string, rv: string, extra: Record<string, unknown> = {}): KubeObject {
  return { metadata: { namespace: "ns", name, uid: `uid-${name}`, resourceVersion: rv }, ...extra };
}

function summary(changes: readonly StoreChange<KubeObject>[]): string[] {
  return changes.map((c) =>
    `${c.type} ${c.object.metadata?.name}@${c.object.metadata?.resourceVersion}`
  );
}

Deno.test("VersionStore.replace() turns a full LIST into adds, updates and then deletes, ignoring unchanged objects", () => {
  const store = new VersionStore<KubeObject>();
  assert.deepEqual(summary(store.replace([obj("b", "2"), obj("a", "1"), obj("c", "3")])), [
    "add a@1",
    "add b@2",
    "add c@3",
  ]);
  assert.deepEqual(summary(store.replace([obj("c", "3"), obj("b", "9"), obj("d", "4")])), [
    "update b@9",
    "add d@4",
    "delete a@1",
  ]);
  assert.deepEqual(summary(store.replace([obj("b", "9"), obj("c", "3"), obj("d", "4")])), []);
  assert.deepEqual([...store.keys()].sort(), ["ns/b", "ns/c", "ns/d"]);
});

Deno.test("VersionStore.startList() applies pages as they come and deletes only when the LIST finishes", () => {
  const store = new VersionStore<KubeObject>();
  store.replace([obj("a", "1"), obj("b", "1"), obj("c", "1")]);
  const list = store.startList();
  assert.deepEqual(summary(list.page([obj("a", "1"), obj("b", "2")])), ["update b@2"]);
  assert.equal(store.size, 3, "c stays until the LIST is complete");
  assert.deepEqual(summary(list.page([obj("d", "1")])), ["add d@1"]);
  assert.deepEqual(summary(list.finish()), ["delete c@1"]);
  // An abandoned LIST deletes nothing.
  const abandoned = store.startList();
  abandoned.page([obj("a", "1")]);
  assert.deepEqual([...store.keys()].sort(), ["ns/a", "ns/b", "ns/d"]);
});

Deno.test("VersionStore.upsert() reports the previous version on update and nothing for a repeat", () => {
  const store = new VersionStore<KubeObject>();
  store.upsert(obj("a", "1", { spec: { big: "x".repeat(100) } }));
  const change = store.upsert(obj("a", "2"));
  assert.equal(change?.type, "update");
  // Only the identity is kept, not the object.
  assert.deepEqual(change?.type === "update" ? change.previous : null, {
    metadata: { namespace: "ns", name: "a", uid: "uid-a", resourceVersion: "1" },
  });
  assert.equal(store.upsert(obj("a", "2")), null);
  assert.equal(store.remove(obj("zz", "1")), null);
  assert.deepEqual(summary([store.remove(obj("a", "5")) as StoreChange<KubeObject>]), [
    "delete a@2",
  ]);
});

Deno.test("VersionStore compares objects without resourceVersions by content", () => {
  const store = new VersionStore<KubeObject>();
  const bare = (
    port: number,
  ): KubeObject => ({ metadata: { namespace: "ns", name: "x" }, spec: { port } } as KubeObject);
  store.upsert(bare(80));
  assert.equal(store.upsert(bare(80)), null);
  assert.equal(store.upsert(bare(81))?.type, "update");
  assert.deepEqual(store.version("ns/x"), { uid: "", resourceVersion: "" });
});

Deno.test("VersionStore keys cluster-scoped objects by name", () => {
  const store = new VersionStore<KubeObject>();
  store.upsert({ metadata: { name: "node-1", uid: "u", resourceVersion: "3" } });
  assert.deepEqual(store.version("node-1"), { uid: "u", resourceVersion: "3" });
  const change = store.remove({ metadata: { name: "node-1" } });
  assert.deepEqual(change?.object, {
    metadata: { name: "node-1", uid: "u", resourceVersion: "3" },
  });
});

Deno.test("VersionStore keeps API server uids compactly and gives them back exactly", () => {
  const store = new VersionStore<KubeObject>();
  const uid = "0f8e2c1a-9b3d-4e5f-a6b7-c8d9e0f1a2b3";
  const withUid = (u: string, rv: string): KubeObject => ({
    metadata: { namespace: "ns", name: "a", uid: u, resourceVersion: rv },
  });
  assert.equal(store.upsert(withUid(uid, "123456789"))?.type, "add");
  assert.deepEqual(store.version("ns/a"), { uid, resourceVersion: "123456789" });
  assert.equal(store.upsert(withUid(uid, "123456789")), null, "the same version again");
  // The same resourceVersion under another uid (a state file from another cluster) is a change.
  const other = "ff000000-0000-4000-8000-000000000001";
  const change = store.upsert(withUid(other, "123456789"));
  assert.equal(change?.type, "update");
  assert.deepEqual(change?.type === "update" ? change.previous.metadata : null, {
    namespace: "ns",
    name: "a",
    uid,
    resourceVersion: "123456789",
  });
  assert.deepEqual(store.version("ns/a"), { uid: other, resourceVersion: "123456789" });
  // Anything else (upper case, another shape) is kept as it came.
  for (const odd of ["0F8E2C1A-9B3D-4E5F-A6B7-C8D9E0F1A2B3", "uid-1", "\u0002x", ""]) {
    store.upsert(withUid(odd, "7"));
    assert.deepEqual(store.version("ns/a"), { uid: odd, resourceVersion: "7" }, odd);
  }
});
