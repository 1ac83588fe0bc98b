/**
 * The end-to-end cases, each a function of a running topology and proxy. They only send real
 * packets and look at what the echo servers answered: which pod, and which source it saw.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseReply } from "./agent_client.ts";
import { SERVICES, sliceObjects } from "./cluster.ts";
import type { ProxyUnderTest } from "./proxy.ts";
import { CLIENT_IP, NODE1, PODS, type Topology } from "./topology.ts";
import { eventually } from "./wait.ts";

/** What a case runs against. */
export interface CaseContext {
  readonly topology: Topology;
  readonly proxy: ProxyUnderTest;
}

/** Enough connections to reach each of three random-balanced endpoints (miss ≈ 3·(2/3)^30). */
const SPREAD = 30;

/** The answers of a batch of probes, grouped. */
export interface Summary {
  /** Pods that answered, sorted, unique. */
  readonly pods: readonly string[];
  /** Source addresses the pods saw, sorted, unique. */
  readonly sources: readonly string[];
  /** Probes without an echo reply (`refused`, `timeout`, errors), unique. */
  readonly failures: readonly string[];
}

/** Groups probe results. */
export function summarise(results: readonly string[]): Summary {
  const pods = new Set<string>();
  const sources = new Set<string>();
  const failures = new Set<string>();
  for (const result of results) {
    const reply = parseReply(result);
    if (reply === null) failures.add(result);
    else {
      pods.add(reply.pod);
      sources.add(reply.source);
    }
  }
  return { pods: [...pods].sort(), sources: [...sources].sort(), failures: [...failures].sort() };
}

function ip(podName: string): string {
  const pod = PODS.find((p) => p.name === podName);
  if (pod === undefined) throw new Error(`no pod ${podName}`);
  return pod.ip;
}

function ipv6(podName: string): string {
  const address = PODS.find((p) => p.name === podName)?.ipv6;
  if (address === undefined) throw new Error(`no IPv6 for ${podName}`);
  return address;
}

/** Waits until the proxy serves `multi`'s ClusterIP from the node (start-up). */
export async function waitUntilServing(ctx: CaseContext, timeoutMs = 30_000): Promise<number> {
  const node = ctx.topology.agent("node1");
  const { clusterIP, port } = SERVICES.multi;
  const what = `${ctx.proxy.mode} proxy serving ${clusterIP}:${port}`;
  return await eventually(what, timeoutMs, async () => {
    const code = ctx.proxy.exitCode();
    if (code !== null) throw new Error(`the proxy exited with code ${code} before serving`);
    const [result = ""] = await node.tcp(clusterIP, port, { timeoutMs: 500 });
    return { done: parseReply(result) !== null, seen: result };
  });
}

/** ClusterIP with three endpoints: all reached, from the node (masqueraded) and a pod (not). */
export async function clusterIPReachesEveryEndpoint(ctx: CaseContext): Promise<void> {
  const { clusterIP, port } = SERVICES.multi;
  const fromNode = summarise(
    await ctx.topology.agent("node1").tcp(clusterIP, port, { count: SPREAD }),
  );
  assert.deepEqual(fromNode, {
    pods: ["pod-a", "pod-b", "pod-r"],
    sources: [NODE1.ip],
    failures: [],
  });
  const fromPod = summarise(
    await ctx.topology.agent("pod-c").tcp(clusterIP, port, { count: SPREAD }),
  );
  assert.deepEqual(fromPod, {
    pods: ["pod-a", "pod-b", "pod-r"],
    sources: [ip("pod-c")],
    failures: [],
  });
}

/** NodePort: from the external client (masqueraded to the node IP) and from the node itself. */
export async function nodePortFromClientAndNode(ctx: CaseContext): Promise<void> {
  const { nodePort } = SERVICES.multi;
  const fromClient = summarise(
    await ctx.topology.agent("client").tcp(NODE1.ip, nodePort, { count: SPREAD }),
  );
  assert.deepEqual(fromClient, {
    pods: ["pod-a", "pod-b", "pod-r"],
    sources: [NODE1.ip],
    failures: [],
  });
  const fromNode = summarise(
    await ctx.topology.agent("node1").tcp(NODE1.ip, nodePort, { count: SPREAD }),
  );
  assert.deepEqual(fromNode, {
    pods: ["pod-a", "pod-b", "pod-r"],
    sources: [NODE1.ip],
    failures: [],
  });
}

