/**
 * Peak memory of the bench process and of the kernel tools it starts.
 *
 * Our own peak comes from `/proc/self/status` (`VmHWM`, the high-water mark of resident memory),
 * which is why every (size, mode) runs in a fresh child process: the mark never goes down.
 * Deno 2 only lets a `--allow-all` process read `/proc/self`, so the cluster bench starts its
 * children with `-A`; elsewhere the readers return null instead of failing.
 *
 * A tool's peak comes from GNU time (`/usr/bin/time -f %M`, `apt-get install time`), wrapped
 * around the command by {@linkcode PeakRssRunner}, so the rest of the code still goes through
 * the {@linkcode CommandRunner} seam.
 *
 * @module
 */

import type { CommandResult, CommandRunner, RunOptions } from "../../src/runner.ts";

const MIB = 1024 * 1024;

/** Parses a `Vm…:   123 kB` line of `/proc/<pid>/status` into MiB; null when absent. */
export function statusFieldMiB(status: string, field: string): number | null {
  const match = new RegExp(`^${field}:\\s*(\\d+)\\s*kB`, "m").exec(status);
  return match?.[1] === undefined ? null : Number(match[1]) * 1024 / MIB;
}

/** This process's peak resident memory in MiB, or null where `/proc/self` cannot be read. */
export function peakRssMiB(): number | null {
  try {
    return statusFieldMiB(Deno.readTextFileSync("/proc/self/status"), "VmHWM");
  } catch {
    return null;
  }
}

/** Where GNU time lives, or null when it is not installed. */
export function gnuTimePath(): string | null {
  try {
    return Deno.statSync("/usr/bin/time").isFile ? "/usr/bin/time" : null;
  } catch {
    return null;
  }
}

/** One tool run seen by {@linkcode PeakRssRunner}. */
export interface ToolRun {
  /** The command as asked for (before any wrapping). */
  readonly command: string;
  /** Wall time of the run, including the wrapper's own start-up (about a millisecond). */
  readonly ms: number;
  /** The tool's peak resident memory, or null when GNU time is missing. */
  readonly peakRssMiB: number | null;
  /** Whether the tool was fed a ruleset on stdin (a restore / `nft -f -`). */
  readonly withInput: boolean;
}

let reports = 0;

/**
 * Runs commands through GNU time when `measure` is on, recording time and peak RSS of each.
 * Wrap it inside a namespace runner's caller (`new PeakRssRunner(netnsRunner)`): the tool then
 * runs as `ip netns exec NS /usr/bin/time -o FILE -f %M TOOL ARGS`, whose stderr stays the
 * tool's own, so error parsing is unaffected.
 */
export class PeakRssRunner implements CommandRunner {
  /** Every run since construction (or the last {@linkcode reset}). */
  readonly runs: ToolRun[] = [];
  /** Off: pass commands straight through (timed, no RSS), e.g. for latency loops. */
  measure = true;
  readonly #time: string | null;

  /**
   * @param inner The runner that does the work (usually a `NetnsRunner`).
   * @param timePath GNU time, or null to only time commands.
   */
  constructor(private readonly inner: CommandRunner, timePath: string | null = gnuTimePath()) {
    this.#time = timePath;
  }

  /** Forgets recorded runs. */
  reset(): void {
    this.runs.length = 0;
  }

  /** Runs `command`, wrapped in GNU time when measuring. */
  async run(
    command: string,
    args: readonly string[],
    options?: RunOptions,
  ): Promise<CommandResult> {
    const withInput = options?.stdin !== undefined;
    if (!this.measure || this.#time === null) {
      const t = performance.now();
      const result = await this.inner.run(command, args, options);
      this.runs.push({ command, ms: performance.now() - t, peakRssMiB: null, withInput });
      return result;
    }
    const out = `${Deno.makeTempDirSync({ prefix: "dkp-bench-rss-" })}/${++reports}`;
    const t = performance.now();
    try {
      // Killing the wrapper on timeout would orphan the tool: let `timeout` kill the tool itself
      // a moment earlier. GNU time's %M covers the waited-for grandchild (the tool).
      const killer = options?.timeoutMs === undefined
        ? []
        : ["timeout", "-s", "KILL", `${Math.max(1, Math.floor(options.timeoutMs / 1000) - 1)}`];
      const result = await this.inner.run(
        this.#time,
        ["-o", out, "-f", "%M", ...killer, command, ...args],
        options,
      );
      const ms = performance.now() - t;
      let peak: number | null = null;
      try {
        const kb = Number(Deno.readTextFileSync(out).trim().split("\n").pop());
        peak = Number.isFinite(kb) && kb > 0 ? kb * 1024 / MIB : null;
      } catch {
        // time writes nothing when the tool was killed (timeout): no peak to report.
      }
      this.runs.push({ command, ms, peakRssMiB: peak, withInput });
      return result;
    } finally {
      Deno.removeSync(out.slice(0, out.lastIndexOf("/")), { recursive: true });
    }
  }
}

/** The largest peak among `runs`, or null when none was measured. */
export function maxPeak(runs: readonly ToolRun[]): number | null {
  const peaks = runs.map((r) => r.peakRssMiB).filter((p): p is number => p !== null);
  return peaks.length === 0 ? null : Math.max(...peaks);
}
