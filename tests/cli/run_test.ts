import assert from "node:assert/strict";
import { type CliIO, runCli, VERSION } from "../../src/cli/run.ts";
import { RecordingRunner } from "../fixtures/recording_runner.ts";

/** A CliIO over an in-memory file system, capturing what the user would see. */
function fakeIO(files: Record<string, string> = {}, env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const written = new Map<string, string>();
  const runner = new RecordingRunner();
  const io: CliIO = {
    readTextFile: (path) => {
      const text = written.get(path) ?? files[path];
      if (text === undefined) {
        return Promise.reject(new Deno.errors.NotFound(`open ${path}: no such file or directory`));
      }
      return Promise.resolve(text);
    },
    writeTextFile: (path, text) => {
      written.set(path, text);
      return Promise.resolve();
    },
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    now: () => new Date(Date.UTC(2026, 10, 26, 6, 56, 51, 123)),
    pid: 4242,
    hostname: () => "Edge-1",
    env: (name) => env[name],
    runner,
    kernelFiles: {
      read: () => Promise.reject(new Deno.errors.NotFound("no /proc/sys here")),
      write: () => Promise.reject(new Deno.errors.PermissionDenied("read-only /proc/sys")),
    },
  };
  return {
    io,
    runner,
    written,
    get stdout() {
      return out.join("");
    },
    get stderr() {
      return err.join("");
    },
  };
}

const examples = {
  "examples/kube-proxy-config.yaml": await Deno.readTextFile("examples/kube-proxy-config.yaml"),
  "examples/cluster.yaml": await Deno.readTextFile("examples/cluster.yaml"),
};

Deno.test("runCli() --help prints usage and exits 0", async () => {
  const f = fakeIO();
  assert.equal(await runCli(["--help"], f.io), 0);
  assert.match(f.stdout, /^The Kubernetes network proxy/);
  assert.match(f.stdout, /--hostname-override/);
});

Deno.test("runCli() --version prints the version and exits 0 before reading any config", async () => {
  const f = fakeIO();
  assert.equal(await runCli(["--version", "--config=/missing.yaml"], f.io), 0);
  assert.equal(f.stdout, `deno-kube-proxy v${VERSION} (kube-proxy v1.36 compatible)\n`);
  const raw = fakeIO();
  assert.equal(await runCli(["--version=raw"], raw.io), 0);
  assert.equal(JSON.parse(raw.stdout).gitVersion, `v${VERSION}`);
});

Deno.test("runCli() exits 1 on a bad flag with its name and the --help hint", async () => {
  const f = fakeIO();
  assert.equal(await runCli(["--iptables-sync-period=soon"], f.io), 1);
  assert.match(f.stderr, /^Error: invalid argument "soon" for "--iptables-sync-period" flag/);
  assert.match(f.stderr, /Run 'kube-proxy --help' for usage\.\n$/);
  assert.equal(f.stdout, "");
});

Deno.test("runCli() exits 1 naming the file when --config does not exist", async () => {
  const f = fakeIO();
  assert.equal(await runCli(["--config=/etc/kp.yaml", "--dry-run"], f.io), 1);
  assert.match(f.stderr, /\/etc\/kp\.yaml/);
  assert.equal(f.stdout, "");
});

Deno.test("runCli() exits 1 listing every invalid field with its line, applying nothing", async () => {
  const f = fakeIO({
    "/kp.yaml": [
      "apiVersion: kubeproxy.config.k8s.io/v1alpha1",
      "kind: KubeProxyConfiguration",
      "iptables:",
      "  masqueradeBit: 40",
      "oomScoreAdj: 5000",
      "",
    ].join("\n"),
  });
  assert.equal(await runCli(["--config=/kp.yaml", "--dry-run", "--objects=x"], f.io), 1);
  assert.match(f.stderr, /iptables\.masqueradeBit: .*40.*\(line 4\)/);
  assert.match(f.stderr, /oomScoreAdj: .*5000.*\(line 5\)/);
  assert.equal(f.stdout, "");
});

Deno.test("runCli() --write-config-to writes a file that loads back to the same config", async () => {
  const f = fakeIO(examples);
  const code = await runCli(
    ["--config=examples/kube-proxy-config.yaml", "--write-config-to=/out.yaml"],
    f.io,
  );
  assert.equal(code, 0, f.stderr);
  const written = f.written.get("/out.yaml") ?? "";
  assert.match(written, /^apiVersion: kubeproxy\.config\.k8s\.io\/v1alpha1$/m);
  assert.match(written, /clusterCIDR: 10\.244\.0\.0\/16,fd00:10:244::\/56/);
  const again = fakeIO({ "/out.yaml": written });
  assert.equal(await runCli(["--config=/out.yaml", "--write-config-to=/again.yaml"], again.io), 0);
  assert.equal(again.written.get("/again.yaml"), written);
});

