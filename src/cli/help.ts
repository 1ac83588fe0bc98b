/**
 * `--help` text, generated from the flag table.
 *
 * @module
 */

import { type FlagGroup, FLAGS, type FlagSpec } from "./flag_table.ts";

const HEADINGS: Record<FlagGroup, string> = {
  upstream: "Flags (as upstream kube-proxy; with --config only --config, --master,\n" +
    "--hostname-override, --cleanup, --init-only, --write-config-to, --version and the\n" +
    "logging flags are honoured, all others are ignored):",
  logging: "Logging flags (always honoured; copied over the config file's logging block):",
  extension: "deno-kube-proxy extensions (always honoured; never part of the config file):",
};

/** The whole `--help` text. */
export function helpText(): string {
  const lines = [
    "The Kubernetes network proxy runs on each node. This reflects services as defined in",
    "the Kubernetes API on each node and can do simple TCP, UDP, and SCTP stream forwarding",
    "across a set of backends. deno-kube-proxy is a drop-in replacement for upstream",
    "kube-proxy in iptables and nftables mode.",
    "",
    "Usage:",
    "  kube-proxy [flags]",
  ];
  for (const group of ["upstream", "logging", "extension"] as const) {
    lines.push("", HEADINGS[group]);
    for (const spec of FLAGS.filter((f) => f.group === group)) lines.push(describe(spec));
  }
  return lines.join("\n") + "\n";
}

function describe(spec: FlagSpec): string {
  const names = spec.short === undefined ? `    --${spec.name}` : `-${spec.short}, --${spec.name}`;
  const typeWord = TYPE_WORDS[spec.type];
  const left = `  ${names}${typeWord === "" ? "" : ` ${typeWord}`}`;
  const shown = spec.shownDefault === "" ? "" : ` (default ${quoteDefault(spec)})`;
  const deprecated = spec.deprecated === undefined ? "" : ` (DEPRECATED: ${spec.deprecated})`;
  return `${left.padEnd(48)} ${spec.usage}${shown}${deprecated}`;
}

function quoteDefault(spec: FlagSpec): string {
  return spec.type === "string" || spec.type === "ipport"
    ? JSON.stringify(spec.shownDefault)
    : spec.shownDefault;
}

const TYPE_WORDS: Record<FlagSpec["type"], string> = {
  bool: "",
  version: "version[=true]",
  string: "string",
  int32: "int32",
  float32: "float32",
  duration: "duration",
  strings: "strings",
  ip: "ip",
  ipport: "ipport",
  mapStringBool: "mapStringBool",
  level: "Level",
};
