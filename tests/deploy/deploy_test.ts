import assert from "node:assert/strict";
import { load, loadAll } from "js-yaml";
import { decodeConfig, resolveConfig } from "../../src/config/mod.ts";
import { MALLOC_ENV, MALLOC_ENV_WORDS } from "../../scripts/compile.ts";

const DEPLOY = new URL("../../deploy/", import.meta.url);

/** The parts of the manifests these tests read (the YAML is trusted to be this shape). */
interface Mount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}
interface Volume {
  name: string;
  configMap?: { name: string };
  hostPath?: { path: string; type?: string };
}
interface Container {
  command: string[];
  env: unknown[];
  securityContext: { privileged: boolean };
  livenessProbe: { httpGet: { path: string; port: number } };
  volumeMounts: Mount[];
}
interface PodSpec {
  serviceAccountName: string;
  hostNetwork: boolean;
  priorityClassName: string;
  tolerations: unknown[];
  containers: Container[];
  volumes: Volume[];
}
interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string };
  roleRef?: unknown;
  subjects?: unknown[];
  data?: Record<string, string>;
  spec?: { template: { spec: PodSpec } };
}

async function manifests(): Promise<Manifest[]> {
  return loadAll(await Deno.readTextFile(new URL("daemonset.yaml", DEPLOY))) as Manifest[];
}

function byKind(docs: Manifest[], kind: string): Manifest {
  const found = docs.filter((d) => d.kind === kind);
  assert.equal(found.length, 1, `exactly one ${kind}`);
  return found[0] as Manifest;
}

function podOf(docs: Manifest[]): PodSpec {
  const spec = byKind(docs, "DaemonSet").spec?.template.spec;
  assert.ok(spec);
  return spec;
}

function containerOf(docs: Manifest[]): Container {
  const pod = podOf(docs);
  assert.equal(pod.containers.length, 1);
  return pod.containers[0] as Container;
}

Deno.test("deploy/daemonset.yaml holds a ServiceAccount, a ClusterRoleBinding, a ConfigMap and a DaemonSet in kube-system", async () => {
  const docs = await manifests();
  assert.deepEqual(docs.map((d) => d.kind), [
    "ServiceAccount",
    "ClusterRoleBinding",
    "ConfigMap",
    "DaemonSet",
  ]);
  for (const d of docs.filter((d) => d.kind !== "ClusterRoleBinding")) {
    assert.equal(d.metadata.namespace, "kube-system", d.kind);
  }
});

Deno.test("deploy/daemonset.yaml binds the kube-proxy ServiceAccount to system:node-proxier", async () => {
  const docs = await manifests();
  const sa = byKind(docs, "ServiceAccount");
  const crb = byKind(docs, "ClusterRoleBinding");
  assert.deepEqual(crb.roleRef, {
    apiGroup: "rbac.authorization.k8s.io",
    kind: "ClusterRole",
    name: "system:node-proxier",
  });
  assert.deepEqual(crb.subjects, [
    { kind: "ServiceAccount", name: sa.metadata.name, namespace: "kube-system" },
  ]);
  assert.equal(podOf(docs).serviceAccountName, sa.metadata.name);
});

Deno.test("deploy/daemonset.yaml runs privileged on the host network on every node", async () => {
  const docs = await manifests();
  const pod = podOf(docs);
  assert.equal(pod.hostNetwork, true);
  assert.equal(pod.priorityClassName, "system-node-critical");
  assert.deepEqual(pod.tolerations, [{ operator: "Exists" }]);
  assert.equal(containerOf(docs).securityContext.privileged, true);
});

