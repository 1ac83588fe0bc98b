import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/** A value import of any `node:` module, static or dynamic; `import type` costs nothing. */
const NODE_IMPORT =
  /(?:^|\n)\s*(?:import|export)(?!\s+type\b)[^;]*?from\s+["']node:|import\(\s*["']node:/;

async function* sourceFiles(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* sourceFiles(url);
    else if (entry.name.endsWith(".ts")) yield url;
  }
}

Deno.test("the program imports no node: module at run time (Deno's Node layer costs ~6 MiB resident)", async () => {
  const offenders: string[] = [];
  if (NODE_IMPORT.test(await Deno.readTextFile(new URL("main.ts", ROOT)))) {
    offenders.push("main.ts");
  }
  for await (const file of sourceFiles(new URL("src/", ROOT))) {
    if (NODE_IMPORT.test(await Deno.readTextFile(file))) {
      offenders.push(file.pathname.slice(ROOT.pathname.length));
    }
  }
  assert.deepEqual(offenders, []);
});

Deno.test("the node: import check recognises the forms it forbids", () => {
  assert.ok(NODE_IMPORT.test('import { hash } from "node:crypto";'));
  assert.ok(NODE_IMPORT.test('const v8 = await import("node:v8");'));
  assert.ok(NODE_IMPORT.test('import {\n  parseArgs,\n} from "node:util";'));
  assert.ok(!NODE_IMPORT.test('import type { Buffer } from "node:buffer";'));
  assert.ok(!NODE_IMPORT.test('import { x } from "./node_util.ts";'));
});
