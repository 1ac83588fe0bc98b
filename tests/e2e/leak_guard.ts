/**
 * Keeps the end-to-end suite from leaking namespaces and processes. Normal teardown runs in
 * `finally`; this module covers the rest:
 *
 * - {@linkcode track} registers each namespace and child while it lives; if the test process
 *   unloads with some still registered, they are removed synchronously;
 * - a watchdog, started with the first namespace in its own session (so a Ctrl-C on the
 *   terminal does not reach it), waits for the test process to end however it ends (`deno test`
 *   handles SIGINT itself and exits without `unload`; SIGKILL runs nothing at all), then kills
 *   whatever still runs in this process's namespaces, deletes them and this process's scratch
 *   directories, and exits;
 * - {@linkcode sweepStaleNamespaces} removes what an earlier run left if even the watchdog
 *   died: every namespace named `dkp-e2e-<pid>-…` whose creator pid is no longer alive.
 *
 * @module
 */

/** A resource to remove if the run ends abnormally. */
export type Tracked =
  | { readonly kind: "namespace"; readonly name: string }
  | { readonly kind: "process"; readonly pid: number; readonly label: string };

/** The prefix of every namespace this suite creates; the creator's pid follows it. */
export const NAMESPACE_PREFIX = "dkp-e2e-";

/** The prefix for this process's scratch directories (which the watchdog also removes). */
export function scratchDirPrefix(): string {
  return `${NAMESPACE_PREFIX}${Deno.pid}-`;
}

const live = new Set<Tracked>();
let unloadInstalled = false;
let watchdogStarted = false;

/** Registers `resource`; call the returned function once it has been removed normally. */
export function track(resource: Tracked): () => void {
  live.add(resource);
  if (!unloadInstalled) {
    unloadInstalled = true;
    globalThis.addEventListener("unload", removeAllNow);
  }
  if (resource.kind === "namespace") startWatchdog();
  return () => {
    live.delete(resource);
  };
}

/** Synchronously kills every tracked process and deletes every tracked namespace. */
export function removeAllNow(): void {
  const items = [...live];
  live.clear();
  for (const item of items) {
    if (item.kind !== "process") continue;
    try {
      Deno.kill(item.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  for (const item of items) {
    if (item.kind === "namespace") deleteNamespaceSync(item.name);
  }
}

/**
 * The watchdog: polls the test process every half second; once it is gone, cleans up this
 * run's namespaces by their prefix and exits. It exits on its own in every case.
 */
function startWatchdog(): void {
  if (watchdogStarted) return;
  watchdogStarted = true;
  const prefix = `${NAMESPACE_PREFIX}${Deno.pid}-`;
  const script = [
    `while kill -0 ${Deno.pid} 2>/dev/null; do sleep 0.5; done`,
    `for ns in $(ip netns list | awk '{print $1}' | grep '^${prefix}'); do`,
    `  for pid in $(ip netns pids "$ns"); do kill -9 "$pid" 2>/dev/null; done`,
    `  ip netns delete "$ns"`,
    `done`,
    `rm -rf "\${TMPDIR:-/tmp}"/${prefix}*`,
  ].join("\n");
  const child = new Deno.Command("setsid", {
    args: ["sh", "-c", script],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  // Never keeps the test process alive, and is not awaited.
  child.unref();
  void child.status.catch(() => {});
}

function deleteNamespaceSync(name: string): void {
  const out = new Deno.Command("ip", { args: ["netns", "pids", name], stderr: "null" })
    .outputSync();
  for (const word of new TextDecoder().decode(out.stdout).split(/\s+/)) {
    const pid = Number(word);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  new Deno.Command("ip", { args: ["netns", "delete", name], stdout: "null", stderr: "null" })
    .outputSync();
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Deletes namespaces left by earlier runs of this suite whose process is gone (and kills what
 * still runs inside them). Returns the names removed.
 */
export function sweepStaleNamespaces(): string[] {
  const out = new Deno.Command("ip", { args: ["netns", "list"], stderr: "null" }).outputSync();
  const removed: string[] = [];
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const name = line.split(" ")[0] ?? "";
    const m = new RegExp(`^${NAMESPACE_PREFIX}(\\d+)-`).exec(name);
    if (m === null) continue;
    const pid = Number(m[1]);
    if (pid === Deno.pid || alive(pid)) continue;
    deleteNamespaceSync(name);
    removed.push(name);
  }
  return removed;
}
