/**
 * Nobody let in, nothing leaked: the default listen addresses, what /healthz and /configz
 * expose, TLS verification, credentials kept out of logs and errors, and the state file's mode.
 *
 * @module
 */

import assert from "node:assert/strict";
import { configToFile, resolveConfig } from "../../src/config/mod.ts";
import { healthzHandler, ProxyHealth } from "../../src/server/healthz.ts";
import { metricsHandler } from "../../src/server/metrics.ts";
import { MetricsRegistry } from "../../src/server/prometheus.ts";
import { createClusterSource } from "../../src/kube/mod.ts";
import { DENO_STATE_FS, encodeState, writeStateFile } from "../../src/state/state_file.ts";
import { EndpointTable } from "../../src/model/mod.ts";
import { type FakeApiServer, withApi } from "../fixtures/fake_api_server.ts";
import { makeTableOptions, TEST_NODE_NAME } from "../fixtures/k8s_builders.ts";
import { ManualClock } from "../fixtures/manual_clock.ts";
import { MemoryLogger } from "../fixtures/memory_logger.ts";
import { seed } from "../fixtures/numbered_services.ts";
import {
  kubeconfigFor,
  makeSource,
  TEST_SOURCE_OPTIONS,
  type TestSource,
} from "../fixtures/test_source.ts";

const SECRET_TOKEN = "s3cr3t-Bearer-0123456789abcdef";
const CLIENT_KEY = await Deno.readTextFile(new URL("../fixtures/tls/client.key", import.meta.url));
const CLIENT_CERT = await Deno.readTextFile(new URL("../fixtures/tls/client.crt", import.meta.url));
/** The base64 body of the client key: what a leak would contain. */
const KEY_BODY = CLIENT_KEY.split("\n").filter((l) => l !== "" && !l.startsWith("-----"));

const BASE = { apiVersion: "kubeproxy.config.k8s.io/v1alpha1", kind: "KubeProxyConfiguration" };

/** Asserts no credential material appears in `text`. */
function assertNoSecrets(text: string, where: string): void {
  assert.equal(text.includes(SECRET_TOKEN), false, `token in ${where}:\n${text}`);
  for (const line of KEY_BODY) {
    assert.equal(text.includes(line), false, `client key in ${where}:\n${text}`);
  }
  assert.equal(text.includes(btoa(CLIENT_KEY)), false, `client key data in ${where}`);
}

/** Everything an operator could read about a source: its log and its last error. */
function visible(t: TestSource): string {
  const e = t.source.lastError;
  return [t.log.text, e?.message ?? "", e?.stack ?? "", String(e?.cause ?? "")].join("\n");
}

Deno.test("resolveConfig() binds metrics to 127.0.0.1:10249 by default", () => {
  const config = resolveConfig(BASE, { hostnameOverride: "edge-1" });
  assert.equal(config.metricsBindAddress, "127.0.0.1:10249");
});

Deno.test("healthzHandler() answers with timestamps and health only, no configuration or credentials", async () => {
  const health = new ProxyHealth({
    now: () => Date.UTC(2026, 10, 26),
    healthTimeoutMs: 60_000,
    node: () => ({ known: true, deleting: false, toBeDeletedTaint: false }),
  });
  health.updated("IPv4");
  const response = healthzHandler(health)(new Request("http://127.0.0.1:10256/healthz"));
  const body = await response.json();
  assert.deepEqual(Object.keys(body).sort(), [
    "currentTime",
    "healthy",
    "lastUpdated",
    "nodeEligible",
    "status",
  ]);
  assert.deepEqual(Object.keys(body.status), ["IPv4"]);
});

Deno.test("metricsHandler() /configz shows the kubeconfig path but no credentials", async () => {
  const kubeconfig = "/etc/kubernetes/kube-proxy.kubeconfig";
  const config = resolveConfig(
    { ...BASE, clientConnection: { kubeconfig } },
    { hostnameOverride: "edge-1" },
  );
  const handler = metricsHandler({
    registry: new MetricsRegistry(),
    mode: "iptables",
    configz: () => configToFile(config),
  });
  const text = await handler(new Request("http://127.0.0.1:10249/configz")).text();
  const configz = JSON.parse(text)["kubeproxy.config.k8s.io"];
  assert.equal(configz.clientConnection.kubeconfig, kubeconfig);
  assert.doesNotMatch(text, /token|password|client-key|BEGIN [A-Z ]*PRIVATE KEY/i);
});

