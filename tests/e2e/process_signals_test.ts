/**
 * The real process's life cycle, as an operator's supervisor sees it: `main.ts` from source in a
 * throwaway namespace, fed by the fake API server. SIGTERM ends it with 0 within 2 s and leaves
 * the rules in place; a second signal ends it at once; a change to the `--config` file ends it with
 * 1 and upstream's message, so systemd restarts it with the new file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ignoreKernelTests, withNamespace } from "../fixtures/netns.ts";
import { LineChild } from "./child.ts";
import { clusterObjects, type E2eService, serviceObject } from "./cluster.ts";
import { cacheProgram } from "./daemon_proxy.ts";
import { FakeApi } from "./fake_api.ts";
import { scratchDirPrefix } from "./leak_guard.ts";
import { proxyConfigYaml } from "./proxy_config.ts";
import { eventually } from "./wait.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const FIRST_SYNC_TIMEOUT_MS = 60_000;

/** @param env `NAME=value` words the program runs with (through `env`, which keeps the pid). */
function startProxy(namespace: string, config: string, env: readonly string[] = []): LineChild {
  return LineChild.start({
    namespace,
    label: "kube-proxy (signals)",
    cwd: ROOT,
    command: [
      ...(env.length === 0 ? [] : ["env", ...env]),
      Deno.execPath(),
      "run",
      "-A",
      "--cached-only",
      "--no-prompt",
      `--config=${join(ROOT, "deno.json")}`,
      join(ROOT, "main.ts"),
      `--config=${config}`,
      "--state-file=",
      "-v=2",
    ],
  });
}

async function firstSync(child: LineChild): Promise<void> {
  // The program logs to stderr; its first full sync is the moment it is fully up.
  await eventually("the first full sync", FIRST_SYNC_TIMEOUT_MS, () => {
    const output = child.allOutput();
    return Promise.resolve({
      done: /"SyncProxyRules complete" kind="full"/.test(output),
      seen: child.recentOutput(),
    });
  });
}

