/**
 * The `iptables-restore` input of one render, kept as its chains rather than its text: the
 * lines are made each time the input is read, while it streams to the tool. A full input at
 * 10k Services × 10 endpoints is 440k lines (33 MiB); held as strings until the restore ended
 * (minutes, at that size) they lifted the program to ~200 MiB, made lazily they are garbage a
 * 64 KiB chunk later. Reading twice gives the same lines: renders are deterministic.
 *
 * @module
 */

/** A chain of the input: its `:NAME - [0:0]` declaration, then its rules. */
export interface ChainBlock {
  readonly name: string;
  /** The renderer's sort key of `name`, when it already knows it (see `render.ts`). */
  readonly sortKey?: number;
  /** Its rules; a lazy block makes them on each read. */
  readonly rules: readonly string[];
  /** `rules.length`, known without making them (lazy blocks set it). */
  readonly ruleCount?: number;
}

/** One table's part of the input: `*table`, declarations, rules, `-X` lines, `COMMIT`. */
export interface RestoreSection {
  readonly table: "filter" | "nat" | "mangle";
  /** Chains declared and filled, in this order. */
  readonly chains: readonly ChainBlock[];
  /** Chains deleted (`-X`) at the end of the section; they are declared among `chains` too. */
  readonly deleted: readonly string[];
}

/** The rule count of a block, without making its rules when it knows it. */
function ruleCountOf(block: ChainBlock): number {
  return block.ruleCount ?? block.rules.length;
}

/**
 * A restore input, iterable line by line (without newlines) as often as needed. `lineCount` and
 * `ruleCount` are known without making the text.
 */
export class RestoreInput implements Iterable<string> {
  /** The sections, in input order. */
  readonly sections: readonly RestoreSection[];
  /** Lines of the input. */
  readonly lineCount: number;
  /** `-A` lines of the input. */
  readonly ruleCount: number;

  constructor(sections: readonly RestoreSection[]) {
    this.sections = sections;
    let lines = 0;
    let rules = 0;
    for (const s of sections) {
      let n = 0;
      for (const c of s.chains) n += ruleCountOf(c);
      rules += n;
      lines += 2 + s.chains.length + n + s.deleted.length;
    }
    this.lineCount = lines;
    this.ruleCount = rules;
  }

  *[Symbol.iterator](): Generator<string> {
    for (const s of this.sections) {
      yield `*${s.table}`;
      for (const c of s.chains) yield chainLine(c.name);
      for (const c of s.chains) yield* c.rules;
      for (const name of s.deleted) yield `-X ${name}`;
      yield "COMMIT";
    }
  }
}

/** The declaration of chain `name`, with zeroed counters. */
export function chainLine(name: string): string {
  return `:${name} - [0:0]`;
}

/** The restore input as one string (for `--dry-run`, goldens and small payloads). */
export function restoreText(lines: Iterable<string>): string {
  const all = [...lines];
  return all.length === 0 ? "" : all.join("\n") + "\n";
}