/** No endpoints: the connection is refused at once (REJECT), from the node and from a pod. */
export async function noEndpointsRejects(ctx: CaseContext): Promise<void> {
  const { clusterIP, port } = SERVICES.empty;
  for (const role of ["node1", "pod-c"]) {
    const start = performance.now();
    const results = await ctx.topology.agent(role).tcp(clusterIP, port, { timeoutMs: 2_000 });
    const elapsed = performance.now() - start;
    assert.deepEqual(results, ["refused"], `from ${role}`);
    assert.ok(elapsed < 1_000, `refused after ${Math.round(elapsed)} ms from ${role}`);
  }
}

/**
 * eTP Local: external traffic reaches only local endpoints with the client's address intact;
 * a node without local endpoints drops it; pods still reach every endpoint (short-circuit).
 */
export async function externalPolicyLocal(ctx: CaseContext): Promise<void> {
  const client = ctx.topology.agent("client");
  const local = summarise(
    await client.tcp(NODE1.ip, SERVICES.etpLocal.nodePort, { count: 20 }),
  );
  assert.deepEqual(local, { pods: ["pod-a"], sources: [CLIENT_IP], failures: [] });

  const remoteOnly = await client.tcp(NODE1.ip, SERVICES.etpLocalRemote.nodePort);
  assert.deepEqual(remoteOnly, ["timeout"], "external traffic to a node without local endpoints");

  const fromPod = summarise(
    await ctx.topology.agent("pod-c").tcp(NODE1.ip, SERVICES.etpLocalRemote.nodePort, {
      count: 20,
    }),
  );
  assert.deepEqual(fromPod, {
    pods: ["pod-r", "pod-s"],
    sources: [ip("pod-c")],
    failures: [],
  }, "pods short-circuit to every endpoint, unmasqueraded");
}

/** iTP Local: ClusterIP traffic reaches only local endpoints; none local means DROP. */
export async function internalPolicyLocal(ctx: CaseContext): Promise<void> {
  const pod = ctx.topology.agent("pod-c");
  const local = summarise(
    await pod.tcp(SERVICES.itpLocal.clusterIP, SERVICES.itpLocal.port, { count: 20 }),
  );
  assert.deepEqual(local, { pods: ["pod-a"], sources: [ip("pod-c")], failures: [] });
  const none = await pod.tcp(SERVICES.itpLocalRemote.clusterIP, SERVICES.itpLocalRemote.port);
  assert.deepEqual(none, ["timeout"], "iTP Local without local endpoints drops");
}

/** ClientIP session affinity: one client always reaches the same pod. */
export async function sessionAffinity(ctx: CaseContext): Promise<void> {
  const { clusterIP, port } = SERVICES.affinity;
  for (const role of ["pod-c", "node1"]) {
    const seen = summarise(await ctx.topology.agent(role).tcp(clusterIP, port, { count: 15 }));
    assert.equal(seen.pods.length, 1, `${role} reached ${seen.pods.join(", ")}`);
    assert.deepEqual(seen.failures, []);
  }
}

/** Hairpin: a pod reaching itself through its Service is masqueraded (to the node's IP). */
export async function hairpin(ctx: CaseContext): Promise<void> {
  const { clusterIP, port } = SERVICES.hairpin;
  const seen = summarise(await ctx.topology.agent("pod-a").tcp(clusterIP, port, { count: 3 }));
  assert.deepEqual(seen, { pods: ["pod-a"], sources: [NODE1.ip], failures: [] });
}

/** loadBalancerSourceRanges: the listed client reaches the LB IP, another source is dropped. */
export async function loadBalancerSourceRanges(ctx: CaseContext): Promise<void> {
  const { loadBalancerIP, port } = SERVICES.lb;
  const allowed = summarise(
    await ctx.topology.agent("client").tcp(loadBalancerIP, port, { count: 3 }),
  );
  assert.deepEqual(allowed.pods, ["pod-a"]);
  assert.deepEqual(allowed.failures, []);
  const denied = await ctx.topology.agent("node2").tcp(loadBalancerIP, port);
  assert.deepEqual(denied, ["timeout"], "a source outside loadBalancerSourceRanges");
}

