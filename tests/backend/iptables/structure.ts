/**
 * A structural check of a full iptables-restore input, after upstream's `checkIPTablesRuleJumps`:
 * every chain that gets rules or is jumped to is declared, every jumped-to chain has rules, and
 * every declared chain is used. Returns one message per problem (empty when sound).
 *
 * @module
 */

const TARGETS = new Set([
  "ACCEPT",
  "REJECT",
  "DROP",
  "MARK",
  "RETURN",
  "DNAT",
  "SNAT",
  "MASQUERADE",
]);

/** Chains that exist to be jumped to from built-in chains, or that may legitimately be empty. */
const ENTRY_CHAINS = new Set([
  "KUBE-SERVICES",
  "KUBE-EXTERNAL-SERVICES",
  "KUBE-NODEPORTS",
  "KUBE-POSTROUTING",
  "KUBE-FORWARD",
  "KUBE-MARK-MASQ",
  "KUBE-PROXY-FIREWALL",
  "KUBE-FIREWALL",
  "KUBE-PROXY-CANARY",
]);

/** Problems in `text` (one family's restore input); `[]` when every jump and chain adds up. */
export function structureProblems(text: string): string[] {
  const problems: string[] = [];
  let table = "";
  const tables = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) {
      table = line.slice(1);
      tables.set(table, []);
    } else if (line !== "" && !line.startsWith("#") && line !== "COMMIT") {
      tables.get(table)?.push(line);
    }
  }
  for (const [name, lines] of tables) {
    const created = new Set<string>();
    const deleted = new Set<string>();
    const filled = new Set<string>();
    const jumped = new Set<string>();
    for (const line of lines) {
      if (line.startsWith(":")) created.add(line.slice(1).split(" ")[0] ?? "");
      const x = /^-X (\S+)/.exec(line);
      if (x) deleted.add(x[1] ?? "");
      const a = /^-A (\S+)/.exec(line);
      if (a) filled.add(a[1] ?? "");
      const j = / -j (\S+)/.exec(line);
      if (j && !TARGETS.has(j[1] ?? "")) jumped.add(j[1] ?? "");
    }
    for (const d of deleted) created.delete(d);
    for (const c of [...jumped, ...filled]) {
      if (!created.has(c)) problems.push(`${name}: ${c} is used but not declared`);
    }
    for (const c of jumped) {
      if (!filled.has(c) && c !== "KUBE-NODEPORTS") {
        problems.push(`${name}: ${c} is jumped to but has no rules`);
      }
    }
    for (const c of created) {
      if (!jumped.has(c) && !ENTRY_CHAINS.has(c)) {
        problems.push(`${name}: ${c} is declared but nothing jumps to it`);
      }
    }
  }
  return problems;
}

/** The two family sections of a `renderFull` text (or a golden file), by their labels. */
export function familySections(full: string): { IPv4: string; IPv6: string } {
  const v4 = full.indexOf("# IPv4 (iptables-restore)\n");
  const v6 = full.indexOf("# IPv6 (ip6tables-restore)\n");
  if (v4 < 0 || v6 < v4) throw new Error("renderFull output lacks its family labels");
  return { IPv4: full.slice(v4, v6), IPv6: full.slice(v6) };
}
