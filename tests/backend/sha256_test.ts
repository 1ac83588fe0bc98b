import assert from "node:assert/strict";
import { hash } from "node:crypto";
import { sha256 } from "../../src/backend/sha256.ts";
import { Rng } from "../fixtures/rng.ts";

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

Deno.test("sha256() gives the FIPS 180-4 digests of the standard test messages", () => {
  assert.equal(
    hex(sha256("")),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  assert.equal(
    hex(sha256("abc")),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(
    hex(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
});

Deno.test("sha256() matches node:crypto on block edges and non-ASCII names", () => {
  const rng = new Rng(7);
  const alphabet = [..."abcz09-./:|[]ü€😀"];
  const inputs = [55, 56, 63, 64, 65, 119, 120, 300].map((n) => "x".repeat(n));
  for (let i = 0; i < 300; i++) {
    inputs.push(Array.from({ length: rng.int(0, 150) }, () => rng.pick(alphabet)).join(""));
  }
  for (const input of inputs) {
    assert.equal(hex(sha256(input)), hash("sha256", input, "hex"), JSON.stringify(input));
  }
});