Deno.test("runCli() warns about flags that --config makes upstream ignore", async () => {
  const f = fakeIO(examples);
  const code = await runCli([
    "--config=examples/kube-proxy-config.yaml",
    "--cluster-cidr=10.0.0.0/8",
    "--write-config-to=/out.yaml",
  ], f.io);
  assert.equal(code, 0);
  assert.match(
    f.stderr,
    /^W1126 06:56:51\.123000 +4242 kube-proxy\] "Flags ignored because --config/m,
  );
  assert.match(f.stderr, /flags="--cluster-cidr"/);
  // The file's value stays: the flag really was ignored.
  assert.match(f.written.get("/out.yaml") ?? "", /clusterCIDR: 10\.244\.0\.0\/16/);
});

Deno.test("runCli() --hostname-override wins over the file's hostnameOverride", async () => {
  const f = fakeIO({
    "/kp.yaml": "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n" +
      "hostnameOverride: from-file\n",
  });
  assert.equal(
    await runCli(
      ["--config=/kp.yaml", "--hostname-override= From-Flag ", "--write-config-to=/o"],
      f.io,
    ),
    0,
  );
  assert.match(f.written.get("/o") ?? "", /^hostnameOverride: from-flag$/m);
});

Deno.test("runCli() --dry-run prints the example cluster's iptables rules, touching nothing", async () => {
  const f = fakeIO(examples);
  const code = await runCli([
    "--config=examples/kube-proxy-config.yaml",
    "--objects=examples/cluster.yaml",
    "--hostname-override=edge-1",
    "--dry-run",
  ], f.io);
  assert.equal(code, 0, f.stderr);
  assert.match(f.stdout, /^\*nat$/m);
  assert.match(
    f.stdout,
    /-A KUBE-SERVICES .*"shop\/web:http cluster IP".* -d 10\.96\.20\.80 --dport 80 /m,
  );
  assert.match(f.stdout, /^COMMIT$/m);
  assert.deepEqual(f.runner.calls, []);
});

Deno.test("runCli() --dry-run in nftables mode prints an nft transaction for both families", async () => {
  const f = fakeIO(examples);
  const code = await runCli([
    "--proxy-mode=nftables",
    "--cluster-cidr=10.244.0.0/16",
    "--objects=examples/cluster.yaml",
    "--hostname-override=edge-1",
    "--dry-run",
  ], f.io);
  assert.equal(code, 0, f.stderr);
  assert.match(f.stdout, /table ip kube-proxy/);
  assert.match(f.stdout, /table ip6 kube-proxy/);
  assert.match(f.stdout, /10\.96\.20\.80/);
  assert.deepEqual(f.runner.calls, []);
});

Deno.test("runCli() --dry-run warns when the node is not among the objects", async () => {
  const f = fakeIO(examples);
  const code = await runCli([
    "--config=examples/kube-proxy-config.yaml",
    "--objects=examples/cluster.yaml",
    "--hostname-override=edge-9",
    "--dry-run",
  ], f.io);
  assert.equal(code, 0, f.stderr);
  assert.match(f.stderr, /Node \\"edge-9\\" is not among the objects/);
});

Deno.test("runCli() without an API server configured exits 1 with a clear message", async () => {
  const f = fakeIO(examples);
  assert.equal(await runCli(["--hostname-override=n1", "--state-file="], f.io), 1);
  assert.match(f.stderr, /kubeconfig|in-cluster|master/i);
  assert.deepEqual(f.runner.calls, [], "nothing may touch the kernel");
});

Deno.test("runCli() --cleanup removes both modes' rules without an API server", async () => {
  const f = fakeIO();
  assert.equal(await runCli(["--cleanup"], f.io), 0, f.stderr);
  const commands = new Set(f.runner.calls.map((c) => c.command));
  assert.ok(commands.has("nft"), [...commands].join(" "));
  assert.ok([...commands].some((c) => c.startsWith("iptables")), [...commands].join(" "));
  assert.ok([...commands].some((c) => c.startsWith("ip6tables")), [...commands].join(" "));
});

Deno.test("runCli() --init-only with a read-only /proc/sys warns and exits 0", async () => {
  const f = fakeIO();
  assert.equal(await runCli(["--init-only"], f.io), 0, f.stderr);
  assert.match(f.stderr, /^W/m);
});

Deno.test("runCli() --dry-run exits 1 naming an objects file that is not YAML", async () => {
  const f = fakeIO({ ...examples, "/objs.yaml": "items: [\n" });
  const code = await runCli([
    "--config=examples/kube-proxy-config.yaml",
    "--objects=/objs.yaml",
    "--dry-run",
  ], f.io);
  assert.equal(code, 1);
  assert.match(f.stderr, /\/objs\.yaml: not valid YAML or JSON/);
  assert.equal(f.stdout, "");
});
