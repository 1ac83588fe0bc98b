/**
 * The end-to-end network: namespaces, veths, addresses and routes (README.md beside this file
 * draws it), plus one agent per namespace. Nothing here touches the root namespace: every link
 * is created inside a test namespace (`ip -n NS link add … peer … netns OTHER`), and every
 * sysctl is set per namespace.
 *
 * Address plan (documentation and benchmarking ranges only):
 *
 * | what                         | IPv4                 | IPv6                   |
 * | ---------------------------- | -------------------- | ---------------------- |
 * | node1 (runs the proxy)       | 192.0.2.1/28         | 2001:db8:0:1::1/64     |
 * | gateway towards node1        | 192.0.2.14/28        | 2001:db8:0:1::fe/64    |
 * | node2 (remote pods)          | 192.0.2.17/28        |                        |
 * | gateway towards node2        | 192.0.2.30/28        |                        |
 * | external client / gateway    | 203.0.113.2 / .1     |                        |
 * | pods on node1 / node2        | 198.18.1.0/24 / .2.0 | 2001:db8:18:1::/64     |
 * | ClusterIPs (virtual)         | 198.19.0.0/24        | 2001:db8:19::/112      |
 * | load-balancer IPs (virtual)  | 198.51.100.0/24, routed by the gateway to node1 |  |
 *
 * @module
 */

import { DenoCommandRunner, NetnsRunner } from "../../src/runner.ts";
import { Agent } from "./agent_client.ts";
import { NAMESPACE_PREFIX, track } from "./leak_guard.ts";

const real = new DenoCommandRunner();

/** The Kubernetes names and addresses of the two nodes. */
export const NODE1 = {
  name: "e2e-node1",
  ip: "192.0.2.1",
  ipv6: "2001:db8:0:1::1",
  podCIDR: "198.18.1.0/24",
  podCIDRv6: "2001:db8:18:1::/64",
} as const;
/** The second node: only its pods matter, no proxy runs there. */
export const NODE2 = { name: "e2e-node2", ip: "192.0.2.17", podCIDR: "198.18.2.0/24" } as const;
/** The off-cluster client, behind the gateway. */
export const CLIENT_IP = "203.0.113.2";
/** `clusterCIDR` of the proxy's config: every pod of both nodes, both families. */
export const CLUSTER_CIDRS = ["198.18.0.0/16", "2001:db8:18::/48"] as const;

/** A pod of the topology. */
export interface PodSpec {
  /** The pod's name: what its echo servers answer. */
  readonly name: string;
  /** Where it runs. */
  readonly node: "node1" | "node2";
  readonly ip: string;
  readonly ipv6?: string;
}

/** The pods every e2e run gets: three on node1 (dual-stack), two on node2. */
export const PODS: readonly PodSpec[] = [
  { name: "pod-a", node: "node1", ip: "198.18.1.10", ipv6: "2001:db8:18:1::10" },
  { name: "pod-b", node: "node1", ip: "198.18.1.11", ipv6: "2001:db8:18:1::11" },
  { name: "pod-c", node: "node1", ip: "198.18.1.12", ipv6: "2001:db8:18:1::12" },
  { name: "pod-r", node: "node2", ip: "198.18.2.10" },
  { name: "pod-s", node: "node2", ip: "198.18.2.11" },
];

/** The port every echo server listens on (TCP) and its UDP twin. */
export const ECHO_TCP_PORT = 8080;
/** UDP echo port. */
export const ECHO_UDP_PORT = 8081;

/** The hosts (non-pod namespaces) of the topology. */
export type HostRole = "node1" | "node2" | "gw" | "client";

/** A failed setup command, with what it printed. */
export class TopologyError extends Error {
  /** @param message The command and its stderr. */
  constructor(message: string) {
    super(message);
    this.name = "TopologyError";
  }
}

