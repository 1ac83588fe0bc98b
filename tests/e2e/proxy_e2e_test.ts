/**
 * End-to-end: real packets through the proxy's rules in network namespaces, in iptables and
 * nftables mode (README.md beside this file). Root only; elsewhere every test reports itself
 * ignored with the reason.
 *
 * One topology per mode, shared by that mode's cases (steps), built and torn down by the test.
 * `E2E_PROXY=direct` drives the backends from the test process instead of running `main.ts`
 * (to tell a backend bug from a daemon bug).
 *
 * @module
 */

import assert from "node:assert/strict";
import type { ImplementedProxyMode } from "../../src/config/types.ts";
import { IptablesBackend } from "../../src/backend/iptables/backend.ts";
import { NftablesBackend } from "../../src/backend/nftables/mod.ts";
import { kernelTestSkipReason } from "../fixtures/netns.ts";
import { DenoCommandRunner } from "../../src/runner.ts";
import {
  type CaseContext,
  clusterIPReachesEveryEndpoint,
  dualStackIPv6,
  endpointRemoval,
  externalPolicyLocal,
  hairpin,
  internalPolicyLocal,
  loadBalancerSourceRanges,
  nodePortFromClientAndNode,
  noEndpointsRejects,
  servesAfterSwitch,
  sessionAffinity,
  udpEndpointReplaced,
  waitUntilServing,
} from "./cases.ts";
import { clusterObjects } from "./cluster.ts";
import { cacheProgram, DaemonProxy } from "./daemon_proxy.ts";
import { type BackendFactory, DirectProxy } from "./direct_proxy.ts";
import { FakeApi } from "./fake_api.ts";
import { scratchDirPrefix, sweepStaleNamespaces } from "./leak_guard.ts";
import type { ProxyUnderTest } from "./proxy.ts";
import {
  addSentinelRules,
  rulesOfMode,
  type RulesSnapshot,
  takeRulesSnapshot,
  withoutKubeletChains,
} from "./rules_snapshot.ts";
import { Topology } from "./topology.ts";
import { eventually } from "./wait.ts";

/**
 * Cases that fail because of a bug in another component, by mode and step-name prefix. Each
 * is ignored (reported as such) until the bug is fixed; remove the entry with the fix.
 */
const KNOWN_BUGS: readonly { mode: ImplementedProxyMode; step: string; bug: string }[] = [
  // e.g. { mode: "nftables", step: "a UDP flow", bug: "what is wrong, and in which rule" }
];

function knownBug(mode: ImplementedProxyMode, step: string): string | undefined {
  const found = KNOWN_BUGS.find((b) => b.mode === mode && step.startsWith(b.step));
  if (found !== undefined) console.log(`e2e: ignoring "${step}" (${mode}): ${found.bug}`);
  return found?.bug;
}

/** How long the other mode may take to start and replace the old mode's rules. */
const SWITCH_TIMEOUT_MS = 30_000;

/** Null when the suite can run; otherwise why every test is ignored. */
async function skipReason(): Promise<string | null> {
  const kernel = await kernelTestSkipReason();
  if (kernel !== null) return kernel;
  const runner = new DenoCommandRunner();
  for (const tool of ["conntrack", "iptables-save", "ip6tables-save", "sysctl"]) {
    const found = await runner.run("sh", ["-c", `command -v ${tool}`]).catch(() => null);
    if (found?.code !== 0) {
      return `e2e tests need ${tool} (apt-get install conntrack iptables procps)`;
    }
  }
  return null;
}

const reason = await skipReason();
if (reason !== null) console.log(`skipping e2e tests: ${reason}`);
const ignore = reason !== null;
const harness = Deno.env.get("E2E_PROXY") === "direct" ? "direct" : "program";

const makeBackend: BackendFactory = (mode, deps) =>
  mode === "iptables"
    ? new IptablesBackend(deps, { hostAddresses: () => null })
    : new NftablesBackend(deps);

function other(mode: ImplementedProxyMode): ImplementedProxyMode {
  return mode === "iptables" ? "nftables" : "iptables";
}

/** Where the proxies of one test come from. */
interface ProxyFactory {
  make(mode: ImplementedProxyMode): ProxyUnderTest;
  close(): Promise<void>;
}

