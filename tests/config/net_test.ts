import assert from "node:assert/strict";
import { splitHostPort } from "../../src/config/_net.ts";

Deno.test("splitHostPort() follows Go's net.SplitHostPort", () => {
  assert.deepEqual(splitHostPort("0.0.0.0:10256"), { host: "0.0.0.0", port: "10256" });
  assert.deepEqual(splitHostPort("[::1]:10249"), { host: "::1", port: "10249" });
  assert.deepEqual(splitHostPort(":80"), { host: "", port: "80" });
  assert.deepEqual(splitHostPort("host:"), { host: "host", port: "" });
  for (const bad of ["0.0.0.0", "::1", "[::1]", "::1:80", "[::1]80", "a[b]:80", "[a]:[80]", ""]) {
    assert.equal(splitHostPort(bad), undefined, bad);
  }
});
