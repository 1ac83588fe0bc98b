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
import { ObjectsFileError, parseObjectsFile } from "../kube/objects_file.ts";
import { renderDryRun } from "./dry_run.ts";

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
  if (cmd.cleanup || cmd.initOnly) {
    const flag = cmd.cleanup ? "--cleanup" : "--init-only";
    log.error(`${flag} is not implemented yet in this build: no backend can be cleaned up`);
    return 1;
  }
  if (cmd.dryRun) return await dryRun(cmd, config, io, log);
  log.error(
    "The long-running proxy is not implemented yet in this build; use --dry-run --objects FILE",
  );
  return 1;
}

async function dryRun(cmd: CommandLine, config: ProxyConfig, io: CliIO, log: Logger) {
  if (cmd.objectsPath === undefined) {
    log.error("--dry-run needs --objects FILE in this build (reading an API server comes later)");
    return 1;
  }
  let text: string;
  try {
    text = await io.readTextFile(cmd.objectsPath);
  } catch (error) {
    log.error("Cannot read --objects file", { file: cmd.objectsPath, err: error });
    return 1;
  }
  try {
    const objects = parseObjectsFile(text, cmd.objectsPath);
    for (const warning of objects.warnings) log.warn(warning);
    const nodeName = config.hostnameOverride !== ""
      ? config.hostnameOverride
      : io.hostname().trim().toLowerCase();
    const rendered = renderDryRun({ config, objects, nodeName });
    for (const warning of rendered.warnings) log.warn(warning);
    io.stdout(rendered.text);
    return 0;
  } catch (error) {
    if (!(error instanceof ObjectsFileError)) throw error;
    log.error(error.message);
    return 1;
  }
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
