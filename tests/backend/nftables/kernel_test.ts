/**
 * nftables mode against the real kernel, each test in throwaway network namespaces (root only;
 * skipped with the reason otherwise): incremental syncs must leave exactly what a fresh full
 * render loads, and start-up must replace an existing table atomically.
 */

import assert from "node:assert/strict";
import type { V1EndpointSlice } from "@kubernetes/client-node";
import { NftablesBackend } from "../../../src/backend/nftables/backend.ts";
import { SILENT_LOGGER } from "../../../src/log.ts";
import type { CommandRunner } from "../../../src/runner.ts";
import {
  makeEndpoint,
  makeNode,
  makeService,
  makeSlice,
  OTHER_NODE_NAME,
  type ServiceDraft,
  servicePort,
  setClusterIPs,
  setLoadBalancerIngress,
  slicePort,
  TEST_NODE_IPV6,
  TEST_NODE_NAME,
} from "../../fixtures/k8s_builders.ts";
import { ignoreKernelTests, withNamespace } from "../../fixtures/netns.ts";
import { DEFAULT_OPTIONS, tableOf } from "./clusters.ts";

const ignore = await ignoreKernelTests();

/**
 * `nft -j list table` of both families, normalised: no handles, set elements sorted, objects
 * ordered by kind and name (rules keep their order within their chain).
 */
async function listed(runner: CommandRunner): Promise<unknown[]> {
  const out: { key: string; item: unknown }[] = [];
  const rank: Record<string, number> = { table: 0, set: 1, map: 1, chain: 2, rule: 3 };
  for (const family of ["ip", "ip6"]) {
    const r = await runner.run("nft", ["-j", "list", "table", family, "kube-proxy"], {
      timeoutMs: 30_000,
    });
    if (r.code !== 0) {
      out.push({ key: `${family} absent`, item: { family, absent: true } });
      continue;
    }
    const parsed = JSON.parse(r.stdout) as { nftables: Record<string, Record<string, unknown>>[] };
    let ruleIndex = 0;
    for (const item of parsed.nftables) {
      const [kind, body] = Object.entries(item)[0] ?? [];
      if (kind === undefined || body === undefined || kind === "metainfo") continue;
      const { handle: _h, ...rest } = body;
      if (Array.isArray(rest.elem)) rest.elem = rest.elem.map((e) => JSON.stringify(e)).sort();
      const name = String(kind === "rule" ? rest.chain : rest.name);
      const index = kind === "rule" ? String(ruleIndex++).padStart(6, "0") : "";
      out.push({ key: `${family} ${rank[kind] ?? 9} ${name} ${index}`, item: { [kind]: rest } });
    }
  }
  return out.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0).map((o) => o.item);
}

function dualService(name: string, v4: string, v6: string, fn?: (s: ServiceDraft) => void) {
  return makeService("ns1", name, (s) => {
    setClusterIPs(s, v4, v6);
    s.spec.ports = [servicePort("p80", 80)];
    fn?.(s);
  });
}

function dualSlices(name: string, n: number, offset = 0): V1EndpointSlice[] {
  const mk = (family: "IPv4" | "IPv6") =>
    makeSlice("ns1", name, family === "IPv4" ? 1 : 2, (es) => {
      es.addressType = family;
      es.ports = [slicePort("p80", 8080)];
      es.endpoints = Array.from({ length: n }, (_, i) => {
        const k = i + offset;
        const ip = family === "IPv4"
          ? `10.180.${k >> 8}.${k & 255}`
          : `fd00:10::${(k + 1).toString(16)}`;
        return makeEndpoint(ip, { nodeName: k % 2 === 0 ? TEST_NODE_NAME : OTHER_NODE_NAME });
      });
    });
  return [mk("IPv4"), mk("IPv6")];
}

