/**
 * Runs `nft -f -` through the runner seam. A transaction is atomic: when nft refuses any part of
 * it, nothing changes. Failures become {@linkcode ApplyError}s that show nft's complaint and the
 * offending statement, cut around the place nft points at (element statements can be long).
 *
 * @module
 */

import type { IPFamily } from "../../model/mod.ts";
import { CommandNotFoundError, type CommandResult, type CommandRunner } from "../../runner.ts";
import { ApplyError } from "../backend.ts";
import { LINE_CHUNK_SIZE, lineChunks } from "../line_chunks.ts";

/** Kill a hung nft after this long unless the caller says otherwise. */
export const DEFAULT_APPLY_TIMEOUT_MS = 60_000;

/** Bytes per stdin write: large transactions are streamed, not joined into one string. */
export const CHUNK_BYTES = LINE_CHUNK_SIZE;

/** Lines joined into newline-terminated chunks of about {@linkcode CHUNK_BYTES}. */
export function transactionChunks(
  lines: Iterable<string>,
  size = CHUNK_BYTES,
): Generator<string> {
  return lineChunks(lines, size);
}

/** One error nft reported about its input. */
export interface NftInputError {
  /** 1-based line of the transaction. */
  readonly line: number;
  /** 1-based first and last column nft marked. */
  readonly from: number;
  readonly to: number;
  /** nft's words, e.g. `Could not process rule: No such file or directory`. */
  readonly message: string;
}

/** The first `FILE:LINE:FROM-TO: Error: MESSAGE` of nft's stderr, or null. */
export function parseNftError(stderr: string): NftInputError | null {
  const m = /^[^\n]*?:(\d+):(\d+)(?:-(\d+))?: Error: ([^\n]*)$/m.exec(stderr);
  if (m === null) return null;
  const from = Number(m[2]);
  return {
    line: Number(m[1]),
    from,
    to: m[3] === undefined ? from : Number(m[3]),
    message: (m[4] ?? "").trim(),
  };
}

const EXCERPT_WIDTH = 200;

/** The statement nft complained about, cut to about 200 characters around the marked part. */
export function offendingStatement(lines: Iterable<string>, error: NftInputError): string {
  const text = lineAt(lines, error.line);
  if (text === undefined) return "";
  if (text.length <= EXCERPT_WIDTH) return text;
  const centre = Math.floor((error.from + error.to) / 2) - 1;
  const start = Math.max(0, Math.min(centre - EXCERPT_WIDTH / 2, text.length - EXCERPT_WIDTH));
  const end = Math.min(text.length, start + EXCERPT_WIDTH);
  return (start > 0 ? "…" : "") + text.slice(start, end) + (end < text.length ? "…" : "");
}

/** The `number`th (1-based) line, reading no further than it. */
function lineAt(lines: Iterable<string>, number: number): string | undefined {
  let n = 0;
  for (const line of lines) if (++n === number) return line;
  return undefined;
}

function lineCount(lines: Iterable<string>): number {
  let n = 0;
  for (const _ of lines) n++;
  return n;
}

/**
 * The message of a failed `nft -f`. `lines` is read again to quote the offending statement
 * (a streamed transaction writes the same lines again).
 */
export function nftFailureMessage(
  family: IPFamily,
  result: CommandResult,
  lines: Iterable<string>,
): string {
  if (result.timedOut) {
    return `nft did not finish the ${family} transaction within the apply timeout and was killed; ` +
      `the previous rules stay in force`;
  }
  const parsed = parseNftError(result.stderr);
  if (parsed === null) {
    const complaint = result.stderr.trim() || result.stdout.trim() || "no output";
    return `nft rejected the ${family} transaction (exit status ${result.code}): ${complaint}`;
  }
  return `nft rejected the ${family} transaction (exit status ${result.code}): ` +
    `${parsed.message}\nat line ${parsed.line} of ${lineCount(lines)}: ` +
    offendingStatement(lines, parsed);
}

/**
 * Feeds `lines` to `nft -f -` as one atomic transaction and returns how many bytes that was.
 * Throws {@linkcode ApplyError} (with `family`) when nft cannot run, times out or refuses the
 * input; nothing was applied then.
 */
export async function runNft(
  runner: CommandRunner,
  family: IPFamily,
  lines: Iterable<string>,
  timeoutMs: number = DEFAULT_APPLY_TIMEOUT_MS,
): Promise<number> {
  let result: CommandResult;
  let bytes = 0;
  const counted = function* () {
    // Statements are ASCII: characters are bytes.
    for (const chunk of transactionChunks(lines)) {
      bytes += chunk.length;
      yield chunk;
    }
  };
  try {
    result = await runner.run("nft", ["-f", "-"], { stdin: counted(), timeoutMs });
  } catch (error) {
    if (error instanceof CommandNotFoundError) {
      throw new ApplyError(
        `Cannot run nft for the ${family} rules: install the nftables package (nft 1.0.1 or ` +
          `newer) or choose --proxy-mode=iptables`,
        family,
        { cause: error },
      );
    }
    throw new ApplyError(`Running nft for the ${family} rules failed: ${String(error)}`, family, {
      cause: error,
    });
  }
  if (result.code !== 0 || result.timedOut) {
    throw new ApplyError(nftFailureMessage(family, result, lines), family);
  }
  return bytes;
}
