import assert from "node:assert/strict";
import { cleanupNftables, NftablesCleanupError } from "../../../src/backend/nftables/cleanup.ts";
import { SILENT_LOGGER } from "../../../src/log.ts";
import { CommandNotFoundError, type CommandRunner } from "../../../src/runner.ts";
import { RecordingRunner } from "../../fixtures/recording_runner.ts";

Deno.test("cleanupNftables() deletes both kube-proxy tables, whether or not they exist", async () => {
  const runner = new RecordingRunner();
  await cleanupNftables(runner, SILENT_LOGGER);
  assert.deepEqual(runner.calls, [
    {
      command: "nft",
      args: ["-f", "-"],
      stdin: "add table ip kube-proxy\ndelete table ip kube-proxy\n",
    },
    {
      command: "nft",
      args: ["-f", "-"],
      stdin: "add table ip6 kube-proxy\ndelete table ip6 kube-proxy\n",
    },
  ]);
});

Deno.test("cleanupNftables() still cleans IPv4 when IPv6 fails, then reports the failure", async () => {
  const runner = new RecordingRunner((call) =>
    call.stdin?.includes("ip6")
      ? {
        code: 1,
        stderr: "Error: Could not process rule: Address family not supported by protocol\n",
      }
      : undefined
  );
  await assert.rejects(cleanupNftables(runner, SILENT_LOGGER), (error: unknown) => {
    assert.ok(error instanceof NftablesCleanupError);
    assert.match(
      error.message,
      /^nftables cleanup was incomplete: nft rejected the IPv6 transaction/,
    );
    return true;
  });
  assert.equal(runner.calls.length, 2);
});

Deno.test("cleanupNftables() has nothing to do without nft", async () => {
  let calls = 0;
  const runner: CommandRunner = {
    run: () => {
      calls++;
      return Promise.reject(new CommandNotFoundError("nft"));
    },
  };
  await cleanupNftables(runner, SILENT_LOGGER);
  assert.equal(calls, 1);
});