/** Fixed source port for the UDP flow whose conntrack entry must be cleared. */
const UDP_FLOW_PORT = 40_053;

/**
 * UDP endpoint replaced: the same flow (same source port, kept alive all along) reaches the new
 * pod, which only happens if the stale conntrack entry is deleted. Returns how long it took.
 */
export async function udpEndpointReplaced(ctx: CaseContext): Promise<number> {
  const spec = SERVICES.udp;
  const node = ctx.topology.agent("node1");
  const probe = async () => {
    const [result = ""] = await node.udp(spec.clusterIP, spec.port, {
      localPort: UDP_FLOW_PORT,
      timeoutMs: 500,
    });
    return result;
  };
  const before = summarise([await probe(), await probe()]);
  assert.deepEqual(before.pods, ["pod-a"], JSON.stringify(before));

  for (const slice of sliceObjects(spec, ["pod-b"])) await ctx.proxy.apply("endpointslices", slice);
  const elapsed = await eventually("UDP flow moving to the new endpoint", 5_000, async () => {
    const result = await probe();
    return { done: parseReply(result)?.pod === "pod-b", seen: result };
  });
  assert.deepEqual(summarise([await probe(), await probe()]).pods, ["pod-b"]);
  return elapsed;
}

/**
 * An endpoint removed while running: new connections stop reaching it within seconds. Returns
 * how long that took (the proxy's `minSyncPeriod`, 1 s by default, dominates).
 */
export async function endpointRemoval(ctx: CaseContext): Promise<number> {
  const spec = SERVICES.moving;
  const node = ctx.topology.agent("node1");
  const before = summarise(await node.tcp(spec.clusterIP, spec.port, { count: 20 }));
  assert.deepEqual(before.pods, ["pod-a", "pod-b"]);

  for (const slice of sliceObjects(spec, ["pod-a"])) await ctx.proxy.apply("endpointslices", slice);
  const elapsed = await eventually("traffic leaving the removed endpoint", 3_000, async () => {
    const seen = summarise(await node.tcp(spec.clusterIP, spec.port, { count: 10 }));
    return { done: seen.pods.length === 1 && seen.pods[0] === "pod-a", seen };
  });
  const after = summarise(await node.tcp(spec.clusterIP, spec.port, { count: 20 }));
  assert.deepEqual(after, { pods: ["pod-a"], sources: [NODE1.ip], failures: [] });
  return elapsed;
}

/** Dual-stack: the IPv6 ClusterIP balances over the IPv6 endpoints, from the node and a pod. */
export async function dualStackIPv6(ctx: CaseContext): Promise<void> {
  const spec = SERVICES.dual;
  const fromNode = summarise(
    await ctx.topology.agent("node1").tcp(spec.clusterIPv6, spec.port, { count: 20 }),
  );
  assert.deepEqual(fromNode, { pods: ["pod-a", "pod-b"], sources: [NODE1.ipv6], failures: [] });
  const fromPod = summarise(
    await ctx.topology.agent("pod-c").tcp(spec.clusterIPv6, spec.port, { count: 20 }),
  );
  assert.deepEqual(fromPod, {
    pods: ["pod-a", "pod-b"],
    sources: [ipv6("pod-c")],
    failures: [],
  });
  const v4 = summarise(await ctx.topology.agent("pod-c").tcp(spec.clusterIP, spec.port));
  assert.deepEqual(v4.failures, [], "the IPv4 ClusterIP of the same Service");
}

/**
 * After a mode switch: within a few seconds `multi` answers from a pod on every endpoint, with no
 * failed connection (the new mode's rules can appear a moment before its jump rules do).
 */
export async function servesAfterSwitch(ctx: CaseContext): Promise<void> {
  const { clusterIP, port } = SERVICES.multi;
  const pod = ctx.topology.agent("pod-c");
  await eventually(`${ctx.proxy.mode} mode serving ${clusterIP}:${port}`, 10_000, async () => {
    const seen = summarise(await pod.tcp(clusterIP, port, { count: SPREAD, timeoutMs: 500 }));
    return { done: seen.pods.length === 3 && seen.failures.length === 0, seen };
  });
}
