/**
 * iptables mode against the real tools, inside throwaway network namespaces (root only; reported
 * as ignored elsewhere). Addresses follow DEVELOPERS.md: services 198.18.0.0/16, pods
 * 198.19.0.0/16, node 192.0.2.10 (IPv6 2001:db8::/32, fd00::/8).
 */

import assert from "node:assert/strict";
import { ApplyError } from "../../../src/backend/backend.ts";
import { IptablesBackend } from "../../../src/backend/iptables/backend.ts";
import { endpointChainName, servicePortChains } from "../../../src/backend/iptables/chain_names.ts";
import { type CommandRunner, DenoCommandRunner } from "../../../src/runner.ts";
import { SILENT_LOGGER } from "../../../src/log.ts";
import type { EndpointTable, ServicePort, TableSnapshot } from "../../../src/model/mod.ts";
import {
  makeEndpoint,
  makeNode,
  makeService,
  makeSlice,
  servicePort,
  setClusterIPs,
  slicePort,
  TEST_NODE_NAME,
} from "../../fixtures/k8s_builders.ts";
import { ignoreKernelTests, withNamespace } from "../../fixtures/netns.ts";
import { DEFAULT_OPTIONS, GOLDEN_CLUSTERS, goldenText, tableOf } from "./clusters.ts";
import { familySections } from "./structure.ts";

const ignore = await ignoreKernelTests();