/** One built topology; {@linkcode Topology.destroy} always removes all of it. */
export class Topology {
  /** `dkp-e2e-<pid>-<tag>`: the prefix of every namespace name. */
  readonly prefix: string;
  readonly #namespaces: { name: string; untrack: () => void }[] = [];
  readonly #agents = new Map<string, Agent>();

  private constructor(prefix: string) {
    this.prefix = prefix;
  }

  /** The namespace name of a host or pod. */
  ns(role: HostRole | string): string {
    return `${this.prefix}-${role}`;
  }

  /** A runner for commands inside a host's or pod's namespace. */
  runner(role: HostRole | string): NetnsRunner {
    return new NetnsRunner(real, this.ns(role));
  }

  /** The agent of a host or pod. */
  agent(role: HostRole | string): Agent {
    const agent = this.#agents.get(role);
    if (agent === undefined) throw new Error(`no agent for ${role}`);
    return agent;
  }

  /**
   * Builds the namespaces and links and starts the agents. `tag` tells runs of one process
   * apart. On failure, everything created so far is removed before the error propagates.
   */
  static async create(tag: string): Promise<Topology> {
    const topology = new Topology(`${NAMESPACE_PREFIX}${Deno.pid}-${tag}`);
    try {
      await topology.#build();
    } catch (error) {
      await topology.destroy();
      throw error;
    }
    return topology;
  }

  /** Runs a command inside `role`'s namespace and throws unless it succeeds. */
  async exec(role: HostRole | string, command: string, ...args: string[]): Promise<string> {
    const result = await this.runner(role).run(command, args, { timeoutMs: 30_000 });
    if (result.code !== 0) {
      throw new TopologyError(
        `${command} ${args.join(" ")} in ${
          this.ns(role)
        } failed (${result.code}): ${result.stderr}`,
      );
    }
    return result.stdout;
  }

  /** Stops the agents and deletes every namespace; safe to call twice. */
  async destroy(): Promise<void> {
    await Promise.all([...this.#agents.values()].map((a) => a.stop().catch(() => {})));
    this.#agents.clear();
    for (const { name, untrack } of this.#namespaces.splice(0)) {
      // Anything still running inside (a proxy that ignored SIGTERM) would keep it alive.
      const pids = await real.run("ip", ["netns", "pids", name]);
      for (const pid of pids.stdout.split(/\s+/).filter((p) => /^\d+$/.test(p))) {
        try {
          Deno.kill(Number(pid), "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      await real.run("ip", ["netns", "delete", name]);
      untrack();
    }
  }

  async #ip(...args: string[]): Promise<void> {
    const result = await real.run("ip", args, { timeoutMs: 30_000 });
    if (result.code !== 0) {
      throw new TopologyError(`ip ${args.join(" ")} failed (${result.code}): ${result.stderr}`);
    }
  }

  async #addNamespace(role: string): Promise<void> {
    const name = this.ns(role);
    await this.#ip("netns", "add", name);
    this.#namespaces.push({ name, untrack: track({ kind: "namespace", name }) });
    // Addresses are usable at once instead of after duplicate address detection.
    await this.exec(role, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0");
    await this.exec(role, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0");
    await this.#ip("-n", name, "link", "set", "lo", "up");
  }

  /** A veth pair: `ifA` in `a`'s namespace, `ifB` in `b`'s. */
  async #link(a: string, ifA: string, b: string, ifB: string): Promise<void> {
    await this.#ip(
      "-n",
      this.ns(a),
      "link",
      "add",
      ifA,
      "type",
      "veth",
      "peer",
      "name",
      ifB,
      "netns",
      this.ns(b),
    );
    await this.#ip("-n", this.ns(a), "link", "set", ifA, "up");
    await this.#ip("-n", this.ns(b), "link", "set", ifB, "up");
  }

  async #addr(role: string, dev: string, cidr: string): Promise<void> {
    const extra = cidr.includes(":") ? ["nodad"] : [];
    await this.#ip("-n", this.ns(role), "addr", "add", cidr, "dev", dev, ...extra);
  }

  async #route(role: string, ...spec: string[]): Promise<void> {
    const family = spec.some((s) => s.includes(":")) ? ["-6"] : [];
    await this.#ip("-n", this.ns(role), ...family, "route", "add", ...spec);
  }

  async #router(role: HostRole): Promise<void> {
    for (
      const setting of [
        "net.ipv4.ip_forward=1",
        "net.ipv6.conf.all.forwarding=1",
        "net.ipv4.conf.all.rp_filter=0",
        "net.ipv4.conf.default.rp_filter=0",
        "net.ipv4.conf.all.send_redirects=0",
        "net.ipv4.conf.default.send_redirects=0",
      ]
    ) {
      await this.exec(role, "sysctl", "-qw", setting);
    }
  }

