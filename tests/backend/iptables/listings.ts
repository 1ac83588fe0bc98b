/**
 * Fake `iptables -S` / `iptables-save` output for tests of the jump-rule checks.
 *
 * @module
 */

import { JUMP_RULES, KUBELET_JUMP_RULES } from "../../../src/backend/iptables/apply.ts";
import type { RecordedCall, Responder } from "../../fixtures/recording_runner.ts";

/**
 * `iptables -S CHAIN` output of built-in `chain` of `table` holding every jump rule of
 * kube-proxy and kubelet that starts there, spelled as iptables prints them.
 */
export function listingWithJumps(table: string, chain: string): string {
  const lines = [`-P ${chain} ACCEPT`];
  for (const rule of [...JUMP_RULES, ...KUBELET_JUMP_RULES]) {
    if (rule.table !== table || rule.from !== chain) continue;
    const spec = [...rule.extra];
    if (rule.comment !== "") spec.push("-m", "comment", "--comment", `"${rule.comment}"`);
    lines.push(`-A ${chain} ${[...spec, "-j", rule.to].join(" ")}`);
  }
  return lines.join("\n") + "\n";
}

/** Whether `call` lists one chain (`iptables … -t TABLE -S CHAIN`). */
export function isChainListing(call: RecordedCall): boolean {
  return /^ip6?tables$/.test(call.command) && call.args.at(-2) === "-S";
}

/**
 * A responder answering chain listings (`-S`) and `iptables-save -t nat` as a host where every
 * jump rule exists, and everything else as `otherwise` says (success by default).
 */
export function jumpsPresent(otherwise: Responder = () => undefined): Responder {
  return (call) => {
    if (isChainListing(call)) {
      const table = call.args[call.args.indexOf("-t") + 1]!;
      return { stdout: listingWithJumps(table, call.args.at(-1)!) };
    }
    if (/^ip6?tables-save$/.test(call.command) && call.args.join(" ") === "-t nat") {
      const chains = ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"];
      return {
        stdout: "*nat\n" + chains.map((c) => `:${c} ACCEPT [0:0]\n`).join("") +
          ["PREROUTING", "OUTPUT", "POSTROUTING"].map((c) =>
            listingWithJumps("nat", c).split("\n").filter((l) => l.startsWith("-A")).join("\n")
          ).join("\n") + "\nCOMMIT\n",
      };
    }
    return otherwise(call);
  };
}
