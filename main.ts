/**
 * deno-kube-proxy: the entry point and the `deno compile` root. It only wires the real process
 * (arguments, files, stdout/stderr, clock, hostname) into {@linkcode runCli}.
 *
 * @module
 */

import { runCli } from "./src/cli/run.ts";
import { DenoCommandRunner } from "./src/runner.ts";
import { DENO_KERNEL_FILES } from "./src/sync/sysctl.ts";

const encoder = new TextEncoder();

/** writeSync may write only part of a large buffer to a pipe; keep going until all is out. */
function writeAll(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  let bytes = encoder.encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
}

if (import.meta.main) {
  const code = await runCli(Deno.args, {
    readTextFile: (path) => Deno.readTextFile(path),
    writeTextFile: (path, text) => Deno.writeTextFile(path, text),
    stdout: (text) => writeAll(Deno.stdout, text),
    stderr: (text) => writeAll(Deno.stderr, text),
    now: () => new Date(),
    pid: Deno.pid,
    hostname: () => Deno.hostname(),
    env: (name) => Deno.env.get(name),
    runner: new DenoCommandRunner(),
    kernelFiles: DENO_KERNEL_FILES,
  });
  Deno.exit(code);
}
