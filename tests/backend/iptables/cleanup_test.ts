import assert from "node:assert/strict";
import { JUMP_RULES } from "../../../src/backend/iptables/apply.ts";
import { cleanupIptables, IptablesCleanupError } from "../../../src/backend/iptables/cleanup.ts";
import { SILENT_LOGGER } from "../../../src/log.ts";
import { CommandNotFoundError, type CommandResult } from "../../../src/runner.ts";
import { type RecordedCall, RecordingRunner } from "../../fixtures/recording_runner.ts";

const SAVES: Record<string, string> = {
  nat: [
    "*nat",
    ":PREROUTING ACCEPT [0:0]",
    ":POSTROUTING ACCEPT [0:0]",
    ":KUBE-SERVICES - [0:0]",
    ":KUBE-NODEPORTS - [0:0]",
    ":KUBE-POSTROUTING - [0:0]",
    ":KUBE-MARK-MASQ - [0:0]",
    ":KUBE-MARK-DROP - [0:0]",
    ":KUBE-KUBELET-CANARY - [0:0]",
    ":KUBE-PROXY-CANARY - [0:0]",
    ":KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]",
    ":KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]",
    ":KUBE-XLB-OLDOLDOLDOLDOLD1 - [0:0]",
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    "COMMIT",
    "",
  ].join("\n"),
  filter: [
    "*filter",
    ":INPUT ACCEPT [0:0]",
    ":KUBE-FIREWALL - [0:0]",
    ":KUBE-SERVICES - [0:0]",
    ":KUBE-FORWARD - [0:0]",
    ":KUBE-PROXY-FIREWALL - [0:0]",
    "COMMIT",
    "",
  ].join("\n"),
  mangle: "*mangle\n:PREROUTING ACCEPT [0:0]\n:KUBE-PROXY-CANARY - [0:0]\nCOMMIT\n",
};

function saveResponder(call: RecordedCall): Partial<CommandResult> | undefined {
  if (call.command.endsWith("tables-save")) return { stdout: SAVES[call.args[1] ?? ""] ?? "" };
  // Every jump rule is present exactly once.
  if (call.args.includes("-D")) {
    const key = call.command + call.args.join(" ");
    if (deleted.has(key)) {
      return {
        code: 1,
        stderr: "iptables: Bad rule (does a matching rule exist in that chain?).\n",
      };
    }
    deleted.add(key);
  }
  return undefined;
}
const deleted = new Set<string>();

Deno.test("cleanupIptables() unlinks every jump, then flushes and deletes every chain it owns", async () => {
  deleted.clear();
  const runner = new RecordingRunner(saveResponder);
  await cleanupIptables(runner, SILENT_LOGGER);
  const v4 = runner.calls.filter((c) => !c.command.startsWith("ip6"));
  const argv = v4.map((c) => [c.command, ...c.args].join(" "));
  assert.equal(argv[0], "iptables-save -t nat");
  // Each of the 12 jumps: one successful -D, one that finds nothing left.
  const deletes = argv.filter((a) => a.includes(" -D "));
  assert.equal(deletes.length, JUMP_RULES.length * 2);
  assert.equal(
    deletes[0],
    "iptables -w 5 -t filter -D INPUT -m conntrack --ctstate NEW -m comment --comment " +
      "kubernetes externally-visible service portals -j KUBE-EXTERNAL-SERVICES",
  );
  assert.ok(!argv.some((a) => a.includes("-D INPUT -j KUBE-FIREWALL")), "kubelet's jumps stay");
  assert.deepEqual(argv.slice(1 + deletes.length), [
    "iptables-restore -w 5 --noflush --counters",
    "iptables-save -t filter",
    "iptables-restore -w 5 --noflush --counters",
    "iptables-save -t mangle",
    "iptables-restore -w 5 --noflush --counters",
  ]);
  const inputs = v4.filter((c) => c.command === "iptables-restore").map((c) => c.stdin);
  assert.deepEqual(inputs, [
    [
      "*nat",
      ":KUBE-MARK-MASQ - [0:0]",
      ":KUBE-NODEPORTS - [0:0]",
      ":KUBE-POSTROUTING - [0:0]",
      ":KUBE-PROXY-CANARY - [0:0]",
      ":KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]",
      ":KUBE-SERVICES - [0:0]",
      ":KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]",
      ":KUBE-XLB-OLDOLDOLDOLDOLD1 - [0:0]",
      "-X KUBE-MARK-MASQ",
      "-X KUBE-NODEPORTS",
      "-X KUBE-POSTROUTING",
      "-X KUBE-PROXY-CANARY",
      "-X KUBE-SEP-SXIVWICOYRO3J4NJ",
      "-X KUBE-SERVICES",
      "-X KUBE-SVC-XPGD46QRK7WJZT7O",
      "-X KUBE-XLB-OLDOLDOLDOLDOLD1",
      "COMMIT",
      "",
    ].join("\n"),
    [
      "*filter",
      ":KUBE-FORWARD - [0:0]",
      ":KUBE-PROXY-FIREWALL - [0:0]",
      ":KUBE-SERVICES - [0:0]",
      "-X KUBE-FORWARD",
      "-X KUBE-PROXY-FIREWALL",
      "-X KUBE-SERVICES",
      "COMMIT",
      "",
    ].join("\n"),
    "*mangle\n:KUBE-PROXY-CANARY - [0:0]\n-X KUBE-PROXY-CANARY\nCOMMIT\n",
  ]);
  // The same for IPv6, with ip6tables.
  assert.equal(runner.calls.filter((c) => c.command === "ip6tables-restore").length, 3);
});