Deno.test({
  name: "NftablesBackend.sync() incremental syncs leave what a fresh full render loads",
  ignore,
  fn: async () => {
    const node = makeNode(TEST_NODE_NAME, (n) => {
      n.status.addresses.push({ type: "InternalIP", address: TEST_NODE_IPV6 });
    });
    const svc1 = dualService("svc1", "172.30.0.41", "fd00:172:30::41");
    const svc2 = dualService("svc2", "172.30.0.42", "fd00:172:30::42", (s) => {
      s.spec.type = "LoadBalancer";
      s.spec.externalTrafficPolicy = "Local";
      s.spec.ports = [servicePort("p80", 80, { nodePort: 30080 })];
      setLoadBalancerIngress(s, "1.2.3.4", "2001:db8::1234");
      s.spec.loadBalancerSourceRanges = ["203.0.113.0/25", "192.168.0.0/24"];
    });
    const svc3 = dualService("svc3", "172.30.0.43", "fd00:172:30::43", (s) => {
      s.spec.sessionAffinity = "ClientIP";
      s.spec.type = "NodePort";
      s.spec.ports = [servicePort("p80", 80, { nodePort: 30081 })];
    });
    const svc4 = dualService("svc4", "172.30.0.44", "fd00:172:30::44");
    const table = tableOf({
      node,
      services: [svc1, svc2, svc3],
      slices: [
        ...dualSlices("svc1", 3),
        ...dualSlices("svc2", 2, 10),
        ...dualSlices("svc3", 2, 20),
      ],
    });
    let now = 0;
    await withNamespace("nft-incr", async (ns) => {
      const backend = new NftablesBackend(
        { runner: ns.runner, log: SILENT_LOGGER, options: DEFAULT_OPTIONS },
        { now: () => now, cleanupOtherModes: null },
      );
      const sync = async (full = false) => {
        now += 2000;
        return await backend.sync({ snapshot: table.snapshot(), full });
      };
      assert.equal((await sync(true)).kind, "full");

      const [s1v4, s1v6] = dualSlices("svc1", 3);
      const [g1v4, g1v6] = dualSlices("svc1", 20); // beyond the preset maps
      table.onEndpointSliceUpdate(s1v4!, g1v4!);
      table.onEndpointSliceUpdate(s1v6!, g1v6!);
      assert.equal((await sync()).kind, "partial");

      table.onServiceAdd(svc4);
      for (const s of dualSlices("svc4", 1, 40)) table.onEndpointSliceAdd(s);
      assert.equal((await sync()).kind, "partial");

      table.onServiceDelete(svc3); // its affinity chains become stale
      for (const s of dualSlices("svc3", 2, 20)) table.onEndpointSliceDelete(s);
      await sync();

      const [e2v4, e2v6] = dualSlices("svc2", 2, 10);
      const [f2v4, f2v6] = dualSlices("svc2", 1, 11); // the local endpoint goes away
      table.onEndpointSliceUpdate(e2v4!, f2v4!);
      table.onEndpointSliceUpdate(e2v6!, f2v6!);
      await sync();

      const [h1v4, h1v6] = dualSlices("svc1", 2, 5); // shrink back below 16
      table.onEndpointSliceUpdate(g1v4!, h1v4!);
      table.onEndpointSliceUpdate(g1v6!, h1v6!);
      await sync();
      table.onServiceUpdate(
        svc4,
        dualService("svc4", "172.30.0.44", "fd00:172:30::44", (s) => {
          s.spec.sessionAffinity = "ClientIP";
        }),
      );
      await sync();
      // A quiet sync a while later deletes the chains that went unused.
      assert.equal((await sync()).kind, "skipped");
      const incremental = await listed(ns.runner);
      const text = JSON.stringify(incremental);
      assert.ok(text.includes("ns1/svc4/tcp/p80") && !text.includes("ns1/svc3/tcp/p80"));
      assert.ok(text.includes("fd00:172:30::41") && text.includes("service-endpoints-2"));

      let expected: unknown[] = [];
      await withNamespace("nft-fresh", async (fresh) => {
        const load = await fresh.runner.run("nft", ["-f", "-"], {
          stdin: backend.renderFull(table.snapshot()),
          timeoutMs: 30_000,
        });
        assert.equal(load.code, 0, load.stderr);
        expected = await listed(fresh.runner);
      });
      assert.deepEqual(incremental, expected);

      // An hourly full sync rewrites everything in place and must land on the same table.
      now += 3_700_000;
      assert.equal((await sync(true)).kind, "full");
      assert.deepEqual(await listed(ns.runner), expected);
      // Endpoint maps carry no implicit TCP match, so UDP Services are DNATed too.
      const pick = await ns.runner.run(
        "nft",
        ["list", "chain", "ip", "kube-proxy", "pick-service"],
        {
          timeoutMs: 30_000,
        },
      );
      assert.match(
        pick.stdout,
        /dnat ip to ip daddr \. meta l4proto \. th dport \. numgen random mod 1 map/,
      );
    });
  },
});

Deno.test({
  name: "NftablesBackend.sync() replaces an existing kube-proxy table at start-up",
  ignore,
  fn: async () => {
    await withNamespace("nft-replace", async (ns) => {
      // A stand-in for upstream's table: same name, different layout.
      const old = await ns.runner.run("nft", ["-f", "-"], {
        stdin: "add table ip kube-proxy\n" +
          "add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }\n" +
          "add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80\n" +
          "add element ip kube-proxy service-ips { 172.30.0.99 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }\n" +
          "add table ip6 kube-proxy\nadd chain ip6 kube-proxy stale\n",
        timeoutMs: 30_000,
      });
      assert.equal(old.code, 0, old.stderr);
      const table = tableOf({
        services: [makeService("ns1", "svc1", (s) => {
          setClusterIPs(s, "172.30.0.41");
          s.spec.ports = [servicePort("p80", 80)];
        })],
        slices: [makeSlice("ns1", "svc1", 1, (es) => {
          es.ports = [slicePort("p80", 80)];
          es.endpoints = [makeEndpoint("10.180.0.1")];
        })],
      });
      const backend = new NftablesBackend(
        { runner: ns.runner, log: SILENT_LOGGER, options: DEFAULT_OPTIONS },
        { cleanupOtherModes: null },
      );
      await backend.sync({ snapshot: table.snapshot(), full: false });
      const v4 = await ns.runner.run("nft", ["list", "table", "ip", "kube-proxy"], {
        timeoutMs: 30_000,
      });
      assert.ok(!v4.stdout.includes("172.30.0.99"), "the old element survived");
      assert.ok(!v4.stdout.includes("ULMVA6XW"), "the old chain survived");
      assert.ok(v4.stdout.includes("172.30.0.41 . tcp . 80 : goto pick-service"));
      const v6 = await ns.runner.run("nft", ["list", "table", "ip6", "kube-proxy"], {
        timeoutMs: 30_000,
      });
      assert.notEqual(v6.code, 0, "the IPv6 table of a family without addresses stayed");
    });
  },
});
