import assert from "node:assert/strict";
import {
  formatGoDuration,
  formatGoDurationNanoseconds,
  parseGoDuration,
  parseGoDurationNanoseconds,
} from "../../src/config/duration.ts";

// Cases from Go's time package tests (TestParseDuration) plus the forms kube-proxy files use.
const PARSE_CASES: ReadonlyArray<readonly [string, bigint]> = [
  ["0", 0n],
  ["+0", 0n],
  ["-0", 0n],
  ["5s", 5_000_000_000n],
  ["30s", 30_000_000_000n],
  ["1478s", 1_478_000_000_000n],
  ["-5s", -5_000_000_000n],
  ["+5s", 5_000_000_000n],
  ["-0s", 0n],
  ["0s", 0n],
  ["5.0s", 5_000_000_000n],
  ["5.6s", 5_600_000_000n],
  ["5.s", 5_000_000_000n],
  [".5s", 500_000_000n],
  ["1.0s", 1_000_000_000n],
  ["1.00s", 1_000_000_000n],
  ["1.004s", 1_004_000_000n],
  ["1.0040s", 1_004_000_000n],
  ["100.00100s", 100_001_000_000n],
  ["10ns", 10n],
  ["11us", 11_000n],
  ["12\u00b5s", 12_000n],
  ["12\u03bcs", 12_000n],
  ["13ms", 13_000_000n],
  ["14s", 14_000_000_000n],
  ["15m", 900_000_000_000n],
  ["16h", 57_600_000_000_000n],
  ["3h30m", 12_600_000_000_000n],
  ["10.5s4m", 250_500_000_000n],
  ["-2m3.4s", -123_400_000_000n],
  ["1h2m3s4ms5us6ns", 3_723_004_005_006n],
  ["39h9m14.425s", 140_954_425_000_000n],
  ["52763797000ns", 52_763_797_000n],
  ["0.3333333333333333333h", 1_200_000_000_000n],
  ["9007199254740993ns", 9_007_199_254_740_993n],
  ["9223372036854775807ns", 9_223_372_036_854_775_807n],
  ["9223372036854775.807us", 9_223_372_036_854_775_807n],
  ["9223372036s854ms775us807ns", 9_223_372_036_854_775_807n],
  ["-9223372036854775808ns", -9_223_372_036_854_775_808n],
  ["-9223372036854775.808us", -9_223_372_036_854_775_808n],
  ["0.100000000000000000000h", 360_000_000_000n],
  ["0.830103483285477580700h", 2_988_372_539_827n],
  ["1m0s", 60_000_000_000n],
  ["24h0m0s", 86_400_000_000_000n],
  ["2h22m", 8_520_000_000_000n],
  ["1.5h", 5_400_000_000_000n],
];

Deno.test("parseGoDurationNanoseconds() parses every form Go's time.ParseDuration accepts", () => {
  for (const [text, ns] of PARSE_CASES) {
    assert.equal(parseGoDurationNanoseconds(text), ns, text);
  }
});

Deno.test("parseGoDuration() returns milliseconds, fractional below a millisecond", () => {
  assert.equal(parseGoDuration("30s"), 30_000);
  assert.equal(parseGoDuration("15m0s"), 900_000);
  assert.equal(parseGoDuration("250ms"), 250);
  assert.equal(parseGoDuration("1500us"), 1.5);
  assert.equal(parseGoDuration("1ns"), 0.000001);
  assert.equal(parseGoDuration("-1s"), -1_000);
  assert.equal(Object.is(parseGoDuration("-0"), 0), true);
});