async function exitWithin(child: LineChild, ms: number): Promise<number | "still running"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"still running">((resolve) => {
    timer = setTimeout(() => resolve("still running"), ms);
  });
  try {
    return await Promise.race([child.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A Service added to make the program sync while iptables-restore is held. */
const HELD_SERVICE: E2eService = {
  name: "held",
  clusterIP: "198.19.0.99",
  port: 80,
  endpoints: [],
};

/**
 * A directory with a `tool` wrapper that, once `<marks>/hold` exists, waits 3 s (the pid of its
 * `sleep` in `<marks>/started`) before running the real tool, found on PATH; killed while it
 * waits, it exits 1 without running the tool.
 */
async function holdingTool(marks: string, tool: string): Promise<string> {
  let real = "";
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir !== "" && real === "" && await exists(join(dir, tool))) real = join(dir, tool);
  }
  assert.ok(real !== "", `${tool} not found on PATH`);
  const wrapped = join(marks, "bin");
  await Deno.mkdir(wrapped);
  const script = join(wrapped, tool);
  await Deno.writeTextFile(
    script,
    [
      "#!/bin/sh",
      `if [ -e '${marks}/hold' ]; then sleep 3 & echo $! > '${marks}/started'; wait $! || exit 1; fi`,
      `exec '${real}' "$@"`,
      "",
    ].join("\n"),
  );
  await Deno.chmod(script, 0o755);
  return wrapped;
}

/** Ends a wrapper still waiting (the program exited without waiting for it). */
async function killHeldTool(marks: string): Promise<void> {
  const pid = Number((await Deno.readTextFile(join(marks, "started")).catch(() => "")).trim());
  if (pid > 0) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "kube-proxy process: SIGTERM, a second signal and a config change end it as upstream",
  ignore: await ignoreKernelTests(),
  async fn(t) {
    await cacheProgram();
    await withNamespace("signals", async (ns) => {
      const dir = await Deno.makeTempDir({ prefix: scratchDirPrefix() });
      const api = await FakeApi.start(ns.name);
      try {
        for (const [resource, object] of clusterObjects()) await api.apply(resource, object);
        const kubeconfig = await api.writeKubeconfig(dir);
        const config = join(dir, "kube-proxy-config.yaml");
        await Deno.writeTextFile(config, proxyConfigYaml("iptables", kubeconfig));

        await t.step(
          "serves /healthz and /metrics after the first sync; SIGTERM exits 0 within 2 s, rules stay",
          async () => {
            const child = startProxy(ns.name, config);
            try {
              await firstSync(child);
              // While it runs: healthy, and the metrics count the sync that happened.
              const healthz = await ns.runner.run("curl", [
                "-sS",
                "http://127.0.0.1:10256/healthz",
              ]);
              assert.match(healthz.stdout, /"currentTime"/, healthz.stderr);
              const metrics = await ns.runner.run("curl", [
                "-sS",
                "http://127.0.0.1:10249/metrics",
              ]);
              const count =
                /^kubeproxy_sync_proxy_rules_duration_seconds_count(?:\{[^}]*\})? (\d+)/m
                  .exec(metrics.stdout);
              assert.ok(Number(count?.[1]) > 0, metrics.stdout.slice(0, 2000));
              const start = performance.now();
              const code = await child.stop("SIGTERM", 5_000);
              const elapsed = performance.now() - start;
              assert.equal(code, 0, child.recentOutput());
              assert.ok(elapsed < 2_500, `took ${Math.round(elapsed)} ms`);
              const saved = await ns.runner.run("iptables-save", ["-t", "nat"]);
              assert.match(saved.stdout, /^-A KUBE-SERVICES /m, "the rules stay after SIGTERM");
            } finally {
              await child.stop("SIGKILL", 2_000);
            }
          },
        );

        await t.step("a second signal during shutdown exits at once (128 + signal)", async () => {
          // The shutdown waits for an apply in flight; an iptables-restore that holds on (once
          // `hold` exists) keeps the process inside its shutdown until the second signal comes.
          // Without that, a shutdown takes a few ms and could end before the second signal.
          const marks = await Deno.makeTempDir({ dir, prefix: "marks-" });
          const wrapped = await holdingTool(marks, "iptables-restore");
          const child = startProxy(ns.name, config, [
            `PATH=${wrapped}:${Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`,
          ]);
          try {
            await firstSync(child);
            await Deno.writeTextFile(join(marks, "hold"), "");
            await api.apply("services", serviceObject(HELD_SERVICE));
            await eventually("an iptables-restore in flight", 10_000, async () => ({
              done: await exists(join(marks, "started")),
              seen: child.recentOutput(),
            }));
            Deno.kill(child.pid, "SIGTERM");
            await eventually("the shutdown to begin", 5_000, () =>
              Promise.resolve({
                done: /Received signal, shutting down/.test(child.allOutput()),
                seen: child.recentOutput(),
              }));
            Deno.kill(child.pid, "SIGINT");
            const code = await exitWithin(child, 2_000);
            assert.equal(code, 130, child.recentOutput());
            assert.match(child.allOutput(), /Second signal received, exiting at once/);
          } finally {
            await child.stop("SIGKILL", 2_000);
            await killHeldTool(marks);
          }
        });

        await t.step("a change to the --config file exits 1 with upstream's message", async () => {
          const child = startProxy(ns.name, config);
          try {
            await firstSync(child);
            await Deno.writeTextFile(config, "# edited\n", { append: true });
            assert.equal(await exitWithin(child, 5_000), 1, child.recentOutput());
            assert.match(
              child.allOutput(),
              /content of the proxy server's configuration file was updated/,
            );
          } finally {
            await child.stop("SIGKILL", 2_000);
          }
        });
      } finally {
        await api.stop();
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
});
