import assert from "node:assert/strict";
import { ApiConfigError, resolveConnection, SERVICE_ACCOUNT_DIR } from "../../src/kube/mod.ts";
import { ManualClock } from "../fixtures/manual_clock.ts";
import { MemoryFiles } from "../fixtures/memory_files.ts";
import { MemoryLogger } from "../fixtures/memory_logger.ts";

const CA = Deno.readTextFileSync(new URL("../fixtures/tls/ca.crt", import.meta.url));
const CLIENT_CERT = Deno.readTextFileSync(new URL("../fixtures/tls/client.crt", import.meta.url));
const CLIENT_KEY = Deno.readTextFileSync(new URL("../fixtures/tls/client.key", import.meta.url));

function deps(files: Record<string, string>, env: Record<string, string> = {}) {
  const memory = new MemoryFiles(files);
  return {
    env: (name: string) => env[name],
    readTextFile: memory.readTextFile,
    clock: new ManualClock(),
    log: new MemoryLogger(),
    memory,
  };
}

const IN_CLUSTER_ENV = { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" };

function kubeconfig(
  user: string,
  cluster = `server: https://api.example:6443
    certificate-authority: ca.crt`,
): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    ${cluster}
users:
- name: kube-proxy
  user:
    ${user}
contexts:
- name: x
  context: {cluster: c, user: kube-proxy}
current-context: x
`;
}

Deno.test("resolveConnection() uses in-cluster config when neither kubeconfig nor master is given", async () => {
  const d = deps({
    [`${SERVICE_ACCOUNT_DIR}/token`]: "sa-token\n",
    [`${SERVICE_ACCOUNT_DIR}/ca.crt`]: CA,
  }, IN_CLUSTER_ENV);
  const connection = await resolveConnection({ kubeconfig: "", master: "" }, d);
  assert.equal(connection.server, "https://10.96.0.1:443");
  assert.deepEqual(connection.transport.caCerts, [CA]);
  assert.equal(connection.source, "in-cluster config");
  assert.equal(await connection.credentials.authorization(), "Bearer sa-token");
  assert.equal(
    connection.credentials.description,
    `the token file "${SERVICE_ACCOUNT_DIR}/token"`,
  );
});

Deno.test("resolveConnection() brackets an IPv6 KUBERNETES_SERVICE_HOST", async () => {
  const d = deps({ [`${SERVICE_ACCOUNT_DIR}/token`]: "t", [`${SERVICE_ACCOUNT_DIR}/ca.crt`]: CA }, {
    KUBERNETES_SERVICE_HOST: "fd00:10:96::1",
    KUBERNETES_SERVICE_PORT: "443",
  });
  const connection = await resolveConnection({ kubeconfig: "", master: "" }, d);
  assert.equal(connection.server, "https://[fd00:10:96::1]:443");
});

Deno.test("resolveConnection() re-reads a rotated service-account token after a minute and keeps the old one if the file is unreadable", async () => {
  const d = deps({
    [`${SERVICE_ACCOUNT_DIR}/token`]: "first",
    [`${SERVICE_ACCOUNT_DIR}/ca.crt`]: CA,
  }, IN_CLUSTER_ENV);
  const connection = await resolveConnection({ kubeconfig: "", master: "" }, d);
  d.memory.files.set(`${SERVICE_ACCOUNT_DIR}/token`, "second");
  d.clock.jump(59_000);
  assert.equal(await connection.credentials.authorization(), "Bearer first");
  d.clock.jump(1_000);
  assert.equal(await connection.credentials.authorization(), "Bearer second");
  d.memory.files.delete(`${SERVICE_ACCOUNT_DIR}/token`);
  d.clock.jump(60_000);
  assert.equal(await connection.credentials.authorization(), "Bearer second");
  assert.ok(
    d.log.lines.some((l) =>
      l.startsWith("W Cannot re-read the token file; keeping the previous token")
    ),
  );
  assert.equal(d.log.text.includes("second"), false, "the token is never logged");
});

Deno.test("resolveConnection() explains what to configure when there is no API server at all", async () => {
  await assert.rejects(
    resolveConnection({ kubeconfig: "", master: "" }, deps({})),
    (error: unknown) => {
      assert.ok(error instanceof ApiConfigError);
      assert.equal(
        error.message,
        "No API server to connect to: set clientConnection.kubeconfig (--kubeconfig) or " +
          "--master, or run kube-proxy in a pod (in-cluster config needs " +
          "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, which are not set)",
      );
      return true;
    },
  );
});

Deno.test("resolveConnection() fails in-cluster config without a readable service-account token", async () => {
  await assert.rejects(
    resolveConnection({ kubeconfig: "", master: "" }, deps({}, IN_CLUSTER_ENV)),
    new ApiConfigError(
      "Cannot read in-cluster config: service-account token " +
        `("${SERVICE_ACCOUNT_DIR}/token"): no such file`,
    ),
  );
});

Deno.test("resolveConnection() reads a kubeconfig's server, CA file (relative to the kubeconfig) and token", async () => {
  const d = deps({
    "/etc/kubernetes/kube-proxy.conf": kubeconfig("token: abc"),
    "/etc/kubernetes/ca.crt": CA,
  });
  const connection = await resolveConnection(
    { kubeconfig: "/etc/kubernetes/kube-proxy.conf", master: "" },
    d,
  );
  assert.equal(connection.server, "https://api.example:6443");
  assert.deepEqual(connection.transport.caCerts, [CA]);
  assert.equal(connection.transport.cert, null);
  assert.equal(await connection.credentials.authorization(), "Bearer abc");
  assert.equal(connection.source, 'kubeconfig "/etc/kubernetes/kube-proxy.conf"');
});

Deno.test("resolveConnection() lets --master override the kubeconfig's server but keeps its credentials", async () => {
  const d = deps({
    "/k/config": kubeconfig("token: abc"),
    "/k/ca.crt": CA,
  });
  const connection = await resolveConnection(
    { kubeconfig: "/k/config", master: "https://10.0.0.1:6443/" },
    d,
  );
  assert.equal(connection.server, "https://10.0.0.1:6443");
  assert.equal(await connection.credentials.authorization(), "Bearer abc");
  assert.equal(connection.source, 'kubeconfig "/k/config" with --master');
});

Deno.test("resolveConnection() connects to --master alone without credentials", async () => {
  const connection = await resolveConnection(
    { kubeconfig: "", master: "127.0.0.1:8001" },
    deps({}),
  );
  assert.equal(connection.server, "http://127.0.0.1:8001");
  assert.equal(await connection.credentials.authorization(), null);
});

Deno.test("resolveConnection() takes a client certificate and key from kubeconfig data fields", async () => {
  const d = deps({
    "/k/config": kubeconfig(
      `client-certificate-data: ${btoa(CLIENT_CERT)}
    client-key-data: ${btoa(CLIENT_KEY)}`,
      `server: https://api.example:6443
    certificate-authority-data: ${btoa(CA)}`,
    ),
  });
  const connection = await resolveConnection({ kubeconfig: "/k/config", master: "" }, d);
  assert.equal(connection.transport.cert, CLIENT_CERT);
  assert.equal(connection.transport.key, CLIENT_KEY);
  assert.equal(await connection.credentials.authorization(), null);
  assert.equal(
    connection.credentials.description,
    'the client certificate of kubeconfig "/k/config" user "kube-proxy"',
  );
});

Deno.test("resolveConnection() reads a kubeconfig token-file through the injected reader and rotates it", async () => {
  const d = deps({
    "/k/config": kubeconfig("token-file: tokens/kube-proxy"),
    "/k/ca.crt": CA,
    "/k/tokens/kube-proxy": "from-file\n",
  });
  const connection = await resolveConnection({ kubeconfig: "/k/config", master: "" }, d);
  assert.equal(await connection.credentials.authorization(), "Bearer from-file");
  d.memory.files.set("/k/tokens/kube-proxy", "rotated");
  d.clock.jump(60_000);
  assert.equal(await connection.credentials.authorization(), "Bearer rotated");
});

Deno.test("resolveConnection() rejects kubeconfig settings it cannot honour, naming them", async () => {
  const cases: [string, Record<string, string>, string][] = [
    [
      kubeconfig("exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}"),
      { "/k/ca.crt": CA },
      'kubeconfig "/k/config": user "kube-proxy" uses an exec credential plugin, which is not ' +
      "supported; use a token, token-file or client certificate",
    ],
    [
      kubeconfig(
        "token: abc",
        "server: https://api.example:6443\n    insecure-skip-tls-verify: true",
      ),
      {},
      'kubeconfig "/k/config": insecure-skip-tls-verify is not supported (the API server\'s ' +
      "certificate is always verified); set certificate-authority or " +
      "certificate-authority-data",
    ],
    [
      kubeconfig("token: abc").replace("current-context: x\n", ""),
      {},
      'kubeconfig "/k/config": current-context is not set',
    ],
    [
      kubeconfig("client-certificate: client.crt"),
      { "/k/ca.crt": CA, "/k/client.crt": CLIENT_CERT },
      'kubeconfig "/k/config": user "kube-proxy" has a client certificate but no key',
    ],
    [
      kubeconfig("token: abc"),
      {},
      'Cannot read kubeconfig "/k/config": certificate-authority ("/k/ca.crt"): no such file',
    ],
  ];
  for (const [text, files, message] of cases) {
    const d = deps({ "/k/config": text, ...files });
    await assert.rejects(
      resolveConnection({ kubeconfig: "/k/config", master: "" }, d),
      new ApiConfigError(message),
    );
  }
});

Deno.test("resolveConnection() reports an unreadable kubeconfig", async () => {
  await assert.rejects(
    resolveConnection({ kubeconfig: "/nope/config", master: "" }, deps({})),
    new ApiConfigError('Cannot read kubeconfig ("/nope/config"): no such file'),
  );
});
