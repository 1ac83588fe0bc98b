/**
 * YAML text → a small positioned tree (mappings with ordered entries, sequences, scalars), each
 * node carrying its 1-based line, so config decoding can report exact lines and see duplicate
 * keys (which a plain `load()` would hide or reject).
 *
 * Built on js-yaml's event stream (`parseEvents`). Only the first document is read, as upstream's
 * decoder does; a leading `---` and comments anywhere are fine. Plain scalars resolve with the
 * YAML 1.2 core schema; quoted and block scalars are strings. Anchors, aliases and `<<` merge
 * keys are resolved.
 *
 * @module
 */

import {
  type Event,
  EVENT_ID,
  getScalarValue,
  type MappingEvent,
  parseEvents,
  SCALAR_STYLE,
  type ScalarEvent,
  type SequenceEvent,
  YAMLException,
} from "js-yaml";
import { ConfigError } from "./errors.ts";

/** A resolved scalar value. */
export type YamlScalarValue = string | number | boolean | null;

/** How a scalar was written; only `plain` scalars are typed by the core schema. */
export type YamlScalarStyle = "plain" | "single-quoted" | "double-quoted" | "literal" | "folded";

/** A scalar: `text` is the decoded source text, `value` its resolved value. */
export interface YamlScalar {
  readonly kind: "scalar";
  readonly line: number;
  readonly style: YamlScalarStyle;
  readonly text: string;
  readonly value: YamlScalarValue;
}

/** A sequence (`- a` or `[a, b]`). */
export interface YamlSequence {
  readonly kind: "sequence";
  readonly line: number;
  readonly items: readonly YamlNode[];
}

/** One `key: value` pair of a mapping; `keyLine` is where the key was written. */
export interface YamlEntry {
  readonly key: string;
  readonly keyLine: number;
  readonly value: YamlNode;
}

/** A mapping, entries in document order (duplicates kept, so the decoder can report them). */
export interface YamlMapping {
  readonly kind: "mapping";
  readonly line: number;
  readonly entries: readonly YamlEntry[];
}

/** Any node of the tree. */
export type YamlNode = YamlScalar | YamlSequence | YamlMapping;

const STYLE_NAMES: Readonly<Record<number, YamlScalarStyle>> = {
  [SCALAR_STYLE.PLAIN]: "plain",
  [SCALAR_STYLE.SINGLE_QUOTED]: "single-quoted",
  [SCALAR_STYLE.DOUBLE_QUOTED]: "double-quoted",
  [SCALAR_STYLE.LITERAL_BLOCK]: "literal",
  [SCALAR_STYLE.FOLDED_BLOCK]: "folded",
};

const NULL_RE = /^(?:~|null|Null|NULL|)$/;
const TRUE_RE = /^(?:true|True|TRUE)$/;
const FALSE_RE = /^(?:false|False|FALSE)$/;
const INT_RE = /^[-+]?[0-9]+$/;
const OCT_RE = /^0o[0-7]+$/;
const HEX_RE = /^0x[0-9a-fA-F]+$/;
const FLOAT_RE = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const INF_RE = /^[-+]?\.(?:inf|Inf|INF)$/;
const NAN_RE = /^\.(?:nan|NaN|NAN)$/;

/**
 * Resolves plain scalar text with the YAML 1.2 core schema: null (`~`, `null`, empty), booleans
 * (`true`/`True`/`TRUE`, …), integers (decimal, `0o`, `0x`), floats (incl. `.inf`, `.nan`),
 * otherwise the text itself.
 */
export function resolvePlainScalar(text: string): YamlScalarValue {
  if (NULL_RE.test(text)) return null;
  if (TRUE_RE.test(text)) return true;
  if (FALSE_RE.test(text)) return false;
  if (INT_RE.test(text)) return Number.parseInt(text, 10);
  if (OCT_RE.test(text)) return Number.parseInt(text.slice(2), 8);
  if (HEX_RE.test(text)) return Number.parseInt(text.slice(2), 16);
  if (FLOAT_RE.test(text)) return Number.parseFloat(text);
  if (INF_RE.test(text)) return text.startsWith("-") ? -Infinity : Infinity;
  if (NAN_RE.test(text)) return NaN;
  return text;
}

/**
 * The text of the first YAML document: everything before the second document marker (`---`)
 * or the first document end marker (`...`). Cut at a line start so offsets stay valid; markers
 * are only recognised at column 0, where YAML forbids them inside content.
 */
