/**
 * Logging in the two formats upstream's component-base offers: klog-style text lines
 * (`I1126 06:56:51.123456    4242 kube-proxy] "message" key="value"`) and JSON lines
 * (`{"ts":…,"v":0,"msg":"message","key":"value"}`), with `-v` levels. The clock and the writer are
 * parameters, so tests see exactly what an operator sees.
 *
 * @module
 */

/** Structured key/value pairs attached to a message. */
export type LogFields = Readonly<Record<string, unknown>>;

/** The logging surface every module takes as a parameter. */
export interface Logger {
  /** The `-v` level in force. */
  readonly verbosity: number;
  /** An informational message, shown when `level` ≤ the verbosity. */
  info(message: string, fields?: LogFields, level?: number): void;
  /** Something an operator should look at; always shown. */
  warn(message: string, fields?: LogFields): void;
  /** Something failed; always shown. */
  error(message: string, fields?: LogFields): void;
}

/** Where and how a logger writes. */
export interface LoggerOptions {
  readonly format: "text" | "json";
  readonly verbosity: number;
  /** Receives one complete line (with its newline). */
  readonly write: (line: string) => void;
  readonly now: () => Date;
  readonly pid: number;
}

/** Creates a logger. Unknown formats are rejected by config validation before this is called. */
export function createLogger(options: LoggerOptions): Logger {
  const emit = (severity: "I" | "W" | "E", level: number, message: string, fields?: LogFields) => {
    const line = options.format === "json"
      ? jsonLine(options.now(), level, severity, message, fields)
      : textLine(options.now(), options.pid, severity, message, fields);
    options.write(line);
  };
  return {
    verbosity: options.verbosity,
    info(message, fields, level = 0) {
      if (level <= options.verbosity) emit("I", level, message, fields);
    },
    warn(message, fields) {
      emit("W", 0, message, fields);
    },
    error(message, fields) {
      emit("E", 0, message, fields);
    },
  };
}

/** A logger that drops everything (for tests and library callers that do not care). */
export const SILENT_LOGGER: Logger = {
  verbosity: 0,
  info() {},
  warn() {},
  error() {},
};

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

function textLine(
  now: Date,
  pid: number,
  severity: string,
  message: string,
  fields?: LogFields,
): string {
  const stamp = `${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())} ` +
    `${pad(now.getUTCHours())}:${pad(now.getUTCMinutes())}:${pad(now.getUTCSeconds())}.` +
    `${pad(now.getUTCMilliseconds(), 3)}000`;
  const pairs = Object.entries(fields ?? {}).map(([k, v]) => ` ${k}=${formatValue(v)}`).join("");
  return `${severity}${stamp} ${String(pid).padStart(7)} kube-proxy] ${
    JSON.stringify(message)
  }${pairs}\n`;
}

function jsonLine(
  now: Date,
  level: number,
  severity: string,
  message: string,
  fields?: LogFields,
): string {
  const record: Record<string, unknown> = { ts: now.getTime() / 1000, caller: "kube-proxy" };
  if (severity === "E") record.err = message;
  else record.v = level;
  record.msg = message;
  for (const [k, v] of Object.entries(fields ?? {})) {
    record[k] = v instanceof Error ? v.message : v;
  }
  return JSON.stringify(record) + "\n";
}

function formatValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  if (typeof value === "string") return JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}