const PARSE_ERRORS: ReadonlyArray<readonly [string, string]> = [
  ["", 'time: invalid duration ""'],
  ["3", 'time: missing unit in duration "3"'],
  ["30", 'time: missing unit in duration "30"'],
  ["-", 'time: invalid duration "-"'],
  ["s", 'time: invalid duration "s"'],
  [".", 'time: invalid duration "."'],
  ["-.", 'time: invalid duration "-."'],
  [".s", 'time: invalid duration ".s"'],
  ["+.s", 'time: invalid duration "+.s"'],
  ["1d", 'time: unknown unit "d" in duration "1d"'],
  ["1w", 'time: unknown unit "w" in duration "1w"'],
  ["1.5S", 'time: unknown unit "S" in duration "1.5S"'],
  ["1m30", 'time: missing unit in duration "1m30"'],
  [" 30s", 'time: invalid duration " 30s"'],
  ["30 s", 'time: unknown unit " s" in duration "30 s"'],
  ["9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"'],
  ["9223372036854775.808us", 'time: invalid duration "9223372036854775.808us"'],
  ["9223372036854ms775us808ns", 'time: invalid duration "9223372036854ms775us808ns"'],
  ["-9223372036854775809ns", 'time: invalid duration "-9223372036854775809ns"'],
  ["3000000h", 'time: invalid duration "3000000h"'],
  ["1\u00b5x", 'time: unknown unit "\\xc2\\xb5x" in duration "1\\xc2\\xb5x"'],
];

Deno.test("parseGoDuration() rejects malformed text with Go's messages", () => {
  for (const [text, message] of PARSE_ERRORS) {
    assert.throws(
      () => parseGoDuration(text),
      { name: "SyntaxError", message },
      JSON.stringify(text),
    );
  }
});

Deno.test("parseGoDuration() rejects a number without a unit", () => {
  assert.throws(() => parseGoDuration("30"), {
    name: "SyntaxError",
    message: 'time: missing unit in duration "30"',
  });
});

// Cases from Go's TestDurationString plus the values kube-proxy writes.
const FORMAT_CASES: ReadonlyArray<readonly [bigint, string]> = [
  [0n, "0s"],
  [1n, "1ns"],
  [1_100n, "1.1\u00b5s"],
  [1_000n, "1\u00b5s"],
  [2_200_000n, "2.2ms"],
  [250_000_000n, "250ms"],
  [3_300_000_000n, "3.3s"],
  [1_500_000_000n, "1.5s"],
  [1_000_000_000n, "1s"],
  [30_000_000_000n, "30s"],
  [60_000_000_000n, "1m0s"],
  [264_000_000_000n, "4m24s"],
  [900_000_000_000n, "15m0s"],
  [3_600_000_000_000n, "1h0m0s"],
  [86_400_000_000_000n, "24h0m0s"],
  [18_367_001_000_000n, "5h6m7.001s"],
  [8_820_000_000_000n, "2h27m0s"],
  [-1_000_000_000n, "-1s"],
  [-1n, "-1ns"],
  [9_223_372_036_854_775_807n, "2562047h47m16.854775807s"],
  [-9_223_372_036_854_775_808n, "-2562047h47m16.854775808s"],
];

Deno.test("formatGoDurationNanoseconds() matches Go's Duration.String()", () => {
  for (const [ns, text] of FORMAT_CASES) assert.equal(formatGoDurationNanoseconds(ns), text);
});

Deno.test("formatGoDuration() formats milliseconds like Go's Duration.String()", () => {
  const cases: ReadonlyArray<readonly [number, string]> = [
    [30_000, "30s"],
    [60_000, "1m0s"],
    [900_000, "15m0s"],
    [86_400_000, "24h0m0s"],
    [3_600_000, "1h0m0s"],
    [250, "250ms"],
    [0, "0s"],
    [1_500, "1.5s"],
    [0.001, "1\u00b5s"],
    [-1_000, "-1s"],
  ];
  for (const [ms, text] of cases) assert.equal(formatGoDuration(ms), text);
});

Deno.test("formatGoDuration() and parseGoDuration() round-trip", () => {
  for (const [, ns] of PARSE_CASES) {
    assert.equal(parseGoDurationNanoseconds(formatGoDurationNanoseconds(ns)), ns);
  }
});
