/**
 * The one seam through which the program starts other processes (`iptables-restore`, `nft`,
 * `conntrack`, …). Everything else takes a {@linkcode CommandRunner} as a parameter, so tests use
 * a recording fake (tests/fixtures/recording_runner.ts) or run the real tools inside a network
 * namespace ({@linkcode NetnsRunner}). No other file may call `Deno.Command`.
 *
 * @module
 */

import { utf8Chunks } from "./utf8_chunks.ts";

/** What a finished command reported. */
export interface CommandResult {
  /** Exit code; -1 when the command was killed on timeout. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** True when the command was killed because it ran past `timeoutMs`. */
  readonly timedOut: boolean;
}

/** How to run one command. */
export interface RunOptions {
  /**
   * Fed to the command's standard input. Chunks are written one by one, so a large ruleset can be
   * streamed without first joining it into one giant string.
   */
  readonly stdin?: string | Iterable<string>;
  /** Kill the command (SIGKILL) after this many milliseconds. */
  readonly timeoutMs?: number;
}

/** Starts processes. */
export interface CommandRunner {
  /** Runs `command` with `args`; resolves when it exits, rejects only if it cannot start. */
  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult>;
}

/** A command that could not be started at all (not installed, not permitted). */
export class CommandNotFoundError extends Error {
  /** @param command The program that could not be started. */
  constructor(readonly command: string, options?: ErrorOptions) {
    super(`Cannot run ${JSON.stringify(command)}: not installed or not permitted`, options);
    this.name = "CommandNotFoundError";
  }
}

const decoder = new TextDecoder();

/** The real runner, on `Deno.Command`. */
export class DenoCommandRunner implements CommandRunner {
  /** Runs the command for real. */
  async run(
    command: string,
    args: readonly string[],
    options: RunOptions = {},
  ): Promise<CommandResult> {
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(command, {
        args: [...args],
        stdin: options.stdin === undefined ? "null" : "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotCapable) {
        throw new CommandNotFoundError(command, { cause: error });
      }
      throw error;
    }
    let timedOut = false;
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      try {
        child.kill("SIGKILL");
      } catch {
        // Already exited: nothing to kill.
      }
    }, options.timeoutMs);
    try {
      const feeding = options.stdin === undefined
        ? Promise.resolve()
        : feed(child.stdin, options.stdin);
      const [output] = await Promise.all([child.output(), feeding.catch(() => {})]);
      return {
        code: timedOut ? -1 : output.code,
        stdout: decoder.decode(output.stdout),
        stderr: decoder.decode(output.stderr),
        timedOut,
      };
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }
}

async function feed(stdin: WritableStream<Uint8Array>, input: string | Iterable<string>) {
  const writer = stdin.getWriter();
  try {
    // Each write completes before the buffer is reused for the next chunk.
    for (const bytes of utf8Chunks(input)) await writer.write(bytes);
  } finally {
    await writer.close().catch(() => {});
  }
}

/** Runs every command inside a network namespace (`ip netns exec NAME …`): for tests and bench. */
export class NetnsRunner implements CommandRunner {
  /**
   * @param inner The runner that starts `ip`.
   * @param namespace The network namespace's name.
   */
  constructor(private readonly inner: CommandRunner, readonly namespace: string) {}

  /** Runs `command` inside the namespace. */
  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult> {
    return this.inner.run("ip", ["netns", "exec", this.namespace, command, ...args], options);
  }
}
