/**
 * The kernel tools the robustness tests check renders with, and the check itself.
 *
 * @module
 */

import { DenoCommandRunner } from "../../src/runner.ts";
import type { TestNamespace } from "../fixtures/netns.ts";

/** One tool invocation that checks a text without applying it. */
export interface ToolCheck {
  readonly tool: string;
  readonly args: readonly string[];
  readonly text: string;
}

let legacy: Promise<boolean> | undefined;

/** iptables-nft's `--test` does not check jump targets; the legacy tool's does, when installed. */
function hasLegacyRestore(): Promise<boolean> {
  legacy ??= new DenoCommandRunner().run("sh", ["-c", "command -v iptables-legacy-restore"])
    .then((r) => r.code === 0, () => false);
  return legacy;
}

/** Splits iptables mode's labelled `renderFull()` into the two restore inputs. */
export function iptablesSections(text: string): { IPv4: string; IPv6: string } {
  const v4Label = "# IPv4 (iptables-restore)\n";
  const v6Label = "\n# IPv6 (ip6tables-restore)\n";
  const at = text.indexOf(v6Label);
  if (!text.startsWith(v4Label) || at < 0) {
    throw new Error("renderFull() of iptables mode lost its family labels");
  }
  return { IPv4: text.slice(v4Label.length, at + 1), IPv6: text.slice(at + v6Label.length) };
}

/** The checks for one snapshot's renders: both restore tools (and legacy ones), and nft. */
export async function toolChecks(iptables: string, nftables: string): Promise<ToolCheck[]> {
  const { IPv4, IPv6 } = iptablesSections(iptables);
  const restore = ["--test", "-w", "5", "--noflush"];
  const checks: ToolCheck[] = [
    { tool: "iptables-restore", args: restore, text: IPv4 },
    { tool: "ip6tables-restore", args: restore, text: IPv6 },
    { tool: "nft", args: ["-c", "-f", "-"], text: nftables },
  ];
  if (await hasLegacyRestore()) {
    checks.push(
      { tool: "iptables-legacy-restore", args: restore, text: IPv4 },
      { tool: "ip6tables-legacy-restore", args: restore, text: IPv6 },
    );
  }
  return checks;
}

/** Runs the checks in `ns`; resolves with a message per rejection (empty when all pass). */
export async function rejections(
  ns: TestNamespace,
  checks: readonly ToolCheck[],
): Promise<string[]> {
  const out: string[] = [];
  for (const c of checks) {
    const r = await ns.runner.run(c.tool, c.args, { stdin: c.text, timeoutMs: 60_000 });
    if (r.code !== 0 || r.timedOut) out.push(`${c.tool} rejected it: ${r.stderr.slice(0, 2000)}`);
  }
  return out;
}
