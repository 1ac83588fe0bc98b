import assert from "node:assert/strict";
import {
  type ClusterState,
  decodeState,
  DENO_STATE_FS,
  encodeState,
  encodeStateChunks,
  readStateFile,
  STATE_CHUNK_CHARS,
  StateFileError,
  writeStateFile,
} from "../../src/state/mod.ts";
import { makeNode, makeService, makeSlice, TEST_NODE_NAME } from "../fixtures/k8s_builders.ts";
import { MemoryFiles } from "../fixtures/memory_files.ts";

const STATE: ClusterState = {
  nodeName: TEST_NODE_NAME,
  savedAt: "2026-01-01T00:00:00.000Z",
  services: [makeService("ns2", "b"), makeService("ns1", "z"), makeService("ns1", "a")],
  endpointSlices: [makeSlice("ns1", "a", 1)],
  node: makeNode(),
};

Deno.test("encodeState() is deterministic, sorts objects by namespace/name and round-trips through decodeState()", () => {
  const text = encodeState(STATE);
  assert.equal(text, encodeState({ ...STATE, services: [...STATE.services].reverse() }));
  const back = decodeState(text, "state.json");
  assert.deepEqual(back.services.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`), [
    "ns1/a",
    "ns1/z",
    "ns2/b",
  ]);
  assert.deepEqual(back.endpointSlices, STATE.endpointSlices);
  assert.deepEqual(back.node, STATE.node);
  assert.equal(back.nodeName, TEST_NODE_NAME);
  assert.ok(text.startsWith('{"kind":"DenoKubeProxyState","formatVersion":1,'));
});

Deno.test("decodeState() rejects corrupt, truncated and foreign files with a message naming the problem", () => {
  const good = JSON.parse(encodeState(STATE));
  const cases: [string, string][] = [
    ["", 'State file "s.json" is empty'],
    [
      encodeState(STATE).slice(0, 50),
      'State file "s.json" is not valid JSON (corrupt or truncated)',
    ],
    ["[]", 'State file "s.json": not a JSON object'],
    [
      JSON.stringify({ ...good, kind: "Other" }),
      'State file "s.json": kind is "Other", expected "DenoKubeProxyState"',
    ],
    [
      JSON.stringify({ ...good, formatVersion: 2 }),
      'State file "s.json": format version 2 is not supported (this build reads version 1)',
    ],
    [JSON.stringify({ ...good, services: {} }), 'State file "s.json": services is not a list'],
    [
      JSON.stringify({ ...good, endpointSlices: [{ metadata: {} }] }),
      'State file "s.json": endpointSlices[0] is not an object with metadata.name',
    ],
    [
      JSON.stringify({ ...good, node: 7 }),
      'State file "s.json": node is not an object with metadata.name',
    ],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => decodeState(text, "s.json"), new StateFileError(message));
  }
});

Deno.test("readStateFile() says when the file does not exist or cannot be read", async () => {
  const files = new MemoryFiles();
  await assert.rejects(
    readStateFile("/var/lib/kube-proxy/state.json", files),
    new StateFileError('State file "/var/lib/kube-proxy/state.json" does not exist'),
  );
  files.fail("readTextFile", new Deno.errors.PermissionDenied("Permission denied (os error 13)"));
  await assert.rejects(
    readStateFile("/var/lib/kube-proxy/state.json", files),
    new StateFileError(
      'State file "/var/lib/kube-proxy/state.json" cannot be read: Permission denied (os error 13)',
    ),
  );
});

Deno.test("writeStateFile() writes a temp file in the same directory, then renames it over the old one", async () => {
  const files = new MemoryFiles({ "/var/lib/kube-proxy/state.json": "old" });
  await writeStateFile("/var/lib/kube-proxy/state.json", "new", files);
  assert.deepEqual(files.log, [
    "mkdir /var/lib/kube-proxy",
    "write /var/lib/kube-proxy/.state.json.tmp",
    "rename /var/lib/kube-proxy/.state.json.tmp /var/lib/kube-proxy/state.json",
  ]);
  assert.deepEqual([...files.files], [["/var/lib/kube-proxy/state.json", "new"]]);
});

Deno.test("writeStateFile() leaves the old file intact and removes the temp file when the disk is full", async () => {
  const files = new MemoryFiles({ "/var/lib/kube-proxy/state.json": "old" });
  files.fail("writeSynced", new Error("No space left on device (os error 28)"));
  await assert.rejects(
    writeStateFile("/var/lib/kube-proxy/state.json", "new", files),
    new StateFileError(
      'Cannot write state file "/var/lib/kube-proxy/state.json": No space left on device (os error 28)',
    ),
  );
  assert.deepEqual([...files.files], [["/var/lib/kube-proxy/state.json", "old"]]);
  assert.equal(files.log.at(-1), "remove /var/lib/kube-proxy/.state.json.tmp");
});

Deno.test("writeStateFile() with the real file system creates the directory and a 0600 file, leaving no temp file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "state_file_test_" });
  try {
    const path = `${dir}/sub/state.json`;
    await writeStateFile(path, encodeState(STATE), DENO_STATE_FS);
    await writeStateFile(path, encodeState({ ...STATE, services: [] }), DENO_STATE_FS);
    const back = await readStateFile(path, DENO_STATE_FS);
    assert.deepEqual(back.services, []);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const names = [];
    for await (const entry of Deno.readDir(`${dir}/sub`)) names.push(entry.name);
    assert.deepEqual(names, ["state.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("encodeStateChunks() writes the same bytes as one JSON document, in bounded chunks", () => {
  const many = {
    ...STATE,
    services: Array.from(
      { length: 3000 },
      (_, i) => makeService("ns", `svc-${String(i).padStart(4, "0")}`),
    ),
  };
  const chunks = [...encodeStateChunks(many)];
  assert.ok(chunks.length > 2, `expected several chunks, got ${chunks.length}`);
  for (const chunk of chunks) assert.ok(chunk.length < 2 * STATE_CHUNK_CHARS);
  const whole = JSON.stringify({
    kind: "DenoKubeProxyState",
    formatVersion: 1,
    nodeName: many.nodeName,
    savedAt: many.savedAt,
    services: many.services,
    endpointSlices: many.endpointSlices,
    node: many.node,
  }) + "\n";
  assert.equal(chunks.join(""), whole);
  assert.equal(encodeState(many), whole);
});
