/**
 * The command: flags → config → one of help, version, `--write-config-to`, `--cleanup`,
 * `--dry-run` or the daemon. Every effect goes through {@linkcode CliIO}, so tests run the whole
 * command line without permissions and see exactly what a user would.
 *
 * @module
 */

import denoJson from "../../deno.json" with { type: "json" };
import { FlagError, parseFlags, wantsRawVersion } from "./flags.ts";
import { helpText } from "./help.ts";
import {
  applyLoggingFlags,
  type CommandLine,
  commandLine,
  deprecatedPortOverrides,
  flagsToFile,
} from "./options.ts";
import {
  ConfigError,
  type DecodedConfig,
  dumpConfigYaml,
  loadConfigFile,
  type ProxyConfig,
  resolveConfig,
  type ResolveOptions,
} from "../config/mod.ts";
import { createLogger, type Logger } from "../log.ts";
import { type ClusterObjects, ObjectsFileError, parseObjectsFile } from "../kube/objects_file.ts";
import {
  ApiConfigError,
  ApiError,
  type ClusterSource,
  createClusterSource,
  type KubeSourceOptions,
  listClusterObjects,
  type SourceChangeKind,
  SYSTEM_CLOCK,
} from "../kube/mod.ts";
import type { V1Node } from "@kubernetes/client-node";
import { EndpointTable } from "../model/mod.ts";
import { renderOptionsFrom } from "../backend/backend.ts";
import { BACKENDS, CLEANUPS } from "../backend/registry.ts";
import { runDaemon } from "../daemon.ts";
import { TO_BE_DELETED_TAINT } from "../server/healthz.ts";
import {
  applySysctls,
  detectCpuCount,
  type KernelFiles,
  sysctlSettingsFrom,
} from "../sync/sysctl.ts";
import type { CommandRunner } from "../runner.ts";
import { renderDryRun, tableOptionsFrom } from "./dry_run.ts";

/** The program's version, from deno.json. */
export const VERSION: string = denoJson.version;
/** The Kubernetes release whose kube-proxy this one mirrors. */
export const KUBERNETES_COMPAT = "v1.36";

/** Everything the command touches outside itself. */
export interface CliIO {
  readTextFile(path: string): Promise<string>;
  writeTextFile(path: string, text: string): Promise<void>;
  stdout(text: string): void;
  stderr(text: string): void;
  now(): Date;
  readonly pid: number;
  /** The OS hostname, the node name when no override is given. */
  hostname(): string;
  /** Reads an environment variable (in-cluster API configuration). */
  env(name: string): string | undefined;
  /** Starts iptables-restore, nft, conntrack. */
  readonly runner: CommandRunner;
  /** /proc/sys access for `--init-only` and the daemon's sysctls. */
  readonly kernelFiles: KernelFiles;
}

