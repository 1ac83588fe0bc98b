import assert from "node:assert/strict";
import { utf8Chunks } from "../src/utf8_chunks.ts";

function joined(text: string | string[], bufferBytes: number): Uint8Array {
  const parts: number[] = [];
  // Copied at once: each view is overwritten by the next.
  for (const view of utf8Chunks(text, bufferBytes)) parts.push(...view);
  return new Uint8Array(parts);
}

Deno.test("utf8Chunks() gives the same bytes as TextEncoder, also when characters straddle buffer ends", () => {
  const text = ["add element ip kube-proxy s { 10.0.0.1 }\n", "naïve ✓ 𝄞 café\n", ""];
  const expected = new TextEncoder().encode(text.join(""));
  for (const size of [4, 5, 7, 64, 65536]) {
    assert.deepEqual(joined(text, size), expected, `buffer of ${size} bytes`);
  }
  assert.deepEqual(joined("", 64), new Uint8Array());
});

Deno.test("utf8Chunks() reuses one buffer for every view", () => {
  const views = [...utf8Chunks("x".repeat(100), 16)];
  assert.equal(views.length, 7);
  assert.ok(views.every((v) => v.buffer === views[0]?.buffer));
  assert.ok(views.every((v) => v.byteLength <= 16));
});
