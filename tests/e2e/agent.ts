/**
 * The program that plays a pod (or a host) inside one network namespace of the end-to-end
 * topology. Started once per namespace with `ip netns exec NS deno run --allow-net agent.ts`, it
 *
 * - with `--serve=NAME`, runs a TCP and a UDP echo server on `--tcp-port` / `--udp-port` (all
 *   addresses, both families) that answer `NAME SOURCE`: the pod's name proves which endpoint was
 *   reached, the source address it saw proves whether the packet was masqueraded;
 * - makes client connections on command, read as JSON lines on stdin ({@linkcode AgentRequest}),
 *   each answered with one JSON line on stdout ({@linkcode AgentResponse});
 * - exits when stdin closes, so a test process that dies takes its agents with it.
 *
 * One long-lived agent per namespace instead of a process per probe: Deno starts in a few hundred
 * milliseconds, a probe through an agent costs about one.
 *
 * @module
 */

import * as dgram from "node:dgram";
import * as net from "node:net";
import { Buffer } from "node:buffer";

/** One probe, or a batch of `count` identical probes run one after another. */
export interface ProbeRequest {
  readonly id: number;
  readonly op: "tcp" | "udp";
  readonly host: string;
  readonly port: number;
  /** How many probes, sequentially. @default 1 */
  readonly count?: number;
  /** Give up on one probe after this long: the result is `timeout`. */
  readonly timeoutMs: number;
  /** UDP only: send from this local port (one flow, one conntrack entry). @default any */
  readonly localPort?: number;
}

/** Ends the agent. */
export interface ExitRequest {
  readonly id: number;
  readonly op: "exit";
}

/** What the controller writes, one JSON object per line. */
export type AgentRequest = ProbeRequest | ExitRequest;

/**
 * One probe's outcome: the echo server's reply (`NAME SOURCE`), `refused` (RST or ICMP
 * unreachable: a REJECT), `timeout` (no answer: a DROP), or `error: …` for anything else.
 */
export type ProbeResult = string;

/** The agent's answer, one JSON object per line; `id` 0 is the start-up `ready` line. */
export interface AgentResponse {
  readonly id: number;
  readonly results?: readonly ProbeResult[];
  readonly ready?: boolean;
  readonly error?: string;
}

/** Strips the IPv4-mapped prefix that dual-stack sockets report for IPv4 peers. */
export function plainAddress(address: string | undefined): string {
  if (address === undefined) return "?";
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let text = "";
    let settled = false;
    const socket = net.connect({ host, port });
    const finish = (result: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // destroy() closes the socket, so a dropped SYN is not retried in the background.
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish(text === "" ? "timeout" : text.trim()), timeoutMs);
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      text += chunk;
      if (text.includes("\n")) finish(text.trim());
    });
    socket.on("end", () => finish(text === "" ? "error: closed without a reply" : text.trim()));
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNREFUSED") finish("refused");
      else if (error.code === "EHOSTUNREACH" || error.code === "ENETUNREACH") {
        finish(`unreachable`);
      } else finish(`error: ${error.code ?? error.message}`);
    });
  });
}

function udpProbe(
  host: string,
  port: number,
  timeoutMs: number,
  localPort: number | undefined,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket({ type: host.includes(":") ? "udp6" : "udp4" });
    let settled = false;
    const finish = (result: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        socket.close();
      } catch {
        // Already closed.
      }
      resolve(result);
    };
    const timer = setTimeout(() => finish("timeout"), timeoutMs);
    socket.on("message", (message: Buffer) => finish(message.toString("utf8").trim()));
    socket.on("error", (error: NodeJS.ErrnoException) => {
      finish(error.code === "ECONNREFUSED" ? "refused" : `error: ${error.code ?? error.message}`);
    });
    socket.bind(localPort ?? 0, () => {
      // A connected socket reports ICMP port unreachable (a REJECT) as ECONNREFUSED.
      socket.connect(port, host, () => socket.send(Buffer.from("probe\n")));
    });
  });
}

async function probe(request: ProbeRequest): Promise<ProbeResult[]> {
  const results: ProbeResult[] = [];
  for (let i = 0; i < (request.count ?? 1); i++) {
    results.push(
      request.op === "tcp"
        ? await tcpProbe(request.host, request.port, request.timeoutMs)
        : await udpProbe(request.host, request.port, request.timeoutMs, request.localPort),
    );
  }
  return results;
}

function serve(name: string, tcpPort: number, udpPort: number): Promise<void> {
  const tcp = net.createServer((socket) => {
    socket.on("error", () => {});
    socket.end(`${name} ${plainAddress(socket.remoteAddress)}\n`);
  });
  const udp = dgram.createSocket({ type: "udp6", ipv6Only: false });
  udp.on("message", (_message: Buffer, remote: dgram.RemoteInfo) => {
    udp.send(`${name} ${plainAddress(remote.address)}\n`, remote.port, remote.address);
  });
  const tcpReady = new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen({ port: tcpPort, host: "::", ipv6Only: false }, () => resolve());
  });
  const udpReady = new Promise<void>((resolve, reject) => {
    udp.once("error", reject);
    udp.bind({ port: udpPort, address: "::" }, () => resolve());
  });
  return Promise.all([tcpReady, udpReady]).then(() => {});
}

function write(response: AgentResponse): void {
  Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(response) + "\n"));
}

async function main(args: readonly string[]): Promise<void> {
  const flags = new Map<string, string>();
  for (const arg of args) {
    const m = /^--([^=]+)=(.*)$/.exec(arg);
    if (m !== null) flags.set(m[1] as string, m[2] as string);
  }
  const name = flags.get("serve");
  if (name !== undefined) {
    await serve(name, Number(flags.get("tcp-port") ?? 8080), Number(flags.get("udp-port") ?? 8081));
  }
  write({ id: 0, ready: true });

  let buffered = "";
  const decoder = new TextDecoder();
  const pending = new Set<Promise<void>>();
  for await (const chunk of Deno.stdin.readable) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line === "") continue;
      const request = JSON.parse(line) as AgentRequest;
      if (request.op === "exit") Deno.exit(0);
      // Requests run concurrently; each answer carries its id.
      const task = probe(request).then(
        (results) => write({ id: request.id, results }),
        (error) => write({ id: request.id, error: String(error) }),
      ).finally(() => pending.delete(task));
      pending.add(task);
    }
  }
  // stdin closed: the controller is gone.
  Deno.exit(0);
}

if (import.meta.main) await main(Deno.args);
