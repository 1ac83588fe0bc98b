/**
 * The test side of `agent.ts`: starts an agent inside a namespace and sends it probes.
 *
 * @module
 */

import type { AgentResponse, ProbeRequest, ProbeResult } from "./agent.ts";
import { LineChild } from "./child.ts";

const AGENT = new URL("./agent.ts", import.meta.url).pathname;

/** How long an agent may take to start (Deno's start-up on a busy 2-core machine). */
const START_TIMEOUT_MS = 20_000;

/** Options of one probe batch. */
export interface ProbeOptions {
  /** How many probes, one after another. @default 1 */
  readonly count?: number;
  /** Per probe. @default 1000 */
  readonly timeoutMs?: number;
  /** UDP only: the local port to send from. */
  readonly localPort?: number;
}

/** A reply `NAME SOURCE` split into its parts; null for `refused`, `timeout` and errors. */
export interface EchoReply {
  /** The pod (echo server) that answered. */
  readonly pod: string;
  /** The source address that pod saw. */
  readonly source: string;
}

/** Parses an agent result; null unless it is an echo reply. */
export function parseReply(result: ProbeResult): EchoReply | null {
  const m = /^(\S+) (\S+)$/.exec(result);
  if (m === null || result.startsWith("error:")) return null;
  return { pod: m[1] as string, source: m[2] as string };
}

/** A running agent: one namespace's client, and its echo servers when it plays a pod. */
export class Agent {
  /** The namespace it runs in. */
  readonly namespace: string;
  readonly #child: LineChild;
  #nextId = 1;

  private constructor(namespace: string, child: LineChild) {
    this.namespace = namespace;
    this.#child = child;
  }

  /**
   * Starts an agent in `namespace`; with `serveAs`, it also runs echo servers that answer with
   * that name. Resolves once it is listening.
   */
  static async start(namespace: string, label: string, serveAs?: string): Promise<Agent> {
    const args = [Deno.execPath(), "run", "--allow-net", "--no-prompt", AGENT];
    if (serveAs !== undefined) args.push(`--serve=${serveAs}`);
    const child = LineChild.start({ namespace, command: args, label: `agent ${label}` });
    const agent = new Agent(namespace, child);
    try {
      await child.nextLine((l) => l.includes('"ready":true'), START_TIMEOUT_MS, "start-up");
    } catch (error) {
      await child.stop("SIGKILL");
      throw error;
    }
    return agent;
  }

  /** TCP connections to `host:port`: each result is `NAME SOURCE`, `refused` or `timeout`. */
  tcp(host: string, port: number, options: ProbeOptions = {}): Promise<ProbeResult[]> {
    return this.#probe("tcp", host, port, options);
  }

  /** UDP exchanges with `host:port`: each result is `NAME SOURCE`, `refused` or `timeout`. */
  udp(host: string, port: number, options: ProbeOptions = {}): Promise<ProbeResult[]> {
    return this.#probe("udp", host, port, options);
  }

  /** Stops the agent. */
  async stop(): Promise<void> {
    await this.#child.stop("SIGKILL", 2_000);
  }

  async #probe(
    op: "tcp" | "udp",
    host: string,
    port: number,
    options: ProbeOptions,
  ): Promise<ProbeResult[]> {
    const id = this.#nextId++;
    const count = options.count ?? 1;
    const timeoutMs = options.timeoutMs ?? 1_000;
    const request: ProbeRequest = {
      id,
      op,
      host,
      port,
      count,
      timeoutMs,
      ...(options.localPort === undefined ? {} : { localPort: options.localPort }),
    };
    await this.#child.send(JSON.stringify(request));
    const line = await this.#child.nextLine(
      (l) => l.startsWith(`{"id":${id},`),
      count * (timeoutMs + 1_000) + 5_000,
      `${op} ${host}:${port}`,
    );
    const response = JSON.parse(line) as AgentResponse;
    if (response.error !== undefined) throw new Error(`agent: ${response.error}`);
    return [...(response.results ?? [])];
  }
}
