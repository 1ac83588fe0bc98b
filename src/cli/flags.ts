/**
 * Command-line parsing with upstream's (spf13/pflag) conventions: `--flag=value` and
 * `--flag value`, bare booleans and `--bool=false`, `-v 4` / `-v=4` / `--v=4`, underscores read as
 * dashes, repeated list flags appended, anything positional rejected.
 *
 * The tokenising follows pflag's rules and error texts (`unknown flag: --x`, `flag needs an
 * argument: --config`); each value is then converted to its flag's type with an error that names
 * the flag. Written here rather than on `node:util`'s `parseArgs`: importing any `node:` module
 * loads Deno's Node compatibility layer, several MiB of resident memory for the whole life of the
 * daemon.
 *
 * @module
 */

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
  const raw = new Map<FlagSpec, string[]>();
  const positionals: string[] = [];
  const set = (spec: FlagSpec, value: string) => {
    const list = raw.get(spec);
    if (list === undefined) raw.set(spec, [value]);
    else list.push(value);
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? "";
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const long = arg.startsWith("--");
    const body = arg.slice(long ? 2 : 1);
    if (long && (body.startsWith("-") || body.startsWith("="))) {
      throw new FlagError(`bad flag syntax: ${arg}`);
    }
    const eq = body.indexOf("=");
    let spec: FlagSpec | undefined;
    let value: string | undefined;
    if (long) {
      spec = flagSpec((eq < 0 ? body : body.slice(0, eq)).replaceAll("_", "-"));
      if (spec === undefined) throw new FlagError(unknownLongFlag(body.split("=")[0] ?? ""));
      if (eq >= 0) value = body.slice(eq + 1);
    } else {
      // pflag's shorthand forms: `-v 4`, `-v=4`, `-v4`.
      const short = body[0] ?? "";
      spec = FLAGS.find((f) => f.short === short);
      if (spec === undefined) throw new FlagError(`unknown shorthand flag: '${short}' in ${arg}`);
      if (body.length > 1) value = body.slice(body[1] === "=" ? 2 : 1);
    }
    if (value === undefined) {
      if (spec.type === "bool" || spec.type === "version") value = "true";
      else if (i + 1 < args.length) value = args[++i] ?? "";
      else {
        throw new FlagError(
          long
            ? `flag needs an argument: ${arg}`
            : `flag needs an argument: '${spec.short}' in ${arg}`,
        );
      }
    }
    set(spec, value);
  }
  if (positionals.length > 0) {
    throw new FlagError(
      `"kube-proxy" does not take any arguments, got ${JSON.stringify(positionals)}`,
    );
  }
  const values = new Map<string, FlagValue>();
  const warnings: string[] = [];
  for (const [spec, given] of raw) {
    values.set(spec.name, convert(spec, given));
    if (spec.deprecated !== undefined) {
      warnings.push(`Flag --${spec.name} has been deprecated, ${spec.deprecated}`);
    }
  }
  return { values, warnings };
}

/** pflag's message, plus a hint for the `--no-<bool>` spelling other CLIs accept. */
function unknownLongFlag(name: string): string {
  const negated = name.startsWith("no-") ? flagSpec(name.slice(3).replaceAll("_", "-")) : undefined;
  return negated?.type === "bool"
    ? `unknown flag: --${name} (use --${negated.name}=false)`
    : `unknown flag: --${name}`;
}

const TRUE_WORDS = new Set(["1", "t", "T", "true", "TRUE", "True"]);
const FALSE_WORDS = new Set(["0", "f", "F", "false", "FALSE", "False"]);

/** Whether the command line asked for pflag's `--version=raw` form. */
export function wantsRawVersion(args: readonly string[]): boolean {
  return args.some((a) => /^--?version=raw$/.test(a));
}

function invalid(spec: FlagSpec, value: string, why: string): FlagError {
  return new FlagError(
    `invalid argument ${JSON.stringify(value)} for "--${spec.name}" flag: ${why}`,
  );
}

/** Converts every value given for one flag (in command-line order) to the flag's type. */
function convert(spec: FlagSpec, given: readonly string[]): FlagValue {
  if (spec.type === "strings") {
    // pflag's StringSlice reads each occurrence as CSV and appends.
    return given.flatMap((item) => item === "" ? [] : item.split(","));
  }
  if (spec.type === "mapStringBool") return parseMapStringBool(spec, given);
  // Scalars: the last occurrence wins, as in pflag.
  const value = given[given.length - 1] ?? "";
  switch (spec.type) {
    case "bool":
    case "version": {
      if (TRUE_WORDS.has(value)) return true;
      if (FALSE_WORDS.has(value)) return false;
      // `--version=raw`: pflag's version flag is a tri-state; see wantsRawVersion().
      if (spec.type === "version" && value === "raw") return true;
      throw invalid(
        spec,
        value,
        `strconv.ParseBool: parsing ${JSON.stringify(value)}: invalid syntax`,
      );
    }
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