Deno.test("cleanupIptables() skips a family whose tools are missing and tables already clean", async () => {
  const runner = new RecordingRunner((call) => {
    if (call.command.startsWith("ip6")) throw new CommandNotFoundError(call.command);
    if (call.command === "iptables-save") {
      return { stdout: "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n" };
    }
    return {
      code: 1,
      stderr: "iptables v1.8.9 (nf_tables): Chain 'KUBE-SERVICES' does not exist\n",
    };
  });
  await cleanupIptables(runner, SILENT_LOGGER);
  assert.equal(runner.calls.filter((c) => c.command === "iptables-restore").length, 0);
  assert.deepEqual(runner.calls.filter((c) => c.command.startsWith("ip6")).map((c) => c.command), [
    "ip6tables-save",
  ]);
});

Deno.test("cleanupIptables() keeps KUBE-MARK-MASQ when something else still jumps to it", async () => {
  deleted.clear();
  const runner = new RecordingRunner((call) => {
    if (call.command === "iptables-restore" && call.stdin?.includes("-X KUBE-MARK-MASQ")) {
      return { code: 1, stderr: "iptables-restore: line 18 failed\n" };
    }
    return saveResponder(call);
  });
  await cleanupIptables(runner, SILENT_LOGGER);
  const nat = runner.calls.filter((c) =>
    c.command === "iptables-restore" && c.stdin?.startsWith("*nat")
  );
  assert.equal(nat.length, 2);
  assert.doesNotMatch(nat[1]!.stdin!, /KUBE-MARK-MASQ/);
  assert.match(nat[1]!.stdin!, /^-X KUBE-SERVICES$/m);
});

Deno.test("cleanupIptables() reports what it could not remove after trying everything else", async () => {
  deleted.clear();
  const runner = new RecordingRunner((call) => {
    if (call.command === "ip6tables-restore" && call.stdin?.startsWith("*filter")) {
      return { code: 4, stderr: "Another app is currently holding the xtables lock.\n" };
    }
    return saveResponder(call);
  });
  const error = await cleanupIptables(runner, SILENT_LOGGER).then(() => null, (e: unknown) => e);
  assert.ok(error instanceof IptablesCleanupError);
  assert.equal(error.problems.length, 1);
  assert.match(
    error.message,
    /^iptables cleanup was incomplete: IPv6: ip6tables-restore rejected the IPv6 rules \(exit status 4\): Another app is currently holding the xtables lock\./,
  );
  // The mangle table of IPv6 was still cleaned after the filter failure.
  assert.ok(
    runner.calls.some((c) => c.command === "ip6tables-restore" && c.stdin?.startsWith("*mangle")),
  );
});