Deno.test("deploy/daemonset.yaml passes --config from the ConfigMap and the node name via the downward API", async () => {
  const docs = await manifests();
  const pod = podOf(docs);
  const c = containerOf(docs);
  assert.equal(c.command[0], "/usr/local/bin/kube-proxy");
  assert.ok(c.command.includes("--hostname-override=$(NODE_NAME)"));
  assert.deepEqual(c.env, [
    { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
    ...Object.entries(MALLOC_ENV).map(([name, value]) => ({ name, value })),
  ]);
  const configPath = c.command.find((a) => a.startsWith("--config="))?.slice("--config=".length);
  const volume = pod.volumes.find((v) => v.configMap?.name === "kube-proxy");
  const mount = c.volumeMounts.find((m) => m.name === volume?.name);
  assert.ok(configPath && mount);
  assert.ok(configPath.startsWith(`${mount.mountPath}/`), "--config points into the ConfigMap");
  const key = configPath.slice(mount.mountPath.length + 1);
  const configMap = byKind(docs, "ConfigMap");
  assert.equal(configMap.metadata.name, "kube-proxy");
  assert.equal(typeof configMap.data?.[key], "string", `the ConfigMap has ${key}`);
});

Deno.test("deploy/daemonset.yaml mounts the xtables lock and /lib/modules from the host", async () => {
  const docs = await manifests();
  const pod = podOf(docs);
  const hostPathAt = (mountPath: string) => {
    const mount = containerOf(docs).volumeMounts.find((x) => x.mountPath === mountPath);
    assert.ok(mount, `a mount at ${mountPath}`);
    return { mount, hostPath: pod.volumes.find((v) => v.name === mount.name)?.hostPath };
  };
  const lock = hostPathAt("/run/xtables.lock");
  assert.deepEqual(lock.hostPath, { path: "/run/xtables.lock", type: "FileOrCreate" });
  const modules = hostPathAt("/lib/modules");
  assert.equal(modules.hostPath?.path, "/lib/modules");
  assert.equal(modules.mount.readOnly, true);
  const state = hostPathAt("/var/lib/kube-proxy");
  assert.deepEqual(state.hostPath, { path: "/var/lib/kube-proxy", type: "DirectoryOrCreate" });
});

Deno.test("deploy/daemonset.yaml probes /livez on the healthz port", async () => {
  const c = containerOf(await manifests());
  assert.equal(c.livenessProbe.httpGet.path, "/livez");
  assert.equal(c.livenessProbe.httpGet.port, 10256);
});

Deno.test("deploy/daemonset.yaml's kube-proxy-config.yaml is a valid config whose kubeconfig is in the ConfigMap", async () => {
  const docs = await manifests();
  const configMap = byKind(docs, "ConfigMap");
  const decoded = decodeConfig(configMap.data?.["kube-proxy-config.yaml"] ?? "");
  assert.deepEqual(decoded.warnings, []);
  const config = resolveConfig(decoded.file, { hostnameOverride: "edge-1" });
  assert.equal(config.mode, "iptables");
  assert.equal(config.healthzBindAddress, "0.0.0.0:10256");
  const mount = containerOf(docs).volumeMounts.find((m) => m.name === "kube-proxy-config");
  assert.ok(mount);
  const kubeconfigKey = config.clientConnection.kubeconfig.slice(mount.mountPath.length + 1);
  const kubeconfig = load(configMap.data?.[kubeconfigKey] ?? "") as {
    kind: string;
    users: { user: { tokenFile: string } }[];
  };
  assert.equal(kubeconfig.kind, "Config");
  assert.equal(
    kubeconfig.users[0]?.user.tokenFile,
    "/var/run/secrets/kubernetes.io/serviceaccount/token",
  );
});

Deno.test("deploy/kube-proxy.service starts the binary with --config and restarts it on failure", async () => {
  const unit = await Deno.readTextFile(new URL("kube-proxy.service", DEPLOY));
  const sections = new Map<string, Map<string, string>>();
  let current = "";
  for (const raw of unit.replaceAll("\\\n", " ").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      current = header[1] ?? "";
      sections.set(current, new Map());
      continue;
    }
    const eq = line.indexOf("=");
    sections.get(current)?.set(line.slice(0, eq), line.slice(eq + 1).replace(/\s+/g, " "));
  }
  const service = sections.get("Service");
  assert.ok(service);
  assert.equal(
    service.get("ExecStart"),
    "/usr/local/bin/kube-proxy --config=/var/lib/kube-proxy/kube-proxy-config.yaml",
  );
  assert.equal(
    service.get("Environment"),
    MALLOC_ENV_WORDS.join(" "),
    "the malloc settings of scripts/compile.ts MALLOC_ENV",
  );
  assert.equal(service.get("Restart"), "on-failure");
  assert.equal(service.get("RestartSec"), "5");
  assert.equal(sections.get("Install")?.get("WantedBy"), "multi-user.target");
  assert.equal(sections.get("Unit")?.get("After"), "network-online.target");
});
