/**
 * Reading a kube-proxy configuration file: YAML text → {@linkcode KubeProxyConfigurationFile},
 * with upstream's strict-then-lenient behaviour (reference/config.md §6):
 *
 * - unknown fields (including wrongly cased ones, matching is case-sensitive) and duplicate
 *   fields fail upstream's strict decoding, after which the lenient decoding is used: unknown
 *   fields are dropped, the last of duplicates wins, and ONE warning lists them all;
 * - everything else is fatal and reported all at once as a {@linkcode ConfigError}: wrong or
 *   missing `apiVersion`/`kind`, values of the wrong type, invalid duration text, YAML syntax.
 *
 * Values are type-checked as Go's JSON decoding of the v1alpha1 struct would, not validated
 * (ranges, addresses, modes are `resolveConfig`'s job). Every decoded field's line is kept so
 * later problems can point into the file.
 *
 * @module
 */

import { parseGoDuration } from "./duration.ts";
import { ConfigError, type ConfigProblem } from "./errors.ts";
import {
  type ClientConnectionFile,
  CONFIG_API_VERSION,
  CONFIG_KIND,
  type ConntrackFile,
  type DetectLocalFile,
  type IPTablesFile,
  type IPVSFile,
  type KubeProxyConfigurationFile,
  type LogFormatOptionsFile,
  type LoggingFile,
  type NFTablesFile,
  type VModuleItem,
  type WinkernelFile,
} from "./types.ts";
import {
  parseYamlDocument,
  type YamlMapping,
  type YamlNode,
  type YamlScalar,
} from "./yaml_document.ts";

/** The result of decoding a configuration file. */
export interface DecodedConfig {
  /** The file as written (unknown fields dropped, duplicates resolved last-wins). */
  readonly file: KubeProxyConfigurationFile;
  /** Non-fatal findings, upstream-worded (at most one: the lenient-decoding warning). */
  readonly warnings: string[];
  /**
   * The 1-based line a v1alpha1 path (`iptables.masqueradeBit`, `nodePortAddresses[1]`,
   * `featureGates.Foo`) was written on, if it was.
   */
  lineOf(path: string): number | undefined;
}

/** How a field's YAML value is checked and converted (mirrors the Go type of the field). */
type FieldSpec =
  | { readonly type: "string" }
  | { readonly type: "bool"; readonly pointer?: true }
  | {
    readonly type: "int";
    readonly min: number;
    readonly max: number;
    readonly label: string;
    readonly pointer?: true;
  }
  | { readonly type: "float" }
  | { readonly type: "duration"; readonly pointer?: true }
  | { readonly type: "durationOrNanoseconds" }
  | { readonly type: "quantity" }
  | { readonly type: "stringList" }
  | { readonly type: "boolMap" }
  | { readonly type: "list"; readonly item: StructSpec }
  | { readonly type: "struct"; readonly fields: StructSpec };

/** The fields of one struct, by JSON name. */
type StructSpec = Readonly<Record<string, FieldSpec>>;

/** Ties a struct spec to its TypeScript type, so a field missing from either side is caught. */
type SpecOf<T> = { readonly [K in keyof Required<T>]: FieldSpec };

const STRING = { type: "string" } as const;
const BOOL = { type: "bool" } as const;
const BOOL_PTR = { type: "bool", pointer: true } as const;
const INT32 = {
  type: "int",
  min: -(2 ** 31),
  max: 2 ** 31 - 1,
  label: "a 32-bit integer",
} as const;
const INT32_PTR = { ...INT32, pointer: true } as const;
const UINT32 = {
  type: "int",
  min: 0,
  max: 2 ** 32 - 1,
  label: "a non-negative 32-bit integer",
} as const;
const FLOAT = { type: "float" } as const;
const DURATION = { type: "duration" } as const;
const DURATION_PTR = { type: "duration", pointer: true } as const;
const STRING_LIST = { type: "stringList" } as const;

function struct<T>(fields: SpecOf<T>): FieldSpec {
  return { type: "struct", fields };
}

const CLIENT_CONNECTION: SpecOf<ClientConnectionFile> = {
  kubeconfig: STRING,
  acceptContentTypes: STRING,
  contentType: STRING,
  qps: FLOAT,
  burst: INT32,
};