/** Runs the command line and returns the process exit code. */
export async function runCli(args: readonly string[], io: CliIO): Promise<number> {
  let cmd: CommandLine;
  try {
    cmd = commandLine(parseFlags(args), wantsRawVersion(args));
  } catch (error) {
    if (!(error instanceof FlagError)) throw error;
    io.stderr(`Error: ${error.message}\nRun 'kube-proxy --help' for usage.\n`);
    return 1;
  }
  if (cmd.help) {
    io.stdout(helpText());
    return 0;
  }
  if (cmd.version !== false) {
    io.stdout(versionText(cmd.version));
    return 0;
  }
  for (const warning of cmd.flags.warnings) io.stderr(`${warning}\n`);

  let config: ProxyConfig;
  let decoded: DecodedConfig | undefined;
  // The logger's format comes from the config, so notices found while resolving wait for it.
  const deferredWarnings: string[] = [];
  try {
    decoded = cmd.configPath === undefined
      ? undefined
      : await loadConfigFile(cmd.configPath, io.readTextFile);
    const file = decoded === undefined
      ? flagsToFile(cmd.flags)
      : applyLoggingFlags(decoded.file, cmd.flags);
    const options: ResolveOptions = { warn: (message) => deferredWarnings.push(message) };
    if (decoded !== undefined) options.lineOf = decoded.lineOf;
    else options.bindAddressOverrides = deprecatedPortOverrides(cmd.flags);
    if (cmd.hostnameOverride !== undefined) options.hostnameOverride = cmd.hostnameOverride;
    config = resolveConfig(file, options);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const where = cmd.configPath === undefined ? "the command line" : cmd.configPath;
    for (const warning of decoded?.warnings ?? []) io.stderr(`Warning: ${warning}\n`);
    io.stderr(`Error: invalid configuration in ${where}:\n${indent(error.message)}\n`);
    return 1;
  }

  const log = createLogger({
    format: config.logging.format === "json" ? "json" : "text",
    verbosity: config.logging.verbosity,
    write: io.stderr,
    now: io.now,
    pid: io.pid,
  });
  for (const warning of [...(decoded?.warnings ?? []), ...deferredWarnings]) log.warn(warning);
  if (cmd.ignoredFlags.length > 0) {
    log.warn("Flags ignored because --config is given (as upstream kube-proxy does)", {
      flags: cmd.ignoredFlags.join(" "),
    });
  }

  if (cmd.writeConfigTo !== undefined) {
    await io.writeTextFile(cmd.writeConfigTo, dumpConfigYaml(config));
    log.info("Wrote configuration", { file: cmd.writeConfigTo });
    return 0;
  }
  const nodeName = config.hostnameOverride !== ""
    ? config.hostnameOverride
    : io.hostname().trim().toLowerCase();
  if (cmd.cleanup) return await cleanup(io, log);
  if (cmd.initOnly) {
    await applySysctls(sysctlSettingsFrom(config), {
      files: io.kernelFiles,
      log,
      cpus: await detectCpuCount(io.kernelFiles),
    });
    return 0;
  }
  if (cmd.dryRun) return await dryRun(cmd, config, nodeName, io, log);
  return await daemon(cmd, config, nodeName, io, log);
}

/** `--cleanup`: every mode's rules, as upstream; no API server needed. */
async function cleanup(io: CliIO, log: Logger): Promise<number> {
  let failed = false;
  for (const mode of ["iptables", "nftables"] as const) {
    try {
      await CLEANUPS[mode](io.runner, log);
    } catch (error) {
      failed = true;
      log.error(`Cleaning up ${mode} rules failed`, { err: error });
    }
  }
  if (!failed) log.info("Removed the rules of every proxy mode");
  return failed ? 1 : 0;
}

function sourceOptions(
  cmd: CommandLine,
  config: ProxyConfig,
  nodeName: string,
): KubeSourceOptions {
  const { clientConnection } = config;
  return {
    kubeconfig: clientConnection.kubeconfig,
    master: cmd.master,
    qps: clientConnection.qps,
    burst: clientConnection.burst,
    // Protobuf is upstream's default and we always speak JSON: warn only when a user asked.
    contentType: clientConnection.contentType === PROTOBUF ? "" : clientConnection.contentType,
    apiMode: cmd.apiMode,
    pollIntervalMs: cmd.apiPollIntervalMs,
    configSyncPeriodMs: config.configSyncPeriodMs,
    stateFile: cmd.stateFile,
    nodeName,
    userAgent: `deno-kube-proxy/${VERSION}`,
  };
}

const PROTOBUF = "application/vnd.kubernetes.protobuf";

