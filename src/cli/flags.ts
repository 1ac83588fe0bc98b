/**
 * Command-line parsing with upstream's (spf13/pflag) conventions: `--flag=value` and
 * `--flag value`, bare booleans and `--bool=false`, `-v 4` / `-v=4` / `--v=4`, underscores read as
 * dashes, repeated list flags appended, anything positional rejected.
 *
 * `node:util`'s `parseArgs` does the tokenising and the unknown-flag / missing-value checks; this
 * module first rewrites the pflag-only spellings into forms `parseArgs` understands, then converts
 * each value to its flag's type with an error that names the flag.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { FLAGS, type FlagSpec, flagSpec } from "./flag_table.ts";
import { parseGoDuration } from "../config/duration.ts";
import { parseIPSloppy } from "../model/ip.ts";

/** A flag's value after conversion to its type. */
export type FlagValue =
  | string
  | boolean
  | number
  | readonly string[]
  | Readonly<
    Record<string, boolean>
  >;

/** The flags given on the command line: only those explicitly set, by long name. */
export interface ParsedFlags {
  readonly values: ReadonlyMap<string, FlagValue>;
  /** Notices for deprecated flags that were used (pflag prints these). */
  readonly warnings: readonly string[];
}

/** A command line that cannot be used; the message names the flag. */
export class FlagError extends Error {
  /** @param message What is wrong, naming the flag. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FlagError";
  }
}

/** Parses `args` (without the program name) against the flag table. */
export function parseFlags(args: readonly string[]): ParsedFlags {
  const rewritten = args.map(rewritePflagSpelling);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rewritten,
      options: PARSE_ARGS_OPTIONS,
      strict: true,
      allowPositionals: true,
      allowNegative: true,
    });
  } catch (error) {
    throw new FlagError(describeParseArgsError(error), { cause: error });
  }
  if (parsed.positionals.length > 0) {
    throw new FlagError(
      `"kube-proxy" does not take any arguments, got ${JSON.stringify(parsed.positionals)}`,
    );
  }
  const values = new Map<string, FlagValue>();
  const warnings: string[] = [];
  for (const [name, raw] of Object.entries(parsed.values)) {
    const spec = flagSpec(name);
    if (spec === undefined || raw === undefined) continue;
    values.set(name, convert(spec, raw));
    if (spec.deprecated !== undefined) {
      warnings.push(`Flag --${name} has been deprecated, ${spec.deprecated}`);
    }
  }
  return { values, warnings };
}

type ParseArgsOption = { type: "string" | "boolean"; short?: string; multiple?: boolean };

const PARSE_ARGS_OPTIONS: Record<string, ParseArgsOption> = Object.fromEntries(
  FLAGS.map((spec) => {
    const option: ParseArgsOption = {
      type: spec.type === "bool" || spec.type === "version" ? "boolean" : "string",
      multiple: spec.type === "strings" || spec.type === "mapStringBool",
    };
    if (spec.short !== undefined) option.short = spec.short;
    return [spec.name, option];
  }),
);

const TRUE_WORDS = new Set(["1", "t", "T", "true", "TRUE", "True"]);
const FALSE_WORDS = new Set(["0", "f", "F", "false", "FALSE", "False"]);

/**
 * Rewrites one argument from a pflag spelling into one `parseArgs` accepts:
 * `--hostname_override` → `--hostname-override`, `-v=4` → `--v=4`, `--cleanup=false` →
 * `--no-cleanup`, `--version=raw` → `--version=raw` kept for {@linkcode convert}.
 */
function rewritePflagSpelling(arg: string): string {
  if (arg === "--" || !arg.startsWith("-") || arg === "-") return arg;
  const long = arg.startsWith("--");
  const body = arg.slice(long ? 2 : 1);
  const eq = body.indexOf("=");
  const rawName = eq < 0 ? body : body.slice(0, eq);
  const name = rawName.replaceAll("_", "-");
  const spec = long ? flagSpec(name) : FLAGS.find((f) => f.short === name);
  if (spec === undefined) return long ? `--${name}${eq < 0 ? "" : body.slice(eq)}` : arg;
  if (eq < 0) return `--${spec.name}`;
  const value = body.slice(eq + 1);
  if (spec.type === "bool" || spec.type === "version") {
    if (TRUE_WORDS.has(value)) return `--${spec.name}`;
    if (FALSE_WORDS.has(value)) return `--no-${spec.name}`;
    // parseArgs has no "boolean with an optional value": see wantsRawVersion().
    if (spec.type === "version" && value === "raw") return "--version";
    throw new FlagError(
      `invalid argument ${JSON.stringify(value)} for "--${spec.name}" flag: ` +
        `strconv.ParseBool: parsing ${JSON.stringify(value)}: invalid syntax`,
    );
  }
  return `--${spec.name}=${value}`;
}