async function must(runner: CommandRunner, command: string, args: string[], stdin?: string) {
  const r = await runner.run(command, args, {
    timeoutMs: 30_000,
    ...(stdin === undefined ? {} : { stdin }),
  });
  assert.equal(r.code, 0, `${command} ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/** KUBE-* chains of a table, from iptables-save, sorted. */
async function kubeChains(runner: CommandRunner, table: string, v6 = false): Promise<string[]> {
  const out = await must(runner, v6 ? "ip6tables-save" : "iptables-save", ["-t", table]);
  return out.split("\n").filter((l) => l.startsWith(":KUBE-")).map((l) => l.slice(1).split(" ")[0]!)
    .sort();
}

/** The restore tools to check goldens with: the host's, plus legacy ones where installed. */
async function restoreTools(): Promise<{ IPv4: string[]; IPv6: string[] }> {
  const tools = { IPv4: ["iptables-restore"], IPv6: ["ip6tables-restore"] };
  // iptables-nft's --test does not check jump targets; the legacy tool's does.
  const legacy = await new DenoCommandRunner().run("sh", [
    "-c",
    "command -v iptables-legacy-restore",
  ]);
  if (legacy.code === 0) {
    tools.IPv4.push("iptables-legacy-restore");
    tools.IPv6.push("ip6tables-legacy-restore");
  }
  return tools;
}

Deno.test({
  name: "every golden ruleset is accepted by iptables-restore --test and ip6tables-restore --test",
  ignore,
  async fn() {
    const tools = await restoreTools();
    await withNamespace("ipt-golden", async (ns) => {
      for (const cluster of GOLDEN_CLUSTERS) {
        const sections = familySections(goldenText(cluster));
        for (
          const [tool, text] of [
            ...tools.IPv4.map((t) => [t, sections.IPv4] as const),
            ...tools.IPv6.map((t) => [t, sections.IPv6] as const),
          ]
        ) {
          const r = await ns.runner.run(tool, ["--test", "-w", "5", "--noflush"], {
            stdin: text,
            timeoutMs: 30_000,
          });
          assert.equal(r.code, 0, `${tool} --test rejected ${cluster.name}: ${r.stderr}`);
        }
      }
    });
  },
});

const NODE = makeNode(TEST_NODE_NAME, (n) => {
  n.status.addresses = [{ type: "InternalIP", address: "192.0.2.10" }];
});

function service(ns: string, ip: string, fn?: Parameters<typeof makeService>[2]) {
  return makeService(ns, "svc", (s) => {
    setClusterIPs(s, ip);
    s.spec.ports = [servicePort("p80", 80)];
    fn?.(s);
  });
}

function slice(ns: string, ips: string[]) {
  return makeSlice(ns, "svc", 1, (es) => {
    es.ports = [slicePort("p80", 80)];
    es.endpoints = ips.map((ip) => makeEndpoint(ip, { nodeName: TEST_NODE_NAME }));
  });
}

const FIXED_NAT = [
  "KUBE-MARK-MASQ",
  "KUBE-NODEPORTS",
  "KUBE-POSTROUTING",
  "KUBE-PROXY-CANARY",
  "KUBE-SERVICES",
];
const FIXED_FILTER = [
  "KUBE-EXTERNAL-SERVICES",
  "KUBE-FIREWALL",
  "KUBE-FORWARD",
  "KUBE-NODEPORTS",
  "KUBE-PROXY-CANARY",
  "KUBE-PROXY-FIREWALL",
  "KUBE-SERVICES",
];

/** The nat chains the snapshot's IPv4 service ports should own. */
function expectedNat(snapshot: TableSnapshot): string[] {
  const chains = new Set(FIXED_NAT);
  for (const sp of snapshot.v4.servicePorts) for (const c of ownChains(sp)) chains.add(c);
  return [...chains].sort();
}

function ownChains(sp: ServicePort): string[] {
  const names = servicePortChains(sp);
  const out: string[] = [];
  if (sp.clusterEndpoints.length > 0 && sp.usesClusterEndpoints) out.push(names.svc);
  if (sp.localEndpoints.length > 0 && sp.usesLocalEndpoints) out.push(names.svl);
  if (sp.hasAnyEndpoints && sp.externallyAccessible) out.push(names.ext);
  if (
    sp.hasAnyEndpoints && sp.loadBalancerVIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0
  ) {
    out.push(names.fw);
  }
  for (const ep of sp.allReachableEndpoints) out.push(endpointChainName(sp, ep));
  return out;
}

Deno.test({
  name:
    "IptablesBackend.sync() round-trips full and partial syncs through the kernel without stale chains",
  ignore,
  async fn() {
    await withNamespace("ipt-roundtrip", async (ns) => {
      const table: EndpointTable = tableOf({
        node: NODE,
        table: { clusterCIDRs: ["198.19.0.0/16"] },
        services: [
          service("ns1", "198.18.0.1"),
          service("ns2", "198.18.0.2", (s) => {
            s.spec.type = "NodePort";
            s.spec.ports = [servicePort("p80", 80, { nodePort: 30080 })];
          }),
        ],
        slices: [slice("ns1", ["198.19.1.1", "198.19.1.2"]), slice("ns2", ["198.19.2.1"])],
      });
      const backend = new IptablesBackend(
        { runner: ns.runner, log: SILENT_LOGGER, options: DEFAULT_OPTIONS },
        { hostAddresses: () => null },
      );

      let snapshot = table.snapshot();
      assert.equal((await backend.sync({ snapshot, full: false })).kind, "full");
      assert.deepEqual(await kubeChains(ns.runner, "nat"), expectedNat(snapshot));
      assert.deepEqual(await kubeChains(ns.runner, "filter"), FIXED_FILTER);
      assert.deepEqual(await kubeChains(ns.runner, "mangle"), ["KUBE-PROXY-CANARY"]);
      // Jumps sit where upstream puts them on a fresh host (each prepended in turn).
      const input = (await must(ns.runner, "iptables", ["-w", "5", "-S", "INPUT"])).trim().split(
        "\n",
      );
      assert.deepEqual(input.slice(1).map((l) => l.split(" -j ")[1]), [
        "KUBE-FIREWALL",
        "KUBE-PROXY-FIREWALL",
        "KUBE-NODEPORTS",
        "KUBE-EXTERNAL-SERVICES",
      ]);
      const prerouting = await must(ns.runner, "iptables", [
        "-w",
        "5",
        "-t",
        "nat",
        "-S",
        "PREROUTING",
      ]);
      assert.match(
        prerouting,
        /^-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES$/m,
      );
      const route = await must(ns.runner, "sysctl", ["-n", "net.ipv4.conf.all.route_localnet"]);
      assert.equal(route.trim(), "1");

      // Add a service: partial.
      table.onServiceAdd(service("ns3", "198.18.0.3"));
      table.onEndpointSliceAdd(slice("ns3", ["198.19.3.1"]));
      snapshot = table.snapshot();
      assert.equal((await backend.sync({ snapshot, full: false })).kind, "partial");
      assert.deepEqual(await kubeChains(ns.runner, "nat"), expectedNat(snapshot));

      // Remove an endpoint of ns1 and change the one of ns3: their old SEP chains go.
      table.onEndpointSliceUpdate(
        slice("ns1", ["198.19.1.1", "198.19.1.2"]),
        slice("ns1", ["198.19.1.1"]),
      );
      table.onEndpointSliceUpdate(slice("ns3", ["198.19.3.1"]), slice("ns3", ["198.19.3.2"]));
      snapshot = table.snapshot();
      assert.equal((await backend.sync({ snapshot, full: false })).kind, "partial");
      assert.deepEqual(await kubeChains(ns.runner, "nat"), expectedNat(snapshot));

      // Remove a service: its chains go, the NodePort rule too.
      table.onServiceDelete(service("ns2", "198.18.0.2"));
      snapshot = table.snapshot();
      assert.equal((await backend.sync({ snapshot, full: false })).kind, "partial");
      assert.deepEqual(await kubeChains(ns.runner, "nat"), expectedNat(snapshot));
      const nat = await must(ns.runner, "iptables-save", ["-t", "nat"]);
      assert.doesNotMatch(nat, /30080/);
      assert.match(
        nat,
        /-A KUBE-SERVICES -d 198\.18\.0\.3\/32 -p tcp -m comment --comment "ns3\/svc:p80 cluster IP" -m tcp --dport 80 -j KUBE-SVC-/,
      );

      // Nothing changed: nothing to do.
      assert.equal((await backend.sync({ snapshot, full: false })).kind, "skipped");

      // A periodic full sync finds every jump in place and duplicates none.
      assert.equal((await backend.sync({ snapshot, full: true })).kind, "full");
      const inputAgain = (await must(ns.runner, "iptables", ["-w", "5", "-S", "INPUT"])).trim()
        .split("\n");
      assert.deepEqual(inputAgain, input);

      // Leftovers of another run are removed by a restarted proxy's first (full) sync.
      for (const leftover of ["KUBE-SVC-LEFTOVERLEFTOVER", "KUBE-SEP-LEFTOVERLEFTOVER"]) {
        await must(ns.runner, "iptables", ["-w", "5", "-t", "nat", "-N", leftover]);
      }
      const restarted = new IptablesBackend(
        { runner: ns.runner, log: SILENT_LOGGER, options: DEFAULT_OPTIONS },
        { hostAddresses: () => null },
      );
      assert.equal((await restarted.sync({ snapshot, full: false })).kind, "full");
      assert.deepEqual(await kubeChains(ns.runner, "nat"), expectedNat(snapshot));
      assert.deepEqual(
        (await must(ns.runner, "iptables", ["-w", "5", "-S", "INPUT"])).trim().split("\n"),
        input,
      );

      // Cleanup removes everything of ours, keeps kubelet's KUBE-FIREWALL, and is repeatable.
      await backend.cleanup();
      assert.deepEqual(await kubeChains(ns.runner, "nat"), []);
      assert.deepEqual(await kubeChains(ns.runner, "filter"), ["KUBE-FIREWALL"]);
      assert.deepEqual(await kubeChains(ns.runner, "mangle"), []);
      assert.deepEqual(await kubeChains(ns.runner, "nat", true), []);
      assert.deepEqual(await kubeChains(ns.runner, "filter", true), ["KUBE-FIREWALL"]);
      const left = (await must(ns.runner, "iptables", ["-w", "5", "-S", "INPUT"])).trim().split(
        "\n",
      );
      assert.deepEqual(left.slice(1).map((l) => l.split(" -j ")[1]), ["KUBE-FIREWALL"]);
      await backend.cleanup();
    });
  },
});

Deno.test({
  name:
    "IptablesBackend.sync() keeps the old rules when the kernel refuses a partial sync and repairs with a full one",
  ignore,
  async fn() {
    await withNamespace("ipt-failure", async (ns) => {
      const table = tableOf({
        node: NODE,
        table: { clusterCIDRs: ["198.19.0.0/16"] },
        services: [service("ns1", "198.18.0.1"), service("ns2", "198.18.0.2")],
        slices: [slice("ns1", ["198.19.1.1"]), slice("ns2", ["198.19.2.1"])],
      });
      const backend = new IptablesBackend(
        { runner: ns.runner, log: SILENT_LOGGER, options: DEFAULT_OPTIONS },
        { hostAddresses: () => null },
      );
      await backend.sync({ snapshot: table.snapshot(), full: false });
      const [sp1, sp2] = table.snapshot().v4.servicePorts;
      const sep2 = endpointChainName(sp2!, sp2!.allReachableEndpoints[0]!);
      // Upstream's "absurd scenario": a rule in ns1's chain jumps to ns2's endpoint chain,
      // so deleting ns2 in a partial sync (which leaves ns1's chain alone) must fail.
      await must(ns.runner, "iptables", [
        "-w",
        "5",
        "-t",
        "nat",
        "-A",
        servicePortChains(sp1!).svc,
        "-j",
        sep2,
      ]);
      const before = await must(ns.runner, "iptables-save", ["-t", "nat"]);

      table.onServiceDelete(service("ns2", "198.18.0.2"));
      const snapshot = table.snapshot();
      const error = await backend.sync({ snapshot, full: false }).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(error instanceof ApplyError);
      assert.match(error.message, /^iptables-restore rejected the IPv4 rules/);
      assert.match(error.message, new RegExp(`> +\\d+ \\| -X ${sep2}|line \\d+`));
      assert.equal(backend.stats.partialRestoreFailures.IPv4, 1);
      // Nothing of the failed transaction reached the kernel.
      const after = await must(ns.runner, "iptables-save", ["-t", "nat"]);
      const rules = (s: string) => s.split("\n").filter((l) => l.startsWith("-A")).sort();
      assert.deepEqual(rules(after), rules(before));

      // The retry is full: it rewrites ns1's chain too, so the deletion now succeeds.
      assert.equal((await backend.sync({ snapshot, full: false })).kind, "full");
      assert.deepEqual(await kubeChains(ns.runner, "nat"), expectedNat(snapshot));
    });
  },
});

/** Runs the `iptables*` tools as their `-legacy` variants. */
function legacy(inner: CommandRunner): CommandRunner {
  return {
    run: (command, args, options) =>
      inner.run(command.replace(/^(ip6?tables)(-save|-restore)?$/, "$1-legacy$2"), args, options),
  };
}

const hasLegacy =
  (await new DenoCommandRunner().run("sh", ["-c", "command -v iptables-legacy-restore"]))
    .code === 0;

for (const variant of ["nft", "legacy"] as const) {
  Deno.test({
    name:
      `IptablesBackend.sync() re-inserts only missing jumps, ahead of foreign rules, as upstream (iptables-${variant})`,
    ignore: ignore || (variant === "legacy" && !hasLegacy),
    async fn() {
      await withNamespace(`ipt-jumps-${variant}`, async (ns) => {
        const runner = variant === "legacy" ? legacy(ns.runner) : ns.runner;
        const ipt = variant === "legacy" ? "iptables-legacy" : "iptables";
        // The host's own rules come first in its chains before kube-proxy starts.
        await must(runner, ipt, [
          "-w",
          "5",
          "-A",
          "INPUT",
          "-p",
          "udp",
          "--dport",
          "53",
          "-j",
          "ACCEPT",
        ]);
        await must(runner, ipt, [
          "-w",
          "5",
          "-t",
          "nat",
          "-A",
          "PREROUTING",
          "-d",
          "192.0.2.99",
          "-j",
          "RETURN",
        ]);
        const table = tableOf({
          node: NODE,
          table: { clusterCIDRs: ["198.19.0.0/16"] },
          services: [service("ns1", "198.18.0.1")],
          slices: [slice("ns1", ["198.19.1.1"])],
        });
        const backend = new IptablesBackend(
          { runner, log: SILENT_LOGGER, options: DEFAULT_OPTIONS },
          { hostAddresses: () => null },
        );
        const snapshot = table.snapshot();
        await backend.sync({ snapshot, full: true });
        const targets = async (t: string, chain: string) =>
          (await must(runner, ipt, ["-w", "5", "-t", t, "-S", chain])).trim().split("\n").slice(1)
            .map((l) => l.split(" -j ")[1]);
        assert.deepEqual(await targets("filter", "INPUT"), [
          "KUBE-FIREWALL",
          "KUBE-PROXY-FIREWALL",
          "KUBE-NODEPORTS",
          "KUBE-EXTERNAL-SERVICES",
          "ACCEPT",
        ]);
        assert.deepEqual(await targets("nat", "PREROUTING"), ["KUBE-SERVICES", "RETURN"]);

        // Someone deletes one jump: the next full sync puts back exactly that one, at the top.
        await must(runner, ipt, [
          "-w",
          "5",
          "-D",
          "INPUT",
          "-m",
          "comment",
          "--comment",
          "kubernetes health check service ports",
          "-j",
          "KUBE-NODEPORTS",
        ]);
        await backend.sync({ snapshot, full: true });
        assert.deepEqual(await targets("filter", "INPUT"), [
          "KUBE-NODEPORTS",
          "KUBE-FIREWALL",
          "KUBE-PROXY-FIREWALL",
          "KUBE-EXTERNAL-SERVICES",
          "ACCEPT",
        ]);
        assert.deepEqual(await targets("nat", "PREROUTING"), ["KUBE-SERVICES", "RETURN"]);
        assert.deepEqual(await targets("filter", "FORWARD"), [
          "KUBE-PROXY-FIREWALL",
          "KUBE-FORWARD",
          "KUBE-SERVICES",
          "KUBE-EXTERNAL-SERVICES",
        ]);
        await backend.cleanup();
        assert.deepEqual(await targets("filter", "INPUT"), ["KUBE-FIREWALL", "ACCEPT"]);
      });
    },
  });
}
