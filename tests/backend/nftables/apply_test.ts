import assert from "node:assert/strict";
import { ApplyError } from "../../../src/backend/backend.ts";
import {
  nftFailureMessage,
  offendingStatement,
  parseNftError,
  runNft,
  transactionChunks,
} from "../../../src/backend/nftables/apply.ts";
import { CommandNotFoundError, type CommandRunner } from "../../../src/runner.ts";
import {
  renderRuleset,
  replaceTransaction,
  replaceTransactionFrom,
} from "../../../src/backend/nftables/render.ts";
import { objectCount, rulesetSource } from "../../../src/backend/nftables/ruleset.ts";
import { RecordingRunner } from "../../fixtures/recording_runner.ts";
import { GOLDEN_CLUSTERS, type GoldenCluster, optionsOf, snapshotOf } from "./clusters.ts";

const NFT_STDERR =
  "/dev/stdin:2:25-31: Error: Could not process rule: No such file or directory\n" +
  "delete element ip kube-proxy s { 1.2.3.4 }\n" +
  "                        ^^^^^^^\n";

Deno.test("runNft() feeds the transaction to nft -f - on stdin", async () => {
  const runner = new RecordingRunner();
  await runNft(runner, "IPv4", ["add table ip kube-proxy", "flush table ip kube-proxy"], 5000);
  assert.deepEqual(runner.calls, [{
    command: "nft",
    args: ["-f", "-"],
    stdin: "add table ip kube-proxy\nflush table ip kube-proxy\n",
  }]);
});

Deno.test("runNft() throws an ApplyError with nft's message and the offending statement", async () => {
  const runner = new RecordingRunner(() => ({ code: 1, stderr: NFT_STDERR }));
  const lines = ["add table ip kube-proxy", "delete element ip kube-proxy s { 1.2.3.4 }"];
  await assert.rejects(runNft(runner, "IPv6", lines), (error: unknown) => {
    assert.ok(error instanceof ApplyError);
    assert.equal(error.family, "IPv6");
    assert.equal(
      error.message,
      "nft rejected the IPv6 transaction (exit status 1): Could not process rule: No such file " +
        "or directory\nat line 2 of 2: delete element ip kube-proxy s { 1.2.3.4 }",
    );
    return true;
  });
});

Deno.test("runNft() writes a streamed whole-table transaction while feeding it, returns its size and quotes a refused statement from it", async () => {
  const overall = GOLDEN_CLUSTERS.find((c) => c.name === "overall") as GoldenCluster;
  const ruleset = renderRuleset(snapshotOf(overall).v4, optionsOf(overall));
  const whole = replaceTransaction(ruleset);
  const tx = replaceTransactionFrom(rulesetSource(ruleset));
  const ok = new RecordingRunner();
  const bytes = await runNft(ok, "IPv4", tx.lines);
  assert.equal(ok.calls[0]?.stdin, whole.join("\n") + "\n");
  assert.equal(bytes, (ok.calls[0]?.stdin ?? "").length);
  assert.ok(tx.objects > 0);
  assert.equal(tx.objects, objectCount(ruleset));

  const line = whole.findIndex((l) => l.startsWith("add element"));
  const refused = new RecordingRunner(() => ({
    code: 1,
    stderr: `/dev/stdin:${
      line + 1
    }:1-3: Error: Could not process rule: No such file or directory\n`,
  }));
  await assert.rejects(runNft(refused, "IPv4", tx.lines), (error: unknown) => {
    assert.ok(error instanceof ApplyError);
    assert.ok(
      error.message.includes(`at line ${line + 1} of ${whole.length}: add element`),
      error.message,
    );
    return true;
  });
});

Deno.test("runNft() says how to get nft when it is not installed", async () => {
  const runner: CommandRunner = {
    run: () => Promise.reject(new CommandNotFoundError("nft")),
  };
  await assert.rejects(runNft(runner, "IPv4", ["add table ip kube-proxy"]), (error: unknown) => {
    assert.ok(error instanceof ApplyError);
    assert.ok(error.cause instanceof CommandNotFoundError);
    assert.match(error.message, /install the nftables package/);
    return true;
  });
});

Deno.test("nftFailureMessage() reports a timeout and output nft did not locate", () => {
  const timedOut = nftFailureMessage(
    "IPv4",
    { code: -1, stdout: "", stderr: "", timedOut: true },
    [],
  );
  assert.match(timedOut, /did not finish the IPv4 transaction within the apply timeout/);
  const plain = nftFailureMessage("IPv4", {
    code: 1,
    stdout: "",
    stderr: "Error: Could not process rule: Operation not permitted\n",
    timedOut: false,
  }, []);
  assert.equal(
    plain,
    "nft rejected the IPv4 transaction (exit status 1): Error: Could not process rule: " +
      "Operation not permitted",
  );
});

Deno.test("parseNftError() reads the first located error", () => {
  assert.deepEqual(parseNftError(NFT_STDERR), {
    line: 2,
    from: 25,
    to: 31,
    message: "Could not process rule: No such file or directory",
  });
  assert.equal(parseNftError("nothing useful"), null);
});

Deno.test("offendingStatement() cuts a long element statement around the marked part", () => {
  const long = "add element ip kube-proxy m { " +
    Array.from({ length: 100 }, (_, i) => `10.0.0.${i} . tcp . 80`).join(", ") + " }";
  const at = long.indexOf("10.0.0.50");
  const text = offendingStatement([long], { line: 1, from: at + 1, to: at + 9, message: "" });
  assert.ok(text.length <= 202, `too long: ${text.length}`);
  assert.ok(text.includes("10.0.0.50 . tcp . 80"));
  assert.ok(text.startsWith("…") && text.endsWith("…"));
});

Deno.test("transactionChunks() streams newline-terminated chunks of about the given size", () => {
  const lines = Array.from({ length: 100 }, (_, i) => `line ${i}`);
  const chunks = [...transactionChunks(lines, 64)];
  assert.ok(chunks.length > 1);
  assert.equal(chunks.join(""), lines.join("\n") + "\n");
  assert.ok(chunks.every((c) => c.endsWith("\n")));
});
