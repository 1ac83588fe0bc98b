/**
 * The real program under test: `deno run main.ts` from source, started inside the node namespace
 * with an ordinary config file, reading the fake API server over HTTPS on the namespace's
 * loopback.
 *
 * Inside a namespace there is no route to a package registry, so {@linkcode cacheProgram} must
 * run first (in the root namespace) and the program runs with `--cached-only`.
 *
 * @module
 */

import { join } from "node:path";
import type { ImplementedProxyMode } from "../../src/config/types.ts";
import { DenoCommandRunner } from "../../src/runner.ts";
import { LineChild } from "./child.ts";
import type { FakeApi } from "./fake_api.ts";
import type { ProxyUnderTest, Resource } from "./proxy.ts";
import { proxyConfigYaml } from "./proxy_config.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const MAIN = join(ROOT, "main.ts");
const CONFIG = join(ROOT, "deno.json");
const real = new DenoCommandRunner();

/** `deno run` arguments shared by the daemon and `--cleanup` (a function: needs permissions). */
function denoRun(): string[] {
  return [Deno.execPath(), "run", "-A", "--cached-only", "--no-prompt", `--config=${CONFIG}`, MAIN];
}

/** Downloads and compiles everything `main.ts` needs, so it can start without a network. */
export async function cacheProgram(): Promise<void> {
  const result = await real.run(Deno.execPath(), ["cache", `--config=${CONFIG}`, MAIN], {
    timeoutMs: 300_000,
  });
  if (result.code !== 0) throw new Error(`deno cache main.ts failed: ${result.stderr}`);
}

/** How long a stopping proxy may take before it is killed (its own bound is 2 s). */
const STOP_TIMEOUT_MS = 5_000;

/** `main.ts` as a child process in the node namespace; see the module documentation. */
export class DaemonProxy implements ProxyUnderTest {
  readonly mode: ImplementedProxyMode;
  readonly #namespace: string;
  readonly #api: FakeApi;
  readonly #dir: string;
  #child: LineChild | undefined;
  #log = "";

  /**
   * @param namespace The node namespace.
   * @param api The fake API server (already serving the cluster's objects).
   * @param dir A scratch directory for the config, kubeconfig and state file.
   */
  constructor(mode: ImplementedProxyMode, namespace: string, api: FakeApi, dir: string) {
    this.mode = mode;
    this.#namespace = namespace;
    this.#api = api;
    this.#dir = dir;
  }

  /** Writes the config and starts the program; the caller waits until it serves. */
  async start(): Promise<void> {
    const config = await this.#writeConfig();
    this.#child = LineChild.start({
      namespace: this.#namespace,
      label: `kube-proxy (${this.mode})`,
      cwd: ROOT,
      command: [...denoRun(), `--config=${config}`, `--state-file=${this.#stateFile()}`, "-v=2"],
    });
  }

  /** The exit code once the program has exited on its own; null while it runs. */
  exitCode(): number | null {
    return this.#child?.exitCode ?? null;
  }

  /** Sends the change to the fake API server; the proxy sees it through its watch. */
  apply(resource: Resource, object: object): Promise<void> {
    return this.#api.apply(resource, object);
  }

  /** Deletes through the fake API server. */
  delete(resource: Resource, namespace: string, name: string): Promise<void> {
    return this.#api.delete(resource, namespace, name);
  }

  /** SIGTERM, as a supervisor stops it; the rules stay in place. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#child = undefined;
    const code = await child.stop("SIGTERM", STOP_TIMEOUT_MS);
    this.#log += `${child.allOutput()}\n[stopped: exit code ${code}]\n`;
  }

  /** Runs `main.ts --cleanup` in the node namespace and throws unless it exits 0. */
  async cleanup(): Promise<void> {
    const config = await this.#writeConfig();
    const result = await real.run(
      "ip",
      ["netns", "exec", this.#namespace, ...denoRun(), `--config=${config}`, "--cleanup"],
      { timeoutMs: 60_000 },
    );
    this.#log += `[--cleanup exit code ${result.code}]\n${result.stderr}`;
    if (result.code !== 0) {
      throw new Error(`--cleanup exited with ${result.code}:\n${result.stderr}`);
    }
  }

  /** Everything the program printed (logs go to stderr). */
  output(): string {
    return this.#log + (this.#child?.allOutput() ?? "");
  }

  async #writeConfig(): Promise<string> {
    const kubeconfig = await this.#api.writeKubeconfig(this.#dir);
    const path = join(this.#dir, `kube-proxy-${this.mode}.yaml`);
    await Deno.writeTextFile(path, proxyConfigYaml(this.mode, kubeconfig));
    return path;
  }

  #stateFile(): string {
    return join(this.#dir, "state.json");
  }
}
