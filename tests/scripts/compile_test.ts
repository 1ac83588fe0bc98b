/**
 * The compiled binary, when this machine can build one: `deno compile` needs Deno's base runtime
 * (`denort`), which comes from Deno's servers or from `DENORT_BIN`. Without either the test
 * reports itself ignored with that reason; it never passes without having run the binary.
 */
import assert from "node:assert/strict";
import denoJson from "../../deno.json" with { type: "json" };
import { PERMISSIONS, V8_FLAGS_OPTION } from "../../scripts/compile.ts";

function skipReason(): string | null {
  const denort = Deno.env.get("DENORT_BIN");
  if (denort === undefined || denort === "") {
    return "DENORT_BIN is not set and Deno's servers are unreachable from CI: the compiled " +
      "binary cannot be built here (scripts/compile.ts explains the fix)";
  }
  try {
    Deno.statSync(denort);
    return null;
  } catch {
    return `DENORT_BIN=${denort} does not exist`;
  }
}

const reason = skipReason();
if (reason !== null) console.log(`skipping compiled-binary tests: ${reason}`);

async function run(command: string, args: string[]) {
  const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

Deno.test({
  name: "deno task compile builds dist/kube-proxy, which answers --version and --dry-run",
  ignore: reason !== null,
  async fn() {
    const build = await run(Deno.execPath(), ["task", "compile"]);
    assert.equal(build.code, 0, build.stderr);
    const version = await run("dist/kube-proxy", ["--version"]);
    assert.equal(version.code, 0);
    assert.match(version.stdout, new RegExp(`v${denoJson.version.replaceAll(".", "\\.")}`));
    const dry = await run("dist/kube-proxy", [
      "--config=examples/kube-proxy-config.yaml",
      "--objects=examples/cluster.yaml",
      "--hostname-override=edge-1",
      "--dry-run",
    ]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /KUBE-SERVICES/);
  },
});

Deno.test("deno task start runs with the V8 flags the binary is compiled with", () => {
  assert.ok(
    denoJson.tasks.start.split(" ").includes(V8_FLAGS_OPTION),
    `deno.json's start task should pass ${V8_FLAGS_OPTION}: ${denoJson.tasks.start}`,
  );
});

Deno.test("the binary may run every tool the proxy calls, and nothing else", () => {
  const run = PERMISSIONS.find((p) => p.startsWith("--allow-run="));
  assert.deepEqual(run?.slice("--allow-run=".length).split(",").sort(), [
    "conntrack",
    "ip6tables",
    "ip6tables-restore",
    "ip6tables-save",
    "iptables",
    "iptables-restore",
    "iptables-save",
    "nft",
    "sysctl",
  ]);
});
