/**
 * A stand-in for the kernel in unit tests: applies the statement shapes our transactions use to
 * an in-memory table, failing where nft would (deleting a missing element, a set or chain that is
 * still used, changing an element's value with `add`). Comparing the simulated result of
 * incremental transactions with a fresh full render checks incremental syncs without root.
 *
 * @module
 */

/** A simulated table. */
export interface SimTable {
  chains: Map<string, { hook?: string; rules: string[] }>;
  sets: Map<string, { kind: string; spec: string; elements: Map<string, string> }>;
}

/** The simulated tables, by `ip kube-proxy` / `ip6 kube-proxy`. */
export type SimKernel = Map<string, SimTable>;

/** Splits `a, b, c` at top-level commas (elements never contain `, ` inside quotes here). */
function splitElements(body: string): string[] {
  return body.split(", ").map((e) => e.trim()).filter((e) => e !== "");
}

/** `key comment "x" : value` → [key, ` comment "x" : value`]; `key` → [key, ""]. */
function splitElement(text: string): [string, string] {
  const comment = text.indexOf(" comment ");
  const colon = text.indexOf(" : ");
  const cut = comment >= 0 ? comment : colon;
  return cut < 0 ? [text, ""] : [text.slice(0, cut), text.slice(cut)];
}

/** Applies one transaction; throws (leaving `kernel` unchanged) on the first invalid statement. */
export function applyTransaction(kernel: SimKernel, lines: Iterable<string>): void {
  const work: SimKernel = new Map(
    [...kernel].map(([name, t]) => [name, {
      chains: new Map([...t.chains].map(([n, c]) => [n, { ...c, rules: [...c.rules] }])),
      sets: new Map([...t.sets].map(([n, s]) => [n, { ...s, elements: new Map(s.elements) }])),
    }]),
  );
  for (const line of lines) {
    if (line === "" || line.startsWith("#")) continue;
    const m =
      /^(add|delete|flush) (table|chain|set|map|rule|element) (ip6?) kube-proxy(?: (\S+))?(?: (.*))?$/
        .exec(line);
    if (m === null) throw new Error(`unrecognised statement: ${line}`);
    const [, verb, what, family, name, rest] = m;
    const key = `${family} kube-proxy`;
    if (what === "table") {
      if (verb === "add") {
        if (!work.has(key)) work.set(key, { chains: new Map(), sets: new Map() });
      } else if (verb === "delete") {
        if (!work.delete(key)) throw new Error(`no such table: ${line}`);
      } else {
        const t = work.get(key);
        if (t === undefined) throw new Error(`no such table: ${line}`);
        for (const c of t.chains.values()) c.rules = [];
      }
      continue;
    }
    const t = work.get(key);
    if (t === undefined || name === undefined) throw new Error(`no such table: ${line}`);
    switch (`${verb} ${what}`) {
      case "add chain": {
        const hook = /^\{ (.*) \}$/.exec(rest ?? "")?.[1];
        const old = t.chains.get(name);
        if (old !== undefined && (old.hook ?? "") !== (hook ?? "")) {
          throw new Error(`chain hook changed: ${line}`);
        }
        if (old === undefined) {
          t.chains.set(name, hook === undefined ? { rules: [] } : { hook, rules: [] });
        }
        break;
      }
      case "flush chain":
        t.chains.get(name)!.rules = [];
        break;
      case "delete chain": {
        const c = t.chains.get(name);
        if (c === undefined) throw new Error(`no such chain: ${line}`);
        if (c.rules.length > 0) throw new Error(`chain not empty: ${line}`);
        if (isReferenced(t, name)) throw new Error(`chain in use: ${line}`);
        t.chains.delete(name);
        break;
      }
      case "add rule": {
        const c = t.chains.get(name);
        if (c === undefined) throw new Error(`no such chain: ${line}`);
        for (const ref of (rest ?? "").matchAll(/@([A-Za-z0-9_./-]+)/g)) {
          if (!t.sets.has(ref[1] ?? "")) throw new Error(`no such set: ${line}`);
        }
        for (const ref of (rest ?? "").matchAll(/\b(?:jump|goto) (\S+)/g)) {
          if (!t.chains.has(ref[1] ?? "")) throw new Error(`no such chain: ${line}`);
        }
        c.rules.push(rest ?? "");
        break;
      }
      case "add set":
      case "add map": {
        const spec = /^\{ (.*) \}$/.exec(rest ?? "")?.[1] ?? "";
        const old = t.sets.get(name);
        if (old !== undefined && (old.spec !== spec || old.kind !== what)) {
          throw new Error(`set declaration changed: ${line}`);
        }
        if (old === undefined) t.sets.set(name, { kind: what ?? "set", spec, elements: new Map() });
        break;
      }
      case "delete set":
      case "delete map": {
        if (!t.sets.has(name)) throw new Error(`no such set: ${line}`);
        for (const c of t.chains.values()) {
          if (c.rules.some((r) => r.includes(`@${name} `) || r.endsWith(`@${name}`))) {
            throw new Error(`set in use: ${line}`);
          }
        }
        t.sets.delete(name);
        break;
      }
      case "flush set":
      case "flush map":
        t.sets.get(name)!.elements.clear();
        break;
      case "add element":
      case "delete element": {
        const s = t.sets.get(name);
        if (s === undefined) throw new Error(`no such set: ${line}`);
        const body = /^\{ (.*) \}$/.exec(rest ?? "")?.[1] ?? "";
        for (const text of splitElements(body)) {
          const [k, v] = splitElement(text);
          if (verb === "delete") {
            if (!s.elements.delete(k)) throw new Error(`no such element ${k}: ${line}`);
            continue;
          }
          const goto = /goto (\S+)$/.exec(v)?.[1];
          if (goto !== undefined && !t.chains.has(goto)) throw new Error(`no such chain: ${line}`);
          const old = s.elements.get(k);
          if (old !== undefined && old !== v) throw new Error(`element exists: ${k}: ${line}`);
          s.elements.set(k, v);
        }
        break;
      }
      default:
        throw new Error(`unsupported statement: ${line}`);
    }
  }
  kernel.clear();
  for (const [k, v] of work) kernel.set(k, v);
}

function isReferenced(t: SimTable, chain: string): boolean {
  const word = new RegExp(
    `\\b(?:jump|goto) ${chain.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}(?:$|[\\s,}])`,
  );
  for (const c of t.chains.values()) if (c.rules.some((r) => word.test(r))) return true;
  for (const s of t.sets.values()) {
    for (const v of s.elements.values()) if (word.test(v)) return true;
  }
  return false;
}

/** A comparable form of a simulated table: sorted chains, sets and elements. */
export function normalise(kernel: SimKernel): unknown {
  return [...kernel].sort().map(([name, t]) => ({
    name,
    chains: [...t.chains].sort(([a], [b]) => a < b ? -1 : 1).map(([n, c]) => [n, c.hook, c.rules]),
    sets: [...t.sets].sort(([a], [b]) => a < b ? -1 : 1).map(([n, s]) => [
      n,
      s.kind,
      s.spec,
      [...s.elements].sort(([a], [b]) => a < b ? -1 : 1),
    ]),
  }));
}
