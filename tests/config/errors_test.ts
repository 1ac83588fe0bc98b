import assert from "node:assert/strict";
import { ConfigError, formatProblem, ProblemList } from "../../src/config/errors.ts";

Deno.test("formatProblem() renders path, message and line", () => {
  assert.equal(
    formatProblem({
      path: "iptables.masqueradeBit",
      message: "must be within [0, 31], got 40",
      line: 12,
    }),
    "iptables.masqueradeBit: must be within [0, 31], got 40 (line 12)",
  );
  assert.equal(formatProblem({ path: "clusterCIDR", message: "bad" }), "clusterCIDR: bad");
  assert.equal(
    formatProblem({ path: "", message: "invalid YAML: x", line: 2 }),
    "invalid YAML: x (line 2)",
  );
});

Deno.test("ConfigError lists every problem, one per line", () => {
  const cause = new Error("root");
  const error = new ConfigError(
    [
      { path: "a", message: "one", line: 1 },
      { path: "b", message: "two" },
    ],
    { cause },
  );
  assert.equal(error.name, "ConfigError");
  assert.equal(error.message, "a: one (line 1)\nb: two");
  assert.equal(error.cause, cause);
  assert.ok(error instanceof Error);
  assert.ok(Object.isFrozen(error.problems));
});

Deno.test("ProblemList attaches lines through lineOf and throws only when not empty", () => {
  const lines = new Map([["featureGates.Foo", 7], ["mode", 3]]);
  const problems = new ProblemList((path) => lines.get(path));
  problems.throwIfAny();
  problems.add("mode", "bad mode");
  problems.add("featureGates", "unrecognized feature gate: Foo", "featureGates.Foo");
  problems.add("clusterCIDR", "bad CIDR");
  assert.deepEqual(problems.items, [
    { path: "mode", message: "bad mode", line: 3 },
    { path: "featureGates", message: "unrecognized feature gate: Foo", line: 7 },
    { path: "clusterCIDR", message: "bad CIDR" },
  ]);
  assert.throws(() => problems.throwIfAny(), ConfigError);
});