  async #build(): Promise<void> {
    const hosts: HostRole[] = ["node1", "node2", "gw", "client"];
    await Promise.all(
      [...hosts, ...PODS.map((p) => p.name)].map((role) => this.#addNamespace(role)),
    );
    await Promise.all((["node1", "node2", "gw"] as const).map((r) => this.#router(r)));

    // Hosts around the gateway.
    await this.#link("node1", "eth0", "gw", "n1");
    await this.#link("node2", "eth0", "gw", "n2");
    await this.#link("client", "eth0", "gw", "cl");
    await this.#addr("node1", "eth0", `${NODE1.ip}/28`);
    await this.#addr("node1", "eth0", `${NODE1.ipv6}/64`);
    await this.#addr("gw", "n1", "192.0.2.14/28");
    await this.#addr("gw", "n1", "2001:db8:0:1::fe/64");
    await this.#addr("node2", "eth0", `${NODE2.ip}/28`);
    await this.#addr("gw", "n2", "192.0.2.30/28");
    await this.#addr("client", "eth0", `${CLIENT_IP}/24`);
    await this.#addr("gw", "cl", "203.0.113.1/24");
    await this.#route("node1", "default", "via", "192.0.2.14");
    await this.#route("node1", "default", "via", "2001:db8:0:1::fe");
    await this.#route("node2", "default", "via", "192.0.2.30");
    await this.#route("client", "default", "via", "203.0.113.1");
    await this.#route("gw", NODE1.podCIDR, "via", NODE1.ip);
    await this.#route("gw", NODE1.podCIDRv6, "via", NODE1.ipv6);
    await this.#route("gw", NODE2.podCIDR, "via", NODE2.ip);
    // A load balancer in front of the cluster would send its VIPs to a node: here, node1.
    await this.#route("gw", "198.51.100.0/24", "via", NODE1.ip);

    // Pods: a veth from their node, a host route to them, and their default route via the node.
    for (const pod of PODS) {
      const node = pod.node;
      const nodeIP = node === "node1" ? NODE1.ip : NODE2.ip;
      const dev = `v-${pod.name}`;
      await this.#link(node, dev, pod.name, "eth0");
      await this.#addr(pod.name, "eth0", `${pod.ip}/32`);
      await this.#route(node, `${pod.ip}/32`, "dev", dev);
      await this.#route(pod.name, "default", "via", nodeIP, "dev", "eth0", "onlink");
      if (pod.ipv6 !== undefined) {
        await this.#addr(node, dev, "fe80::1/64");
        await this.#addr(pod.name, "eth0", `${pod.ipv6}/128`);
        await this.#route(node, `${pod.ipv6}/128`, "dev", dev);
        await this.#route(pod.name, "default", "via", "fe80::1", "dev", "eth0");
      }
    }

    const roles: [string, string | undefined][] = [
      ["node1", undefined],
      ["node2", undefined],
      ["client", undefined],
      ...PODS.map((p): [string, string] => [p.name, p.name]),
    ];
    const started = await Promise.allSettled(
      roles.map(async ([role, serveAs]) => {
        const agent = await Agent.start(this.ns(role), role, serveAs);
        this.#agents.set(role, agent);
      }),
    );
    const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  }
}