Deno.test("ClusterSource verifies the API server's certificate by default and logs no credentials when it fails", async () => {
  await withApi(async (api) => {
    seed(api, 1);
    const t = await makeSource(api, {
      // No CA: the fake server's certificate cannot be trusted.
      kubeconfigText: kubeconfigWithClientCert(api, null),
    });
    try {
      void t.source.start();
      await t.clock.nextSleep((ms) => ms < 1_000);
      assert.match(t.log.text, /certificate/);
      assert.equal(api.requests.length, 0, "no request got through an unverified connection");
      assertNoSecrets(visible(t), "the log of a TLS failure");
    } finally {
      await t.source.stop();
    }
  }, { tls: true, token: SECRET_TOKEN });
});

/** A kubeconfig with a bearer token and a client certificate/key, trusting `caCert`. */
function kubeconfigWithClientCert(api: FakeApiServer, caCert: string | null): string {
  const client = { cert: CLIENT_CERT, key: CLIENT_KEY };
  return kubeconfigFor(api, { caCert, token: SECRET_TOKEN, client });
}

Deno.test({
  // BUG: src/kube/connection.ts fromKubeconfig() rejects `insecure-skip-tls-verify: true` with an
  // ApiConfigError; issue 10 asks for it to be honoured with a warning.
  ignore: true,
  name: "ClusterSource honours insecure-skip-tls-verify from the kubeconfig with a warning",
  async fn() {
    await withApi(async (api) => {
      seed(api, 1);
      const t = await makeSource(api, {
        kubeconfigText: kubeconfigFor(api, { caCert: null, token: SECRET_TOKEN })
          .replace(`server: ${api.url}`, `server: ${api.url}\n    insecure-skip-tls-verify: true`),
      });
      try {
        await t.source.start();
        assert.equal(t.table.snapshot().synced, true);
        assert.match(t.log.text, /^W .*insecure-skip-tls-verify/m);
      } finally {
        await t.source.stop();
      }
    }, { tls: true, token: SECRET_TOKEN });
  },
});

Deno.test("ClusterSource never logs the token when the API server rejects it (401)", async () => {
  await withApi(async (api) => {
    seed(api, 1);
    const t = await makeSource(api, { token: SECRET_TOKEN });
    try {
      void t.source.start();
      await t.clock.nextSleep((ms) => ms < 1_000);
      assert.match(t.log.text, /401 Unauthorized/);
      assertNoSecrets(visible(t), "the log of a 401");
    } finally {
      await t.source.stop();
    }
  }, { token: "the-right-token" });
});

Deno.test("ClusterSource never logs the token or client key when RBAC forbids a resource (403)", async () => {
  await withApi(async (api) => {
    seed(api, 1);
    api.forbid("endpointslices");
    const t = await makeSource(api, { kubeconfigText: kubeconfigWithClientCert(api, api.caCert) });
    try {
      void t.source.start();
      await t.clock.nextSleep((ms) => ms < 1_000);
      assert.match(t.log.text, /403|forbidden|Forbidden/);
      assertNoSecrets(visible(t), "the log of a 403");
    } finally {
      await t.source.stop();
    }
  }, { tls: true, token: SECRET_TOKEN });
});

/** createClusterSource() on a kubeconfig text; resolves with the error message it throws. */
async function configErrorOf(kubeconfigText: string): Promise<string> {
  const log = new MemoryLogger();
  try {
    const source = await createClusterSource(TEST_SOURCE_OPTIONS, {
      table: new EndpointTable(makeTableOptions()),
      log,
      env: () => undefined,
      readTextFile: () => Promise.resolve(kubeconfigText),
      clock: new ManualClock(),
    });
    await source.stop();
    return `no error; log:\n${log.text}`;
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    return [e.message, String(e.cause ?? ""), log.text].join("\n");
  }
}

Deno.test("createClusterSource() errors about a broken kubeconfig never quote its token or key", async () => {
  const broken = [
    // Not YAML: the parser's excerpt must not carry the token line.
    `apiVersion: v1\nusers:\n- name: a\n  user:\n    token: ${SECRET_TOKEN}\n   bad: [indent\n`,
    // A setting we refuse, next to the credentials.
    `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n` +
    `    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: ${SECRET_TOKEN}\n` +
    `    client-key-data: ${
      btoa(CLIENT_KEY)
    }\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n` +
    "current-context: x\n",
    // A user entry of the wrong shape.
    `apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user: "${SECRET_TOKEN}"\n`,
  ];
  for (const text of broken) assertNoSecrets(await configErrorOf(text), "a kubeconfig error");
});

Deno.test("writeStateFile() creates the state file with mode 0600, also over an existing 0644 file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/state/state.json`;
    const text = encodeState({
      nodeName: TEST_NODE_NAME,
      savedAt: "2026-01-01T00:00:00.000Z",
      services: [],
      endpointSlices: [],
      node: null,
    });
    await writeStateFile(path, text, DENO_STATE_FS);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    await Deno.chmod(path, 0o644);
    await writeStateFile(path, text, DENO_STATE_FS);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