function firstDocument(text: string): string {
  let started = false;
  let offset = 0;
  while (offset < text.length) {
    const end = text.indexOf("\n", offset);
    const lineEnd = end < 0 ? text.length : end;
    // A byte-order mark may precede the first marker.
    const line = text.slice(offset, lineEnd).replace(/^\uFEFF/, "");
    if (/^\.\.\.(?:[ \t]|\r?$)/.test(line)) return text.slice(0, offset);
    if (/^---(?:[ \t]|\r?$)/.test(line)) {
      if (started) return text.slice(0, offset);
      started = true;
    } else if (!/^\s*(?:#.*)?$/.test(line) && !line.startsWith("%")) {
      started = true;
    }
    offset = lineEnd + 1;
  }
  return text;
}

/** Maps source offsets to 1-based line numbers. */
class LineIndex {
  readonly #starts: number[] = [0];

  constructor(text: string) {
    for (let i = 0; i < text.length; i++) if (text[i] === "\n") this.#starts.push(i + 1);
  }

  lineOf(offset: number): number {
    let lo = 0;
    let hi = this.#starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }
}

/** The core-schema tag name behind `!!x` or `!<tag:yaml.org,2002:x>`; undefined for others. */
function coreTagName(tag: string): string | undefined {
  if (tag.startsWith("!!")) return tag.slice(2);
  const verbatim = /^!<tag:yaml\.org,2002:([a-z]+)>$/.exec(tag);
  return verbatim?.[1];
}

function syntaxError(message: string, line?: number): ConfigError {
  return new ConfigError([
    line === undefined ? { path: "", message } : { path: "", message, line },
  ]);
}

/** Builds the tree from the event stream of one document. */
class TreeBuilder {
  readonly #events: Event[];
  readonly #source: string;
  readonly #lines: LineIndex;
  readonly #anchors = new Map<string, YamlNode>();
  #next = 0;

  constructor(events: Event[], source: string) {
    this.#events = events;
    this.#source = source;
    this.#lines = new LineIndex(source);
  }

  /** The document's root node; null for an empty document. */
  root(): YamlNode | null {
    const first = this.#events[this.#next];
    if (first === undefined) return null;
    if (first.type !== EVENT_ID.DOCUMENT) throw syntaxError("invalid YAML: expected a document");
    this.#next++;
    const next = this.#events[this.#next];
    if (next === undefined || next.type === EVENT_ID.POP) return null;
    return this.#node(1);
  }

  #take(): Event {
    const event = this.#events[this.#next++];
    if (event === undefined) throw syntaxError("invalid YAML: unexpected end of document");
    return event;
  }

  #tag(event: ScalarEvent | MappingEvent | SequenceEvent): string | undefined {
    return event.tagStart < 0 ? undefined : this.#source.slice(event.tagStart, event.tagEnd);
  }

  #remember(event: ScalarEvent | MappingEvent | SequenceEvent, node: YamlNode): void {
    if (event.anchorStart >= 0) {
      this.#anchors.set(this.#source.slice(event.anchorStart, event.anchorEnd), node);
    }
  }

  /** Reads one node; `fallbackLine` is used for empty scalars, which have no position. */
  #node(fallbackLine: number): YamlNode {
    const event = this.#take();
    switch (event.type) {
      case EVENT_ID.SCALAR:
        return this.#scalar(event, fallbackLine);
      case EVENT_ID.SEQUENCE:
        return this.#sequence(event);
      case EVENT_ID.MAPPING:
        return this.#mapping(event);
      case EVENT_ID.ALIAS: {
        const name = this.#source.slice(event.anchorStart, event.anchorEnd);
        const target = this.#anchors.get(name);
        if (target === undefined) {
          throw syntaxError(
            `invalid YAML: alias "*${name}" refers to an unknown anchor`,
            this.#lines.lineOf(event.anchorStart),
          );
        }
        return target;
      }
      default:
        throw syntaxError("invalid YAML: unexpected event", fallbackLine);
    }
  }

  #scalar(event: ScalarEvent, fallbackLine: number): YamlScalar {
    const line = event.valueStart >= 0 ? this.#lines.lineOf(event.valueStart) : fallbackLine;
    const text = getScalarValue(this.#source, event);
    const style = STYLE_NAMES[event.style] ?? "plain";
    const tag = this.#tag(event);
    let value: YamlScalarValue;
    if (tag === undefined) {
      value = style === "plain" ? resolvePlainScalar(text) : text;
    } else {
      value = this.#explicitlyTagged(tag, text, line);
    }
    const node: YamlScalar = { kind: "scalar", line, style, text, value };
    this.#remember(event, node);
    return node;
  }

  /** Honours the core schema's explicit tags (`!!str 10`); any other tag is an error. */
  #explicitlyTagged(tag: string, text: string, line: number): YamlScalarValue {
    if (tag === "!") return text;
    const name = coreTagName(tag);
    const resolved = resolvePlainScalar(text);
    switch (name) {
      case "str":
        return text;
      case "null":
        if (resolved === null) return null;
        break;
      case "bool":
        if (typeof resolved === "boolean") return resolved;
        break;
      case "int":
        if (typeof resolved === "number" && Number.isInteger(resolved)) return resolved;
        break;
      case "float":
        if (typeof resolved === "number") return resolved;
        break;
      default:
        throw syntaxError(`invalid YAML: unsupported tag ${tag}`, line);
    }
    throw syntaxError(`invalid YAML: cannot resolve ${JSON.stringify(text)} as ${tag}`, line);
  }

  #checkCollectionTag(event: MappingEvent | SequenceEvent, expected: "map" | "seq"): void {
    const tag = this.#tag(event);
    if (tag !== undefined && tag !== "!" && coreTagName(tag) !== expected) {
      throw syntaxError(`invalid YAML: unsupported tag ${tag}`, this.#lines.lineOf(event.start));
    }
  }

  #sequence(event: SequenceEvent): YamlSequence {
    this.#checkCollectionTag(event, "seq");
    const line = this.#lines.lineOf(event.start);
    const items: YamlNode[] = [];
    const node: YamlSequence = { kind: "sequence", line, items };
    this.#remember(event, node);
    while (this.#events[this.#next]?.type !== EVENT_ID.POP) {
      items.push(this.#node(items.at(-1)?.line ?? line));
    }
    this.#next++;
    return node;
  }

  #mapping(event: MappingEvent): YamlMapping {
    this.#checkCollectionTag(event, "map");
    const line = this.#lines.lineOf(event.start);
    const entries: YamlEntry[] = [];
    const merged: YamlEntry[] = [];
    const node: YamlMapping = { kind: "mapping", line, entries };
    this.#remember(event, node);
    while (this.#events[this.#next]?.type !== EVENT_ID.POP) {
      const keyNode = this.#node(entries.at(-1)?.keyLine ?? line);
      if (keyNode.kind !== "scalar") {
        throw syntaxError("invalid YAML: mapping keys must be scalars", keyNode.line);
      }
      const value = this.#node(keyNode.line);
      if (keyNode.style === "plain" && keyNode.text === "<<") {
        merged.push(...this.#mergeSources(value));
      } else {
        entries.push({ key: keyNode.text, keyLine: keyNode.line, value });
      }
    }
    this.#next++;
    // `<<` entries never override keys written in the mapping itself, nor earlier merge sources.
    const present = new Set(entries.map((entry) => entry.key));
    for (const entry of merged) {
      if (present.has(entry.key)) continue;
      present.add(entry.key);
      entries.push(entry);
    }
    return node;
  }

  #mergeSources(value: YamlNode): YamlEntry[] {
    const sources = value.kind === "sequence" ? value.items : [value];
    const out: YamlEntry[] = [];
    for (const source of sources) {
      if (source.kind !== "mapping") {
        throw syntaxError("invalid YAML: a merge key (<<) needs a mapping", source.line);
      }
      out.push(...source.entries);
    }
    return out;
  }
}

/** A hint for the most common YAML mistake in kube-proxy files: an unquoted IPv6 address. */
function hintFor(lineText: string): string {
  return /:\s+:/.test(lineText) || /^\s*-\s+:/.test(lineText)
    ? ` (a value starting with ":" such as the IPv6 address "::" must be quoted)`
    : "";
}

/**
 * Parses the first YAML document of `text` into a positioned tree; null when the document is
 * empty (no content, only comments, or a bare `---`).
 *
 * @throws {ConfigError} for YAML syntax errors (js-yaml's reason, with line and column) and
 *   unresolvable aliases or tags.
 */
export function parseYamlDocument(text: string): YamlNode | null {
  const source = firstDocument(text);
  let events: Event[];
  try {
    events = parseEvents(source, {});
  } catch (error) {
    if (error instanceof YAMLException) {
      const mark = error.mark;
      const line = mark === undefined ? undefined : mark.line + 1;
      const column = mark === undefined ? "" : ` at column ${mark.column + 1}`;
      const lineText = line === undefined ? "" : (source.split("\n")[line - 1] ?? "");
      throw syntaxError(`invalid YAML: ${error.reason}${column}${hintFor(lineText)}`, line);
    }
    throw error;
  }
  return new TreeBuilder(events, source).root();
}
