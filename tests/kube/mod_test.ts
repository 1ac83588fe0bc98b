import assert from "node:assert/strict";
import {
  ApiConfigError,
  createClusterSource,
  listClusterObjects,
  SYSTEM_CLOCK,
} from "../../src/kube/mod.ts";
import { withApi } from "../fixtures/fake_api_server.ts";
import { TEST_NODE_NAME } from "../fixtures/k8s_builders.ts";
import { MemoryFiles } from "../fixtures/memory_files.ts";
import { MemoryLogger } from "../fixtures/memory_logger.ts";
import { seed } from "../fixtures/numbered_services.ts";
import { RecordingTable } from "../fixtures/recording_table.ts";
import { kubeconfigFor } from "../fixtures/test_source.ts";

const OPTIONS = {
  kubeconfig: "/kubeconfig",
  master: "",
  qps: 5,
  burst: 10,
  contentType: "application/vnd.kubernetes.protobuf",
  apiMode: "watch" as const,
  pollIntervalMs: 10_000,
  configSyncPeriodMs: 900_000,
  stateFile: "",
  nodeName: TEST_NODE_NAME,
};

Deno.test("listClusterObjects() lists Services, EndpointSlices and this Node once, for --dry-run", async () => {
  await withApi(async (api) => {
    seed(api, 3);
    const files = new MemoryFiles({ "/kubeconfig": kubeconfigFor(api) });
    const log = new MemoryLogger();
    const objects = await listClusterObjects({ ...OPTIONS, pageSize: 2 }, {
      log,
      env: () => undefined,
      readTextFile: files.readTextFile,
      clock: SYSTEM_CLOCK,
    });
    assert.deepEqual(objects.services.map((s) => s.metadata?.name), ["svc1", "svc2", "svc3"]);
    assert.deepEqual(objects.endpointSlices.map((s) => s.metadata?.name), [
      "svc1-1",
      "svc2-1",
      "svc3-1",
    ]);
    assert.deepEqual(objects.nodes.map((n) => n.metadata?.name), [TEST_NODE_NAME]);
    assert.ok(
      log.lines.includes(
        "W Protobuf is not supported for API requests; using JSON " +
          "contentType=application/vnd.kubernetes.protobuf",
      ),
    );
  }, { tls: true });
});

Deno.test("createClusterSource() fails with ApiConfigError before starting anything when no API server is configured", async () => {
  await assert.rejects(
    createClusterSource({ ...OPTIONS, kubeconfig: "" }, {
      table: new RecordingTable(),
      log: new MemoryLogger(),
      env: () => undefined,
      readTextFile: () => Promise.reject(new Deno.errors.NotFound("no")),
      clock: SYSTEM_CLOCK,
    }),
    ApiConfigError,
  );
});