/** Whether the command line asked for pflag's `--version=raw` form. */
export function wantsRawVersion(args: readonly string[]): boolean {
  return args.some((a) => /^--?version=raw$/.test(a));
}

function describeParseArgsError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown }).code;
  const unknown = /^Unknown option '(-{1,2}[^']*)'/.exec(message);
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && unknown?.[1] !== undefined) {
    const flag = unknown[1].replace(/^--no-/, "--");
    const spec = flagSpec(flag.replace(/^-+/, ""));
    if (unknown[1].startsWith("--no-") && spec !== undefined) {
      return `unknown flag: ${unknown[1]} (use ${flag}=false)`;
    }
    return `unknown flag: ${unknown[1]}`;
  }
  const missing = /^Option '(?:-\w, )?(--[^ ']+) <value>' argument missing/.exec(message);
  if (missing?.[1] !== undefined) return `flag needs an argument: ${missing[1]}`;
  const ambiguous = /^Option '(?:-\w, )?(--[^ ']+)/.exec(message);
  if (ambiguous?.[1] !== undefined) return `invalid use of flag ${ambiguous[1]}: ${message}`;
  return message;
}

function invalid(spec: FlagSpec, value: string, why: string): FlagError {
  return new FlagError(
    `invalid argument ${JSON.stringify(value)} for "--${spec.name}" flag: ${why}`,
  );
}

function lastOf(raw: string | boolean | (string | boolean)[]): string | boolean {
  return Array.isArray(raw) ? (raw[raw.length - 1] ?? "") : raw;
}

function convert(spec: FlagSpec, raw: string | boolean | (string | boolean)[]): FlagValue {
  if (spec.type === "strings") {
    const items = (Array.isArray(raw) ? raw : [raw]).map(String);
    // pflag's StringSlice reads each occurrence as CSV and appends.
    return items.flatMap((item) => item === "" ? [] : item.split(","));
  }
  if (spec.type === "mapStringBool") {
    return parseMapStringBool(spec, (Array.isArray(raw) ? raw : [raw]).map(String));
  }
  const value = lastOf(raw);
  if (typeof value === "boolean") return value;
  switch (spec.type) {
    case "int32": {
      if (!/^[+-]?\d+$/.test(value)) {
        throw invalid(
          spec,
          value,
          `strconv.ParseInt: parsing ${JSON.stringify(value)}: ` +
            "invalid syntax",
        );
      }
      const n = Number(value);
      if (n < -2147483648 || n > 2147483647) {
        throw invalid(
          spec,
          value,
          `strconv.ParseInt: parsing ${JSON.stringify(value)}: ` +
            "value out of range",
        );
      }
      return n;
    }
    case "level": {
      if (!/^\d+$/.test(value)) {
        throw invalid(
          spec,
          value,
          `strconv.ParseUint: parsing ${JSON.stringify(value)}: ` +
            "invalid syntax",
        );
      }
      return Number(value);
    }
    case "float32": {
      const n = Number(value);
      if (value.trim() === "" || !Number.isFinite(n)) {
        throw invalid(
          spec,
          value,
          `strconv.ParseFloat: parsing ${JSON.stringify(value)}: ` +
            "invalid syntax",
        );
      }
      return n;
    }
    case "duration": {
      try {
        parseGoDuration(value);
      } catch (error) {
        throw invalid(spec, value, error instanceof Error ? error.message : String(error));
      }
      return value;
    }
    case "ip": {
      if (!isIP(value)) throw invalid(spec, value, "failed to parse IP");
      return value;
    }
    case "ipport": {
      if (!isIP(value) && !isIPPort(value)) {
        throw invalid(
          spec,
          value,
          `${JSON.stringify(value)} is not in a valid format (ip or ip:port)`,
        );
      }
      return value;
    }
    default:
      return value;
  }
}

function isIP(value: string): boolean {
  return parseIPSloppy(value) !== null;
}

function isIPPort(value: string): boolean {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value);
  if (match === null) return false;
  const host = match[1] ?? match[2] ?? "";
  const port = Number(match[3]);
  return isIP(host) && port >= 0 && port <= 65535;
}

function parseMapStringBool(spec: FlagSpec, items: readonly string[]): Record<string, boolean> {
  const result: Record<string, boolean> = {};
  for (const item of items) {
    for (const pair of item.split(",")) {
      if (pair.trim() === "") continue;
      const eq = pair.indexOf("=");
      if (eq < 0) throw invalid(spec, item, `missing "=" in ${JSON.stringify(pair)}`);
      const key = pair.slice(0, eq).trim();
      const text = pair.slice(eq + 1).trim();
      if (TRUE_WORDS.has(text)) result[key] = true;
      else if (FALSE_WORDS.has(text)) result[key] = false;
      else {throw invalid(
          spec,
          item,
          `invalid value of ${key}: ${text}, err: ` +
            `strconv.ParseBool: parsing ${JSON.stringify(text)}: invalid syntax`,
        );}
    }
  }
  return result;
}