async function proxyFactory(topology: Topology): Promise<ProxyFactory> {
  if (harness === "direct") {
    return {
      make: (mode) => new DirectProxy(mode, topology.runner("node1"), makeBackend),
      close: () => Promise.resolve(),
    };
  }
  const dir = await Deno.makeTempDir({ prefix: scratchDirPrefix() });
  let api: FakeApi | undefined;
  try {
    api = await FakeApi.start(topology.ns("node1"));
    for (const [resource, object] of clusterObjects()) await api.apply(resource, object);
  } catch (error) {
    await api?.stop();
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
  const started = api;
  return {
    make: (mode) => new DaemonProxy(mode, topology.ns("node1"), started, dir),
    close: async () => {
      await started.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

let prepared = false;
/** Once per run: remove what a killed earlier run left, and cache the program's modules. */
async function prepare(): Promise<void> {
  if (prepared) return;
  prepared = true;
  const swept = sweepStaleNamespaces();
  if (swept.length > 0) console.log(`e2e: removed stale namespaces ${swept.join(" ")}`);
  if (harness === "program") await cacheProgram();
}

for (const mode of ["iptables", "nftables"] as const) {
  Deno.test({
    name: `proxy (${mode} mode) carries real traffic to the right pods in network namespaces`,
    ignore,
    // Child processes and their pipes live across steps by design; teardown is in `finally`.
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      await prepare();
      const topology = await Topology.create(mode === "iptables" ? "ipt" : "nft");
      let factory: ProxyFactory | undefined;
      let proxy: ProxyUnderTest | undefined;
      try {
        factory = await proxyFactory(topology);
        await addSentinelRules(topology.runner("node1"));
        const before: RulesSnapshot = await takeRulesSnapshot(topology.runner("node1"));
        proxy = factory.make(mode);
        await proxy.start();
        let ctx: CaseContext = { topology, proxy };
        try {
          await waitUntilServing(ctx);
        } catch (error) {
          console.error(`proxy output (last lines):\n${tail(proxy.output())}`);
          throw error;
        }

        // `programOnly`: behaviour of the program's start-up (upstream's platformCleanup removes
        // the other mode's rules), which direct mode does not emulate.
        const step = (
          name: string,
          fn: (ctx: CaseContext) => Promise<unknown>,
          { programOnly = false } = {},
        ) =>
          t.step({
            name,
            ignore: knownBug(mode, name) !== undefined || (programOnly && harness === "direct"),
            fn: async () => {
              try {
                await fn(ctx);
              } catch (error) {
                const output = ctx.proxy.output();
                if (output !== "") console.error(`proxy output (last lines):\n${tail(output)}`);
                throw error;
              }
            },
          });

        await step(
          "ClusterIP reaches all of its endpoints, from the node and from a pod",
          clusterIPReachesEveryEndpoint,
        );
        await step(
          "NodePort answers the external client (masqueraded) and the node",
          nodePortFromClientAndNode,
        );
        await step("a Service without endpoints refuses connections at once", noEndpointsRejects);
        await step(
          "externalTrafficPolicy Local keeps the client IP and drops without local pods",
          externalPolicyLocal,
        );
        await step("internalTrafficPolicy Local uses only local endpoints", internalPolicyLocal);
        await step("ClientIP session affinity sticks to one pod", sessionAffinity);
        await step("a pod calling its own Service is masqueraded (hairpin)", hairpin);
        await step(
          "loadBalancerSourceRanges admits listed sources and drops others",
          loadBalancerSourceRanges,
        );
        await step(
          "a UDP flow reaches the replacement endpoint (conntrack cleared)",
          async (ctx) => report(mode, "UDP flow moved", await udpEndpointReplaced(ctx)),
        );
        await step(
          "removing an endpoint moves traffic within seconds",
          async (ctx) =>
            report(mode, "traffic left the removed endpoint", await endpointRemoval(ctx)),
        );
        await step("a dual-stack Service balances over IPv6", dualStackIPv6);

        await step(`switching to ${other(mode)} mode leaves no ${mode} rules`, async () => {
          const during = await takeRulesSnapshot(topology.runner("node1"));
          assert.notDeepEqual(rulesOfMode(during, mode), [], `${mode} rules while running`);
          await proxy?.stop();
          proxy = factory?.make(other(mode));
          assert.ok(proxy !== undefined);
          await proxy.start();
          ctx = { topology, proxy };
          // The old rules keep serving until the new mode's first sync, and upstream removes
          // the other mode's rules before that: wait for the new rules, then look for old ones.
          await eventually(`${other(mode)} mode's first sync`, SWITCH_TIMEOUT_MS, async () => {
            const code = proxy?.exitCode() ?? null;
            if (code !== null) throw new Error(`the proxy exited with code ${code}`);
            const now = rulesOfMode(await takeRulesSnapshot(topology.runner("node1")), other(mode));
            return { done: now.length > 0, seen: now.length };
          });
          const after = await takeRulesSnapshot(topology.runner("node1"));
          assert.deepEqual(rulesOfMode(after, mode), [], `${mode} rules after the switch`);
          await servesAfterSwitch(ctx);
        }, { programOnly: true });

        await step("--cleanup restores the node's tables as before the proxy", async () => {
          await proxy?.stop();
          await proxy?.cleanup();
          const after = await takeRulesSnapshot(topology.runner("node1"));
          assert.deepEqual(withoutKubeletChains(after), before);
        });
      } finally {
        await proxy?.stop().catch(() => {});
        await factory?.close().catch(() => {});
        await topology.destroy();
      }
    },
  });
}

/** Prints a convergence time: not asserted beyond the case's deadline, but worth seeing. */
function report(mode: ImplementedProxyMode, what: string, ms: number): void {
  console.log(`e2e (${mode}, ${harness}): ${what} after ${Math.round(ms)} ms`);
}

function tail(text: string, lines = 60): string {
  return text.split("\n").slice(-lines).join("\n");
}