const IPTABLES: SpecOf<IPTablesFile> = {
  masqueradeBit: INT32_PTR,
  masqueradeAll: BOOL,
  localhostNodePorts: BOOL_PTR,
  syncPeriod: DURATION,
  minSyncPeriod: DURATION,
};

const IPVS: SpecOf<IPVSFile> = {
  syncPeriod: DURATION,
  minSyncPeriod: DURATION,
  scheduler: STRING,
  excludeCIDRs: STRING_LIST,
  strictARP: BOOL,
  tcpTimeout: DURATION,
  tcpFinTimeout: DURATION,
  udpTimeout: DURATION,
};

const NFTABLES: SpecOf<NFTablesFile> = {
  masqueradeBit: INT32_PTR,
  masqueradeAll: BOOL,
  syncPeriod: DURATION,
  minSyncPeriod: DURATION,
};

const CONNTRACK: SpecOf<ConntrackFile> = {
  maxPerCore: INT32_PTR,
  min: INT32_PTR,
  tcpEstablishedTimeout: DURATION_PTR,
  tcpCloseWaitTimeout: DURATION_PTR,
  tcpBeLiberal: BOOL,
  udpTimeout: DURATION,
  udpStreamTimeout: DURATION,
};

const DETECT_LOCAL: SpecOf<DetectLocalFile> = {
  bridgeInterface: STRING,
  interfaceNamePrefix: STRING,
};

const WINKERNEL: SpecOf<WinkernelFile> = {
  networkName: STRING,
  sourceVip: STRING,
  enableDSR: BOOL,
  rootHnsEndpointName: STRING,
  forwardHealthCheckVip: BOOL,
};

const VMODULE_ITEM: SpecOf<VModuleItem> = { filePattern: STRING, verbosity: UINT32 };

const FORMAT_OPTIONS: SpecOf<LogFormatOptionsFile> = {
  splitStream: BOOL,
  infoBufferSize: { type: "quantity" },
};

const LOGGING: SpecOf<LoggingFile> = {
  format: STRING,
  flushFrequency: { type: "durationOrNanoseconds" },
  verbosity: UINT32,
  vmodule: { type: "list", item: VMODULE_ITEM },
  options: struct<NonNullable<LoggingFile["options"]>>({
    text: struct(FORMAT_OPTIONS),
    json: struct(FORMAT_OPTIONS),
  }),
};

/** The v1alpha1 `KubeProxyConfiguration` (1.36), field by field. */
const ROOT: SpecOf<KubeProxyConfigurationFile> = {
  apiVersion: STRING,
  kind: STRING,
  featureGates: { type: "boolMap" },
  clientConnection: struct(CLIENT_CONNECTION),
  logging: struct(LOGGING),
  hostnameOverride: STRING,
  bindAddress: STRING,
  healthzBindAddress: STRING,
  metricsBindAddress: STRING,
  bindAddressHardFail: BOOL,
  enableProfiling: BOOL,
  showHiddenMetricsForVersion: STRING,
  mode: STRING,
  iptables: struct(IPTABLES),
  ipvs: struct(IPVS),
  nftables: struct(NFTABLES),
  winkernel: struct(WINKERNEL),
  detectLocalMode: STRING,
  detectLocal: struct(DETECT_LOCAL),
  clusterCIDR: STRING,
  nodePortAddresses: STRING_LIST,
  oomScoreAdj: INT32_PTR,
  conntrack: struct(CONNTRACK),
  configSyncPeriod: DURATION,
  portRange: STRING,
  windowsRunAsService: BOOL,
};

/** Marks "leave the field unset" (a `null` for a non-pointer field, as Go's JSON decoding does). */
const OMIT: unique symbol = Symbol("omit");

/** YAML 1.1 booleans, which upstream's YAML→JSON step (go-yaml v2) also accepts. */
const YAML11_BOOLS: ReadonlyMap<string, boolean> = new Map([
  ...["y", "Y", "yes", "Yes", "YES", "on", "On", "ON"].map((s) => [s, true] as const),
  ...["n", "N", "no", "No", "NO", "off", "Off", "OFF"].map((s) => [s, false] as const),
]);

const QUANTITY_RE =
  /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$/;

