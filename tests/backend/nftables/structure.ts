/**
 * A structural check of nftables transactions: every chain a rule or verdict-map element jumps
 * to, and every set a rule names, is declared in the same table; every per-service chain is
 * reached from somewhere; every element goes to a declared set. It reads only the statement
 * shapes our renderer writes.
 *
 * @module
 */

/** The problems found in `text` (all tables in it), as sentences; empty when sound. */
export function structureProblems(text: string): string[] {
  const problems: string[] = [];
  const tables = new Map<string, { chains: Set<string>; sets: Set<string>; used: Set<string> }>();
  const tableOf = (t: string) => {
    let s = tables.get(t);
    if (s === undefined) tables.set(t, s = { chains: new Set(), sets: new Set(), used: new Set() });
    return s;
  };
  const statements = text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
  const refs: { table: string; kind: "chain" | "set"; name: string; line: string }[] = [];
  for (const line of statements) {
    const m = /^(add|delete|flush) (table|chain|set|map|rule|element) (ip6?) (\S+)(?: (\S+))?(.*)$/
      .exec(line);
    if (m === null) {
      problems.push(`unrecognised statement: ${line}`);
      continue;
    }
    const [, verb, what, fam, table, name, rest] = m;
    const key = `${fam} ${table}`;
    const t = tableOf(key);
    if (verb === "delete" && what === "table") {
      tables.delete(key);
      continue;
    }
    if (verb !== "add" || name === undefined) continue;
    if (what === "chain") t.chains.add(name);
    if (what === "set" || what === "map") t.sets.add(name);
    if (what === "rule" || what === "element") {
      if (what === "rule") refs.push({ table: key, kind: "chain", name, line });
      else refs.push({ table: key, kind: "set", name, line });
      for (const j of (rest ?? "").matchAll(/\b(?:jump|goto) ([^\s,}]+)/g)) {
        refs.push({ table: key, kind: "chain", name: j[1] ?? "", line });
        tableOf(key).used.add(j[1] ?? "");
      }
      for (const s of (rest ?? "").matchAll(/@([A-Za-z0-9_./-]+)/g)) {
        refs.push({ table: key, kind: "set", name: s[1] ?? "", line });
      }
    }
  }
  for (const r of refs) {
    const t = tables.get(r.table);
    const known = r.kind === "chain" ? t?.chains : t?.sets;
    if (!known?.has(r.name)) {
      problems.push(`${r.table}: undeclared ${r.kind} ${r.name} in: ${r.line}`);
    }
  }
  for (const [key, t] of tables) {
    for (const chain of t.chains) {
      if (chain.includes("/") && !t.used.has(chain)) {
        problems.push(`${key}: per-service chain ${chain} is never reached`);
      }
    }
  }
  return problems;
}
