/**
 * Go `time.Duration` text, exactly as kube-proxy reads and writes it: `time.ParseDuration` for
 * every duration field and flag, `Duration.String()` for `--write-config-to` and `/configz`.
 *
 * The arithmetic is done in integer nanoseconds (BigInt), as Go does, so that `1.5h`,
 * `0.000000001s` or `2562047h47m16.854775807s` come out exactly; the millisecond wrappers are
 * what the rest of the program uses.
 *
 * @module
 */

const NANOSECOND = 1n;
const MICROSECOND = 1000n * NANOSECOND;
const MILLISECOND = 1000n * MICROSECOND;
const SECOND = 1000n * MILLISECOND;
const MINUTE = 60n * SECOND;
const HOUR = 60n * MINUTE;

/** Go's unit table; both micro signs (U+00B5 and U+03BC) are accepted, like Go. */
const UNITS: ReadonlyMap<string, bigint> = new Map([
  ["ns", NANOSECOND],
  ["us", MICROSECOND],
  ["\u00b5s", MICROSECOND],
  ["\u03bcs", MICROSECOND],
  ["ms", MILLISECOND],
  ["s", SECOND],
  ["m", MINUTE],
  ["h", HOUR],
]);

/** 1<<63: the magnitude limit of a Go Duration (int64 nanoseconds). */
const LIMIT = 1n << 63n;

/**
 * Go's `time.quote`: printable ASCII as is (with `"` and `\` escaped), everything else as `\xNN`
 * bytes. Reproduced so error messages match Go's for odd input too.
 */
function goQuote(text: string): string {
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (code < 0x20 || code >= 0x80) {
      for (const byte of new TextEncoder().encode(char)) {
        out += `\\x${byte.toString(16).padStart(2, "0")}`;
      }
    } else {
      if (char === '"' || char === "\\") out += "\\";
      out += char;
    }
  }
  return out + '"';
}

function isDigit(char: string | undefined): boolean {
  return char !== undefined && char >= "0" && char <= "9";
}

/**
 * Parses Go duration text (`30s`, `1m30s`, `-1.5h`, `0`) into integer nanoseconds.
 *
 * @throws {SyntaxError} with Go's message: `time: invalid duration "x"`,
 *   `time: missing unit in duration "30"`, `time: unknown unit "d" in duration "1d"`.
 */
export function parseGoDurationNanoseconds(text: string): bigint {
  const invalid = () => new SyntaxError(`time: invalid duration ${goQuote(text)}`);
  let rest = text;
  let negative = false;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    negative = rest.startsWith("-");
    rest = rest.slice(1);
  }
  // The only unit-less value Go accepts.
  if (rest === "0") return 0n;
  if (rest === "") throw invalid();

  let total = 0n;
  while (rest !== "") {
    if (!(rest[0] === "." || isDigit(rest[0]))) throw invalid();

    // Integer part; Go rejects it (rather than saturating) once it cannot fit.
    let i = 0;
    let whole = 0n;
    while (isDigit(rest[i])) {
      if (whole > LIMIT / 10n) throw invalid();
      whole = whole * 10n + BigInt(rest.charCodeAt(i) - 48);
      if (whole > LIMIT) throw invalid();
      i++;
    }
    const hasWhole = i > 0;
    rest = rest.slice(i);

    // Fraction part; extra digits beyond int64 precision are consumed and ignored, like Go.
    let fraction = 0n;
    let scale = 1;
    let hasFraction = false;
    if (rest.startsWith(".")) {
      rest = rest.slice(1);
      let j = 0;
      let overflow = false;
      while (isDigit(rest[j])) {
        if (!overflow) {
          const next = fraction * 10n + BigInt(rest.charCodeAt(j) - 48);
          if (fraction > (LIMIT - 1n) / 10n || next > LIMIT) {
            overflow = true;
          } else {
            fraction = next;
            scale *= 10;
          }
        }
        j++;
      }
      hasFraction = j > 0;
      rest = rest.slice(j);
    }
    if (!hasWhole && !hasFraction) throw invalid();

    let k = 0;
    while (k < rest.length && !(rest[k] === "." || isDigit(rest[k]))) k++;
    if (k === 0) throw new SyntaxError(`time: missing unit in duration ${goQuote(text)}`);
    const unitText = rest.slice(0, k);
    rest = rest.slice(k);
    const unit = UNITS.get(unitText);
    if (unit === undefined) {
      throw new SyntaxError(
        `time: unknown unit ${goQuote(unitText)} in duration ${goQuote(text)}`,
      );
    }

    if (whole > LIMIT / unit) throw invalid();
    let value = whole * unit;
    if (fraction > 0n) {
      // Go uses float64 here ("nanosecond accurate for fractions of hours"); same IEEE doubles.
      value += BigInt(Math.trunc(Number(fraction) * (Number(unit) / scale)));
      if (value > LIMIT) throw invalid();
    }
    total += value;
    if (total > LIMIT) throw invalid();
  }
  if (negative) return -total;
  if (total > LIMIT - 1n) throw invalid();
  return total;
}

/**
 * Parses Go duration text into milliseconds (fractional when the text has sub-millisecond
 * precision, e.g. `1500us` → 1.5).
 *
 * @throws {SyntaxError} with Go's message, see {@linkcode parseGoDurationNanoseconds}.
 */
export function parseGoDuration(text: string): number {
  const ns = parseGoDurationNanoseconds(text);
  // Avoid -0 for "-0".
  return ns === 0n ? 0 : Number(ns) / 1e6;
}

/** Appends `.fff` for `value / 10**precision`, dropping trailing zeros (Go's `fmtFrac`). */
function splitFraction(value: bigint, precision: number): { integer: bigint; fraction: string } {
  let digits = "";
  let printed = false;
  let v = value;
  for (let i = 0; i < precision; i++) {
    const digit = v % 10n;
    printed ||= digit !== 0n;
    if (printed) digits = digit.toString() + digits;
    v /= 10n;
  }
  return { integer: v, fraction: printed ? `.${digits}` : "" };
}

/** Formats integer nanoseconds like Go's `Duration.String()`: `1m0s`, `1.5s`, `250ms`, `0s`. */
export function formatGoDurationNanoseconds(ns: bigint): string {
  const negative = ns < 0n;
  let u = negative ? -ns : ns;
  let text: string;
  if (u < SECOND) {
    if (u === 0n) return "0s";
    let unit: string;
    let precision: number;
    if (u < MICROSECOND) {
      unit = "ns";
      precision = 0;
    } else if (u < MILLISECOND) {
      unit = "\u00b5s";
      precision = 3;
    } else {
      unit = "ms";
      precision = 6;
    }
    const { integer, fraction } = splitFraction(u, precision);
    text = `${integer}${fraction}${unit}`;
  } else {
    const { integer, fraction } = splitFraction(u, 9);
    u = integer;
    text = `${u % 60n}${fraction}s`;
    u /= 60n;
    if (u > 0n) {
      text = `${u % 60n}m${text}`;
      u /= 60n;
      if (u > 0n) text = `${u}h${text}`;
    }
  }
  return negative ? `-${text}` : text;
}

/**
 * Formats milliseconds like Go's `Duration.String()` (`30s`, `1m0s`, `15m0s`, `24h0m0s`, `250ms`,
 * `0s`, `1.5s`, `1µs`, `-1s`). Sub-nanosecond parts are rounded away.
 */
export function formatGoDuration(ms: number): string {
  return formatGoDurationNanoseconds(BigInt(Math.round(ms * 1e6)));
}
