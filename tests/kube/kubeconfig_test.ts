import assert from "node:assert/strict";
import { loadAll } from "js-yaml";
import { ApiConfigError } from "../../src/kube/errors.ts";
import { parseKubeconfig } from "../../src/kube/kubeconfig.ts";

const WHERE = 'kubeconfig "/etc/kp/config"';

function doc(user: string, cluster = "server: https://api.example:6443/"): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    ${cluster}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
users:
- name: u
  user:
    ${user}
`;
}

Deno.test("parseKubeconfig() resolves the current context and makes file paths absolute against the kubeconfig", () => {
  const parsed = parseKubeconfig(
    doc(
      "client-certificate: pki/client.crt\n    client-key: /abs/client.key",
      "server: https://api.example:6443/\n    certificate-authority: ca.crt",
    ),
    "/etc/kp/config",
    WHERE,
  );
  assert.equal(parsed.context, "x");
  assert.equal(parsed.cluster.server, "https://api.example:6443");
  assert.equal(parsed.cluster.caFile, "/etc/kp/ca.crt");
  assert.equal(parsed.user?.certFile, "/etc/kp/pki/client.crt");
  assert.equal(parsed.user?.keyFile, "/abs/client.key");
  assert.equal(parsed.user?.token, null);
});

Deno.test("parseKubeconfig() reads client-go's tokenFile and client-node's token-file alike", () => {
  for (const spelling of ["tokenFile", "token-file"]) {
    const parsed = parseKubeconfig(doc(`${spelling}: tokens/kp`), "/etc/kp/config", WHERE);
    assert.equal(parsed.user?.tokenFile, "/etc/kp/tokens/kp", spelling);
  }
});

Deno.test("parseKubeconfig() reads the kubeconfig our DaemonSet ships, with its service-account token file", async () => {
  const manifests = loadAll(
    await Deno.readTextFile(new URL("../../deploy/daemonset.yaml", import.meta.url)),
  );
  const configMap = manifests.find((m) => (m as { kind?: string }).kind === "ConfigMap") as {
    data: Record<string, string>;
  };
  const text = configMap.data["kubeconfig.conf"] ?? "";
  const parsed = parseKubeconfig(text, "/var/lib/kube-proxy/kubeconfig.conf", WHERE);
  assert.equal(parsed.user?.tokenFile, "/var/run/secrets/kubernetes.io/serviceaccount/token");
  assert.equal(parsed.cluster.caFile, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
});

Deno.test("parseKubeconfig() names the entry or field that is wrong", () => {
  const cases: [string, string, string][] = [
    [
      "server missing",
      doc("token: t", "certificate-authority: ca.crt"),
      `${WHERE}: cluster "c": server is missing`,
    ],
    [
      "token not a string",
      doc("token: [a]"),
      `${WHERE}: user "u": token: expected a string, got ["a"]`,
    ],
    [
      "unknown user",
      doc("token: t").replace("user: u}", "user: v}"),
      `${WHERE}: context "x" names user "v", which is not among its users`,
    ],
    [
      "unknown cluster",
      doc("token: t").replace("{cluster: c,", "{cluster: d,"),
      `${WHERE}: context "x" names cluster "d", which is not among its clusters`,
    ],
    [
      "unknown context",
      doc("token: t").replace("current-context: x", "current-context: y"),
      `${WHERE}: current-context "y" is not among its contexts`,
    ],
    [
      "no current context",
      doc("token: t").replace("current-context: x\n", ""),
      `${WHERE}: current-context is not set`,
    ],
    [
      "clusters not a list",
      doc("token: t").replace("clusters:\n- name: c", "clusters:\n  name: c"),
      `${WHERE}: clusters is not a list`,
    ],
    [
      "not a mapping",
      "- a\n- b\n",
      `${WHERE}: not a kubeconfig (expected a mapping with clusters, users and contexts)`,
    ],
  ];
  for (const [name, text, message] of cases) {
    assert.throws(
      () => parseKubeconfig(text, "/etc/kp/config", WHERE),
      new ApiConfigError(message),
      name,
    );
  }
});

Deno.test("parseKubeconfig() flags exec plugins, auth-providers and impersonation for the caller to refuse", () => {
  const parsed = parseKubeconfig(
    doc("exec: {command: aws}\n    auth-provider: {name: gcp}\n    as: admin"),
    "/etc/kp/config",
    WHERE,
  );
  assert.equal(parsed.user?.exec, true);
  assert.equal(parsed.user?.authProvider, true);
  assert.equal(parsed.user?.impersonate, "admin");
});
