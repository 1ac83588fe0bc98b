import assert from "node:assert/strict";
import { ConfigError } from "../../src/config/errors.ts";
import {
  parseYamlDocument,
  resolvePlainScalar,
  type YamlMapping,
  type YamlNode,
  type YamlScalar,
} from "../../src/config/yaml_document.ts";

function mapping(node: YamlNode | null): YamlMapping {
  assert.ok(node !== null && node.kind === "mapping", "expected a mapping");
  return node;
}

function entry(node: YamlMapping, key: string): YamlNode {
  const found = node.entries.find((e) => e.key === key);
  assert.ok(found, `no key ${key}`);
  return found.value;
}

function scalar(node: YamlNode): YamlScalar {
  assert.equal(node.kind, "scalar");
  return node as YamlScalar;
}

/** Parses, expecting a ConfigError, and returns its single problem rendered. */
function parseError(text: string): string {
  try {
    parseYamlDocument(text);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("resolvePlainScalar() follows the YAML 1.2 core schema", () => {
  const cases: ReadonlyArray<readonly [string, string | number | boolean | null]> = [
    ["", null],
    ["~", null],
    ["null", null],
    ["Null", null],
    ["NULL", null],
    ["true", true],
    ["True", true],
    ["TRUE", true],
    ["false", false],
    ["FALSE", false],
    ["yes", "yes"],
    ["on", "on"],
    ["0", 0],
    ["-999", -999],
    ["+14", 14],
    ["0o17", 15],
    ["0x1F", 31],
    ["1.5", 1.5],
    ["1.35", 1.35],
    ["1e3", 1000],
    [".5", 0.5],
    ["30s", "30s"],
    ["0.0.0.0", "0.0.0.0"],
    ["10.244.0.0/16", "10.244.0.0/16"],
    ["::0", "::0"],
    ["0s", "0s"],
  ];
  for (const [text, value] of cases) assert.equal(resolvePlainScalar(text), value, text);
  assert.equal(resolvePlainScalar(".inf"), Infinity);
  assert.equal(resolvePlainScalar("-.Inf"), -Infinity);
  assert.ok(Number.isNaN(resolvePlainScalar(".nan")));
});

Deno.test("parseYamlDocument() keeps quoted and block scalars as strings", () => {
  const root = mapping(
    parseYamlDocument("a: \"14\"\nb: 'true'\nc: |\n  null\nd: 14\ne: !!str 15\n"),
  );
  assert.equal(scalar(entry(root, "a")).value, "14");
  assert.equal(scalar(entry(root, "a")).style, "double-quoted");
  assert.equal(scalar(entry(root, "b")).value, "true");
  assert.equal(scalar(entry(root, "b")).style, "single-quoted");
  assert.equal(scalar(entry(root, "c")).value, "null\n");
  assert.equal(scalar(entry(root, "c")).style, "literal");
  assert.equal(scalar(entry(root, "d")).value, 14);
  assert.equal(scalar(entry(root, "e")).value, "15");
});

Deno.test("parseYamlDocument() records 1-based lines of keys and values", () => {
  const text = [
    "# comment",
    "---",
    "iptables:",
    "# a comment at column 0 inside a nested mapping",
    "  masqueradeBit: 14",
    "nodePortAddresses:",
    "  - 10.0.0.0/8",
    "  - primary",
    "empty:",
    "flow: {a: 1, b: [x, y]}",
  ].join("\n");
  const root = mapping(parseYamlDocument(text));
  const iptables = mapping(entry(root, "iptables"));
  assert.equal(root.entries[0]?.keyLine, 3);
  assert.equal(iptables.entries[0]?.keyLine, 5);
  assert.equal(iptables.entries[0]?.value.line, 5);
  const list = entry(root, "nodePortAddresses");
  assert.equal(list.kind, "sequence");
  assert.deepEqual(list.kind === "sequence" ? list.items.map((i) => i.line) : [], [7, 8]);
  const empty = scalar(entry(root, "empty"));
  assert.equal(empty.value, null);
  assert.equal(empty.line, 9);
  assert.equal(entry(root, "flow").line, 10);
});

Deno.test("parseYamlDocument() keeps duplicate keys for the decoder to report", () => {
  const root = mapping(parseYamlDocument("a: 1\nb: 2\na: 3\n"));
  assert.deepEqual(root.entries.map((e) => [e.key, scalar(e.value).value]), [
    ["a", 1],
    ["b", 2],
    ["a", 3],
  ]);
});

Deno.test("parseYamlDocument() reads only the first document", () => {
  const root = mapping(parseYamlDocument("---\na: 1\n---\nb: [unclosed\n"));
  assert.deepEqual(root.entries.map((e) => e.key), ["a"]);
  const ended = mapping(parseYamlDocument("a: 1\n...\n--- {\n"));
  assert.deepEqual(ended.entries.map((e) => e.key), ["a"]);
});

Deno.test("parseYamlDocument() returns null for an empty document", () => {
  assert.equal(parseYamlDocument(""), null);
  assert.equal(parseYamlDocument("# nothing here\n\n"), null);
});

Deno.test("parseYamlDocument() resolves anchors, aliases and merge keys", () => {
  const text = [
    "base: &base",
    "  syncPeriod: 10s",
    "  minSyncPeriod: 1s",
    "iptables:",
    "  <<: *base",
    "  minSyncPeriod: 2s",
    "copy: *base",
  ].join("\n");
  const root = mapping(parseYamlDocument(text));
  const iptables = mapping(entry(root, "iptables"));
  assert.deepEqual(iptables.entries.map((e) => [e.key, scalar(e.value).value]), [
    ["minSyncPeriod", "2s"],
    ["syncPeriod", "10s"],
  ]);
  assert.equal(entry(root, "copy"), entry(root, "base"));
});

Deno.test("parseYamlDocument() rejects an alias to an unknown anchor", () => {
  assert.equal(
    parseError("a: 1\nb: *nope\n"),
    'invalid YAML: alias "*nope" refers to an unknown anchor (line 2)',
  );
});

Deno.test("parseYamlDocument() reports syntax errors with js-yaml's reason and the line", () => {
  assert.equal(
    parseError("bindAddress: ::\n"),
    'invalid YAML: bad indentation of a mapping entry at column 15 (a value starting with ":" ' +
      'such as the IPv6 address "::" must be quoted) (line 1)',
  );
  assert.equal(
    parseError("kind: KubeProxyConfiguration\n  mode: iptables\n"),
    "invalid YAML: bad indentation of a mapping entry at column 7 (line 2)",
  );
  assert.equal(
    parseError("iptables:\n\tsyncPeriod: 30s\n"),
    "invalid YAML: tab characters must not be used in indentation at column 1 (line 2)",
  );
});

Deno.test("parseYamlDocument() rejects tags outside the core schema", () => {
  assert.equal(
    parseError("a: !!binary aGVsbG8=\n"),
    "invalid YAML: unsupported tag !!binary (line 1)",
  );
  assert.equal(
    parseError("a: !!int twelve\n"),
    'invalid YAML: cannot resolve "twelve" as !!int (line 1)',
  );
  assert.equal(
    parseError("? [a]\n: 1\n"),
    "invalid YAML: mapping keys must be scalars (line 1)",
  );
});