/** Upstream's rendering of a strict-decoding finding, plus our line and case hints. */
interface StrictFinding {
  readonly kind: "unknown" | "duplicate";
  readonly path: string;
  readonly line: number;
  readonly suggestion?: string;
}

function describe(node: YamlNode): string {
  if (node.kind === "mapping") return "a mapping";
  if (node.kind === "sequence") return "a list";
  const value = node.value;
  if (value === null) return "null";
  if (typeof value === "string") return `string ${JSON.stringify(value)}`;
  if (typeof value === "boolean") return `boolean ${node.text}`;
  return `number ${node.text}`;
}

function childPath(parent: string, key: string): string {
  return parent === "" ? key : `${parent}.${key}`;
}

/** Decodes a YAML tree into the v1alpha1 shape, collecting problems, findings and lines. */
class Decoder {
  readonly problems: ConfigProblem[] = [];
  readonly findings: StrictFinding[] = [];
  readonly lines = new Map<string, number>();

  #problem(path: string, message: string, line: number): void {
    this.problems.push({ path, message, line });
  }

  decodeStruct(node: YamlMapping, spec: StructSpec, path: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const lastIndex = new Map<string, number>();
    node.entries.forEach((entry, index) => lastIndex.set(entry.key, index));
    node.entries.forEach((entry, index) => {
      const fieldPath = childPath(path, entry.key);
      const fieldSpec = Object.hasOwn(spec, entry.key) ? spec[entry.key] : undefined;
      if (fieldSpec === undefined) {
        const lower = entry.key.toLowerCase();
        const suggestion = Object.keys(spec).find((name) => name.toLowerCase() === lower);
        this.findings.push(
          suggestion === undefined
            ? { kind: "unknown", path: fieldPath, line: entry.keyLine }
            : { kind: "unknown", path: fieldPath, line: entry.keyLine, suggestion },
        );
        return;
      }
      // Upstream's YAML→JSON step keeps only the last of duplicate keys, so earlier values are
      // neither used nor type-checked.
      if (lastIndex.get(entry.key) !== index) {
        this.findings.push({ kind: "duplicate", path: fieldPath, line: entry.keyLine });
        return;
      }
      this.lines.set(fieldPath, entry.keyLine);
      const value = this.decodeValue(entry.value, fieldSpec, fieldPath);
      if (value !== OMIT) out[entry.key] = value;
    });
    return out;
  }

  decodeValue(node: YamlNode, spec: FieldSpec, path: string): unknown {
    if (node.kind === "scalar" && node.value === null) return this.#decodeNull(node, spec, path);
    switch (spec.type) {
      case "string":
        return this.#string(node, path);
      case "bool":
        return this.#bool(node, path);
      case "int":
        return this.#int(node, spec.min, spec.max, spec.label, path);
      case "float":
        if (node.kind === "scalar" && typeof node.value === "number") return node.value;
        return this.#mismatch(node, "a number", path);
      case "duration":
        return this.#duration(node, path);
      case "durationOrNanoseconds":
        if (node.kind === "scalar" && typeof node.value === "number") {
          if (Number.isInteger(node.value)) return node.value;
          return this.#mismatch(
            node,
            'a duration string such as "5s" or integer nanoseconds',
            path,
          );
        }
        return this.#duration(node, path);
      case "quantity":
        return this.#quantity(node, path);
      case "stringList":
        if (node.kind !== "sequence") return this.#mismatch(node, "a list of strings", path);
        return node.items.map((item, i) => {
          const itemPath = `${path}[${i}]`;
          this.lines.set(itemPath, item.line);
          // A null item becomes "" in Go; validation then reports it.
          if (item.kind === "scalar" && item.value === null) return "";
          const value = this.#string(item, itemPath);
          return value === OMIT ? "" : value;
        });
      case "boolMap":
        return this.#boolMap(node, path);
      case "list":
        if (node.kind !== "sequence") return this.#mismatch(node, "a list", path);
        return node.items.map((item, i) => {
          const itemPath = `${path}[${i}]`;
          this.lines.set(itemPath, item.line);
          if (item.kind !== "mapping") {
            this.#mismatch(item, "a mapping", itemPath);
            return {};
          }
          return this.decodeStruct(item, spec.item, itemPath);
        });
      case "struct":
        if (node.kind !== "mapping") return this.#mismatch(node, "a mapping", path);
        return this.decodeStruct(node, spec.fields, path);
    }
  }

  /**
   * `null` (or an empty value): pointers, lists and maps keep it; other fields stay unset, except
   * non-pointer durations, which Go hands to the duration parser as "" (a fatal error).
   */
  #decodeNull(node: YamlScalar, spec: FieldSpec, path: string): unknown {
    switch (spec.type) {
      case "duration":
        if (spec.pointer) return null;
        this.#problem(path, `time: invalid duration ""`, node.line);
        return OMIT;
      case "bool":
      case "int":
        return spec.pointer ? null : OMIT;
      case "stringList":
      case "boolMap":
      case "list":
        return null;
      default:
        return OMIT;
    }
  }

  #mismatch(node: YamlNode, expected: string, path: string, hint = ""): typeof OMIT {
    this.#problem(path, `expected ${expected}, got ${describe(node)}${hint}`, node.line);
    return OMIT;
  }

  #string(node: YamlNode, path: string): string | typeof OMIT {
    if (node.kind === "scalar" && typeof node.value === "string") return node.value;
    const hint = node.kind === "scalar" ? ` (quote it if "${node.text}" is meant as text)` : "";
    return this.#mismatch(node, "a string", path, hint);
  }

  #bool(node: YamlNode, path: string): boolean | typeof OMIT {
    if (node.kind === "scalar") {
      if (typeof node.value === "boolean") return node.value;
      const yaml11 = node.style === "plain" ? YAML11_BOOLS.get(node.text) : undefined;
      if (yaml11 !== undefined) return yaml11;
    }
    return this.#mismatch(node, "a boolean (true or false)", path);
  }

  #int(node: YamlNode, min: number, max: number, label: string, path: string) {
    if (node.kind === "scalar" && typeof node.value === "number") {
      const value = node.value;
      if (Number.isInteger(value) && value >= min && value <= max) return value;
      return this.#mismatch(node, label, path);
    }
    const quotedNumber = node.kind === "scalar" && typeof node.value === "string" &&
      /^[-+]?[0-9]+$/.test(node.value);
    return this.#mismatch(node, "an integer", path, quotedNumber ? " (remove the quotes)" : "");
  }

  #duration(node: YamlNode, path: string): string | typeof OMIT {
    if (node.kind !== "scalar" || typeof node.value !== "string") {
      return this.#mismatch(node, `a duration string such as "30s"`, path);
    }
    try {
      parseGoDuration(node.value);
    } catch (error) {
      this.#problem(path, error instanceof Error ? error.message : String(error), node.line);
      return OMIT;
    }
    return node.value;
  }

  #quantity(node: YamlNode, path: string): string | typeof OMIT {
    // Go's Quantity accepts a JSON number or string.
    if (node.kind === "scalar" && node.value !== null && typeof node.value !== "boolean") {
      const text = typeof node.value === "string" ? node.value : node.text;
      if (QUANTITY_RE.test(text.trim())) return text.trim();
    }
    return this.#mismatch(node, `a quantity such as "0" or "64Ki"`, path);
  }

  #boolMap(node: YamlNode, path: string): Record<string, boolean> | typeof OMIT {
    if (node.kind !== "mapping") {
      return this.#mismatch(node, "a map of feature gate names to booleans (Name: true)", path);
    }
    const out: Record<string, boolean> = {};
    const lastIndex = new Map<string, number>();
    node.entries.forEach((entry, index) => lastIndex.set(entry.key, index));
    node.entries.forEach((entry, index) => {
      const entryPath = childPath(path, entry.key);
      if (lastIndex.get(entry.key) !== index) {
        this.findings.push({ kind: "duplicate", path: entryPath, line: entry.keyLine });
        return;
      }
      this.lines.set(entryPath, entry.keyLine);
      const value = entry.value.kind === "scalar" && entry.value.value === null
        ? this.#mismatch(entry.value, "a boolean (true or false)", entryPath)
        : this.#bool(entry.value, entryPath);
      if (value !== OMIT) out[entry.key] = value;
    });
    return out;
  }
}