/** The long-running proxy. */
async function daemon(
  cmd: CommandLine,
  config: ProxyConfig,
  nodeName: string,
  io: CliIO,
  log: Logger,
): Promise<number> {
  const table = new EndpointTable(tableOptionsFrom(config, nodeName));
  // Resolve the API connection before touching the kernel, so a node without one exits 1
  // having changed nothing (upstream also builds its client first).
  let forwardChange: (kind?: SourceChangeKind) => void = () => {};
  let source: ClusterSource;
  try {
    source = await createClusterSource(sourceOptions(cmd, config, nodeName), {
      table,
      onChange: (kind) => forwardChange(kind),
      log,
      env: io.env,
      readTextFile: io.readTextFile,
      clock: SYSTEM_CLOCK,
    });
  } catch (error) {
    if (!(error instanceof ApiConfigError)) throw error;
    log.error("Cannot connect to the API server", { err: error });
    return 1;
  }
  const backend = BACKENDS[config.mode]({
    runner: io.runner,
    log,
    options: renderOptionsFrom(config),
  });
  if (config.mode === "iptables") {
    // Upstream removes the other mode's rules at start-up (nftables mode does it in its backend).
    await CLEANUPS.nftables(io.runner, log).catch((error) =>
      log.warn("Could not remove nftables mode's rules", { err: error })
    );
  }
  return await runDaemon({
    config,
    table,
    backend,
    runner: io.runner,
    log,
    ...(cmd.configPath === undefined ? {} : { configPath: cmd.configPath }),
    source: (onChange) => {
      forwardChange = onChange;
      return source;
    },
    nodeCondition: () => nodeCondition(source.node),
    kernelFiles: io.kernelFiles,
  });
}

/** Deletion and autoscaler taint of this node, which make /healthz answer 503 as upstream. */
function nodeCondition(node: V1Node | null | undefined) {
  return {
    deleting: node?.metadata?.deletionTimestamp !== undefined,
    toBeDeletedTaint: (node?.spec?.taints ?? []).some((t) => t.key === TO_BE_DELETED_TAINT),
  };
}

async function readObjects(
  cmd: CommandLine,
  config: ProxyConfig,
  nodeName: string,
  io: CliIO,
  log: Logger,
): Promise<ClusterObjects> {
  if (cmd.objectsPath === undefined) {
    return await listClusterObjects(sourceOptions(cmd, config, nodeName), {
      log,
      env: io.env,
      readTextFile: io.readTextFile,
      clock: SYSTEM_CLOCK,
    });
  }
  let text: string;
  try {
    text = await io.readTextFile(cmd.objectsPath);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ObjectsFileError(`cannot read --objects file ${cmd.objectsPath}: ${reason}`);
  }
  return parseObjectsFile(text, cmd.objectsPath);
}

/** `--dry-run`: render once and print; never touches the kernel. */
async function dryRun(
  cmd: CommandLine,
  config: ProxyConfig,
  nodeName: string,
  io: CliIO,
  log: Logger,
): Promise<number> {
  let objects: ClusterObjects;
  try {
    objects = await readObjects(cmd, config, nodeName, io, log);
  } catch (error) {
    if (
      !(error instanceof ObjectsFileError || error instanceof ApiConfigError ||
        error instanceof ApiError)
    ) throw error;
    log.error(error.message);
    return 1;
  }
  for (const warning of objects.warnings) log.warn(warning);
  const backend = BACKENDS[config.mode]({
    runner: io.runner,
    log,
    options: renderOptionsFrom(config),
  });
  const rendered = renderDryRun({ config, objects, nodeName, backend });
  for (const warning of rendered.warnings) log.warn(warning);
  io.stdout(rendered.text);
  return 0;
}

function versionText(form: "text" | "raw"): string {
  if (form === "raw") {
    return JSON.stringify(
      {
        gitVersion: `v${VERSION}`,
        kubernetesCompat: KUBERNETES_COMPAT,
        deno: typeof Deno === "undefined" ? "" : Deno.version.deno,
        platform: typeof Deno === "undefined" ? "" : `${Deno.build.os}/${Deno.build.arch}`,
      },
      null,
      2,
    ) + "\n";
  }
  return `deno-kube-proxy v${VERSION} (kube-proxy ${KUBERNETES_COMPAT} compatible)\n`;
}

function indent(text: string): string {
  return text.split("\n").map((line) => `  ${line}`).join("\n");
}
