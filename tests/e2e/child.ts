/**
 * Long-running child processes of the end-to-end suite (agents, the fake API server, the proxy),
 * each started inside a network namespace with `ip netns exec`. `src/runner.ts` only runs
 * commands to completion; these need to live beside the test and talk over stdin/stdout, so this
 * is the one e2e module that calls `Deno.Command` directly.
 *
 * Every child is registered with {@linkcode track} so an interrupted run kills it (see
 * `leak_guard.ts`).
 *
 * @module
 */

import { track } from "./leak_guard.ts";

const encoder = new TextEncoder();

/** How a child is started. */
export interface ChildOptions {
  /** The network namespace to run in. */
  readonly namespace: string;
  /** The program and its arguments. */
  readonly command: readonly string[];
  /** A label for messages. */
  readonly label: string;
  /** Working directory. */
  readonly cwd?: string;
}

/** A bounded wait ran out. */
export class WaitTimeoutError extends Error {
  /** @param message What was awaited, and the recent output of the child. */
  constructor(message: string) {
    super(message);
    this.name = "WaitTimeoutError";
  }
}

/** A child whose stdout is read line by line and whose stderr is kept for diagnostics. */
export class LineChild {
  /** The label given at start. */
  readonly label: string;
  /** The process id (of the program itself: `ip netns exec` execs it). */
  readonly pid: number;
  /** Resolves with the exit code when the child has exited. */
  readonly exited: Promise<number>;

  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: string[] = [];
  readonly #waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  readonly #log: string[] = [];
  readonly #untrack: () => void;
  #exitCode: number | null = null;

  private constructor(label: string, child: Deno.ChildProcess) {
    this.label = label;
    this.#child = child;
    this.pid = child.pid;
    this.#writer = child.stdin.getWriter();
    this.#untrack = track({ kind: "process", pid: child.pid, label });
    void this.#read(child.stdout, (line) => this.#onLine(line));
    void this.#read(child.stderr, (line) => this.#remember(`stderr: ${line}`));
    this.exited = child.status.then((status) => {
      this.#exitCode = status.code;
      this.#untrack();
      return status.code;
    });
  }

  /** Starts `command` inside `namespace`. */
  static start(options: ChildOptions): LineChild {
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", options.namespace, ...options.command],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      // No update check: it would send DNS queries towards the host's resolver.
      env: { DENO_NO_UPDATE_CHECK: "1" },
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    }).spawn();
    return new LineChild(options.label, child);
  }

  /** The exit code, or null while running. */
  get exitCode(): number | null {
    return this.#exitCode;
  }

  /** The last lines of output (stdout and stderr), for failure messages. */
  recentOutput(lines = 40): string {
    return this.#log.slice(-lines).join("\n");
  }

  /** Every output line so far (stdout and stderr, stderr prefixed). */
  allOutput(): string {
    return this.#log.join("\n");
  }

  /** Writes one line to the child's stdin. */
  async send(line: string): Promise<void> {
    await this.#writer.write(encoder.encode(line + "\n"));
  }

  /**
   * Resolves with the first stdout line (already received or future) that `match` accepts and
   * consumes it; rejects after `timeoutMs` or when the child exits first.
   */
  nextLine(match: (line: string) => boolean, timeoutMs: number, what: string): Promise<string> {
    const index = this.#lines.findIndex(match);
    if (index >= 0) return Promise.resolve(this.#lines.splice(index, 1)[0] as string);
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new WaitTimeoutError(`${this.label}: ${why} ${what}\n${this.recentOutput()}`));
      };
      const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms to`), timeoutMs);
      const waiter = {
        match,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      this.#waiters.push(waiter);
      void this.exited.then((code) => {
        if (!this.#waiters.includes(waiter)) return;
        clearTimeout(timer);
        fail(`exited with code ${code} before answering`);
      });
    });
  }

  /** Sends `signal`, waits up to `timeoutMs` for the exit, then kills; resolves with the code. */
  async stop(signal: Deno.Signal = "SIGTERM", timeoutMs = 5_000): Promise<number> {
    if (this.#exitCode !== null) return this.#exitCode;
    try {
      this.#child.kill(signal);
    } catch {
      // Exited meanwhile.
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<number>((resolve) => {
      timer = setTimeout(() => {
        try {
          this.#child.kill("SIGKILL");
        } catch {
          // Exited meanwhile.
        }
        resolve(-1);
      }, timeoutMs);
    });
    const code = await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    await this.#writer.close().catch(() => {});
    await this.exited;
    return code;
  }

  #onLine(line: string): void {
    this.#remember(line);
    const waiter = this.#waiters.find((w) => w.match(line));
    if (waiter === undefined) {
      this.#lines.push(line);
      return;
    }
    this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
    waiter.resolve(line);
  }

  #remember(line: string): void {
    this.#log.push(line);
    if (this.#log.length > 2_000) this.#log.splice(0, 1_000);
  }

  async #read(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
    let buffered = "";
    try {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        buffered += chunk;
        let newline: number;
        while ((newline = buffered.indexOf("\n")) >= 0) {
          onLine(buffered.slice(0, newline));
          buffered = buffered.slice(newline + 1);
        }
      }
    } catch {
      // The child went away.
    }
    if (buffered !== "") onLine(buffered);
  }
}