/** The message for a wrong `apiVersion`, naming what is expected and why the value is not it. */
function apiVersionProblem(apiVersion: string | undefined): string | undefined {
  if (apiVersion === undefined || apiVersion === "") {
    return `is missing, expected "${CONFIG_API_VERSION}"`;
  }
  if (apiVersion === CONFIG_API_VERSION) return undefined;
  const group = apiVersion.split("/")[0];
  const why = group === "componentconfig"
    ? " (the pre-1.10 componentconfig group is no longer accepted)"
    : group === "kubeproxy.config.k8s.io"
    ? " (v1alpha1 is the only version kube-proxy registers)"
    : "";
  return `unsupported version ${
    JSON.stringify(apiVersion)
  }${why}, expected "${CONFIG_API_VERSION}"`;
}

function renderFinding(finding: StrictFinding): string {
  const where = finding.suggestion === undefined
    ? `line ${finding.line}`
    : `line ${finding.line}, did you mean "${finding.suggestion}"?`;
  return `${finding.kind} field ${JSON.stringify(finding.path)} (${where})`;
}

/**
 * Decodes kube-proxy configuration YAML (first document only) into the v1alpha1 shape.
 *
 * @throws {ConfigError} listing every fatal problem with its path and line.
 */
export function decodeConfig(text: string): DecodedConfig {
  const root = parseYamlDocument(text);
  // A bare "---" or "~" document is as empty as no document at all.
  if (root === null || (root.kind === "scalar" && root.value === null)) {
    throw new ConfigError([{
      path: "",
      message:
        `the configuration is empty, expected a ${CONFIG_KIND} document (apiVersion: ${CONFIG_API_VERSION}, kind: ${CONFIG_KIND})`,
    }]);
  }
  if (root.kind !== "mapping") {
    throw new ConfigError([{
      path: "",
      message: `the configuration must be a YAML mapping with apiVersion and kind, got ${
        describe(root)
      }`,
      line: root.line,
    }]);
  }

  const decoder = new Decoder();
  const file = decoder.decodeStruct(root, ROOT, "") as KubeProxyConfigurationFile;

  const problems: ConfigProblem[] = [];
  // A type problem already reported for apiVersion/kind says enough; don't add "is missing".
  const reported = new Set(decoder.problems.map((problem) => problem.path));
  const versionProblem = apiVersionProblem(file.apiVersion);
  if (versionProblem !== undefined && !reported.has("apiVersion")) {
    const line = decoder.lines.get("apiVersion");
    problems.push(
      line === undefined
        ? { path: "apiVersion", message: versionProblem }
        : { path: "apiVersion", message: versionProblem, line },
    );
  }
  if (file.kind !== CONFIG_KIND && !reported.has("kind")) {
    const message = file.kind === undefined || file.kind === ""
      ? `is missing, expected "${CONFIG_KIND}"`
      : `unsupported kind ${JSON.stringify(file.kind)}, expected "${CONFIG_KIND}"`;
    const line = decoder.lines.get("kind");
    problems.push(line === undefined ? { path: "kind", message } : { path: "kind", message, line });
  }
  problems.push(...decoder.problems);
  if (problems.length > 0) throw new ConfigError(problems);

  const warnings: string[] = [];
  if (decoder.findings.length > 0) {
    warnings.push(
      "Using lenient decoding as strict decoding failed: strict decoding error: " +
        decoder.findings.map(renderFinding).join(", "),
    );
  }
  const lines = decoder.lines;
  return { file, warnings, lineOf: (path) => lines.get(path) };
}

/**
 * Reads and decodes the configuration file at `path`. `readTextFile` is injected (normally
 * `Deno.readTextFile`) so this module stays free of I/O.
 *
 * @throws {ConfigError} for an unreadable file (`open /x.yaml: no such file or directory`, as
 *   upstream words it) and for everything {@linkcode decodeConfig} rejects.
 */
export async function loadConfigFile(
  path: string,
  readTextFile: (path: string) => Promise<string>,
): Promise<DecodedConfig> {
  let text: string;
  try {
    text = await readTextFile(path);
  } catch (error) {
    const name = error instanceof Error ? error.name : "";
    const reason = name === "NotFound"
      ? "no such file or directory"
      : name === "PermissionDenied"
      ? "permission denied"
      : name === "IsADirectory"
      ? "is a directory"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new ConfigError([{ path: "", message: `open ${path}: ${reason}` }], { cause: error });
  }
  return decodeConfig(text);
}
