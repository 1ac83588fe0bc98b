import assert from "node:assert/strict";
import type { RenderOptions } from "../../../src/backend/backend.ts";
import {
  commentArg,
  DEFAULT_HOST_FACTS,
  type IptablesHostFacts,
  type IptablesRenderResult,
  type IptablesRenderState,
  masqueradeMark,
  probability,
  renderIptables,
} from "../../../src/backend/iptables/render.ts";
import { restoreText } from "../../../src/backend/iptables/restore_input.ts";
import { lineChunks } from "../../../src/backend/line_chunks.ts";
import type { EndpointTable, ProxySnapshot, ServicePort } from "../../../src/model/mod.ts";
import {
  makeEndpoint,
  makeNode,
  makeService,
  makeSlice,
  servicePort,
  setClusterIPs,
  slicePort,
  TEST_NODE_IPV6,
  TEST_NODE_NAME,
} from "../../fixtures/k8s_builders.ts";
import { DEFAULT_OPTIONS, GOLDEN_CLUSTERS, snapshotOf, tableOf } from "./clusters.ts";
import { structureProblems } from "./structure.ts";
import { withFields } from "../../fixtures/model_fields.ts";

/** Upstream's fake proxier: no --random-fully (its fake iptables lacks it). */
const UPSTREAM_HOST: IptablesHostFacts = { ...DEFAULT_HOST_FACTS, randomFully: false };

function render(
  snapshot: ProxySnapshot,
  opts: {
    options?: Partial<RenderOptions>;
    host?: Partial<IptablesHostFacts>;
    full?: boolean;
    previous?: IptablesRenderState | null;
    changed?: string[];
    existing?: string[];
    partialTopLevel?: "changed" | "always";
  } = {},
): IptablesRenderResult {
  return renderIptables({
    snapshot,
    options: { ...DEFAULT_OPTIONS, ...opts.options },
    host: { ...UPSTREAM_HOST, ...opts.host },
    full: opts.full ?? opts.previous == null,
    previous: opts.previous ?? null,
    ...(opts.changed === undefined ? {} : { changed: opts.changed }),
    ...(opts.existing === undefined ? {} : { existingNatChains: opts.existing }),
    ...(opts.partialTopLevel === undefined ? {} : { partialTopLevel: opts.partialTopLevel }),
  });
}

function text(r: IptablesRenderResult): string {
  return restoreText(r.lines);
}

function clusterIPService(ns: string, name: string, ip: string, port: string, n: number) {
  return makeService(ns, name, (s) => {
    setClusterIPs(s, ip);
    s.spec.ports = [servicePort(port, n)];
  });
}

function sliceOf(ns: string, svc: string, port: string, n: number, ips: string[]) {
  return makeSlice(ns, svc, 1, (es) => {
    es.ports = [slicePort(port, n)];
    es.endpoints = ips.map((ip) => makeEndpoint(ip));
  });
}

const FILTER_TOP = (filterServices: string[] = []) =>
  [
    "*filter",
    ":KUBE-NODEPORTS - [0:0]",
    ":KUBE-SERVICES - [0:0]",
    ":KUBE-EXTERNAL-SERVICES - [0:0]",
    ":KUBE-FIREWALL - [0:0]",
    ":KUBE-FORWARD - [0:0]",
    ":KUBE-PROXY-FIREWALL - [0:0]",
    ...filterServices,
    '-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
    "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    "COMMIT",
  ].join("\n") + "\n";

const NODEPORTS_LAST =
  '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS';
const NAT_FIXED_RULES = [
  "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000",
  "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
  "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000",
  '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE',
];

const SVC1_RULE =
  '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O';
const SVC2_RULE =
  '-A KUBE-SERVICES -m comment --comment "ns2/svc2:p8080 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 8080 -j KUBE-SVC-2VJB64SDSIJUP5T6';
const SVC3_RULE =
  '-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK';
const SVC4_RULE =
  '-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK';

/** A nat table in upstream's test layout: fixed chains, then `chains`, rules, deletions. */
function natTable(
  chains: string[],
  servicesRules: string[],
  chainRules: string[],
  deleted: string[] = [],
) {
  const declared = [...chains, "KUBE-MARK-MASQ", "KUBE-POSTROUTING", ...deleted].sort();
  return [
    "*nat",
    ":KUBE-NODEPORTS - [0:0]",
    ":KUBE-SERVICES - [0:0]",
    ...declared.map((c) => `:${c} - [0:0]`),
    ...servicesRules,
    NODEPORTS_LAST,
    ...NAT_FIXED_RULES,
    ...chainRules,
    ...deleted.map((c) => `-X ${c}`),
    "COMMIT",
  ].join("\n") + "\n";
}

Deno.test("renderIptables() follows upstream's TestSyncProxyRulesRepeated through partial syncs when rewriting all top-level chains", () => {
  const svc2 = clusterIPService("ns2", "svc2", "172.30.0.42", "p8080", 8080);
  const table: EndpointTable = tableOf({
    services: [clusterIPService("ns1", "svc1", "172.30.0.41", "p80", 80), svc2],
    slices: [
      sliceOf("ns1", "svc1", "p80", 80, ["10.0.1.1"]),
      sliceOf("ns2", "svc2", "p8080", 8080, ["10.0.2.1"]),
    ],
  });
  const first = render(table.snapshot().v4);
  assert.equal(first.kind, "full");
  assert.equal(
    text(first).replace(/^:KUBE-PROXY-CANARY.*\n/gm, "").replace(/\*mangle\nCOMMIT\n$/, ""),
    FILTER_TOP() +
      natTable(
        [
          "KUBE-SEP-SNQ3ZNILQDEJNDQO",
          "KUBE-SEP-UHEGFW77JX3KXTOV",
          "KUBE-SVC-2VJB64SDSIJUP5T6",
          "KUBE-SVC-XPGD46QRK7WJZT7O",
        ],
        [SVC1_RULE, SVC2_RULE],
        [
          "-A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -s 10.0.1.1 -j KUBE-MARK-MASQ",
          "-A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.1.1:80",
          "-A KUBE-SEP-UHEGFW77JX3KXTOV -m comment --comment ns2/svc2:p8080 -s 10.0.2.1 -j KUBE-MARK-MASQ",
          "-A KUBE-SEP-UHEGFW77JX3KXTOV -m comment --comment ns2/svc2:p8080 -m tcp -p tcp -j DNAT --to-destination 10.0.2.1:8080",
          '-A KUBE-SVC-2VJB64SDSIJUP5T6 -m comment --comment "ns2/svc2:p8080 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 8080 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ',
          '-A KUBE-SVC-2VJB64SDSIJUP5T6 -m comment --comment "ns2/svc2:p8080 -> 10.0.2.1:8080" -j KUBE-SEP-UHEGFW77JX3KXTOV',
          '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ',
          '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.0.1.1:80" -j KUBE-SEP-SNQ3ZNILQDEJNDQO',
        ],
      ),
  );

  // Add a service: only its chains are written.
  table.onServiceAdd(clusterIPService("ns3", "svc3", "172.30.0.43", "p80", 80));
  const eps3 = sliceOf("ns3", "svc3", "p80", 80, ["10.0.3.1"]);
  table.onEndpointSliceAdd(eps3);
  let snap = table.snapshot();
  const second = render(snap.v4, {
    previous: first.state,
    changed: [...snap.changed],
    partialTopLevel: "always",
  });
  assert.equal(second.kind, "partial");
  assert.equal(
    text(second),
    FILTER_TOP() + natTable(
      ["KUBE-SEP-BSWRHOQ77KEXZLNL", "KUBE-SVC-X27LE4BHSL4DOUIK"],
      [SVC1_RULE, SVC2_RULE, SVC3_RULE],
      [
        "-A KUBE-SEP-BSWRHOQ77KEXZLNL -m comment --comment ns3/svc3:p80 -s 10.0.3.1 -j KUBE-MARK-MASQ",
        "-A KUBE-SEP-BSWRHOQ77KEXZLNL -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.1:80",
        '-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ',
        '-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.1:80" -j KUBE-SEP-BSWRHOQ77KEXZLNL',
      ],
    ),
  );

  // Delete a service: its chains are flushed and deleted, nothing else is rewritten.
  table.onServiceDelete(svc2);
  snap = table.snapshot();
  const third = render(snap.v4, { previous: second.state, partialTopLevel: "always" });
  assert.equal(
    text(third),
    FILTER_TOP() + natTable([], [SVC1_RULE, SVC3_RULE], [], [
      "KUBE-SEP-UHEGFW77JX3KXTOV",
      "KUBE-SVC-2VJB64SDSIJUP5T6",
    ]),
  );
  assert.deepEqual(third.deletedChains, ["KUBE-SEP-UHEGFW77JX3KXTOV", "KUBE-SVC-2VJB64SDSIJUP5T6"]);

  // A service without endpoints: a REJECT rule, no nat chains.
  const svc4 = clusterIPService("ns4", "svc4", "172.30.0.44", "p80", 80);
  table.onServiceAdd(svc4);
  const fourth = render(table.snapshot().v4, { previous: third.state, partialTopLevel: "always" });
  assert.equal(
    text(fourth),
    FILTER_TOP([
      '-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j REJECT',
    ]) + natTable([], [SVC1_RULE, SVC3_RULE], []),
  );

  // Its endpoints arrive.
  table.onEndpointSliceAdd(sliceOf("ns4", "svc4", "p80", 80, ["10.0.4.1"]));
  const fifth = render(table.snapshot().v4, { previous: fourth.state, partialTopLevel: "always" });
  assert.equal(
    text(fifth),
    FILTER_TOP() + natTable(
      ["KUBE-SEP-AYCN5HPXMIRJNJXU", "KUBE-SVC-4SW47YFZTEDKD3PK"],
      [SVC1_RULE, SVC3_RULE, SVC4_RULE],
      [
        "-A KUBE-SEP-AYCN5HPXMIRJNJXU -m comment --comment ns4/svc4:p80 -s 10.0.4.1 -j KUBE-MARK-MASQ",
        "-A KUBE-SEP-AYCN5HPXMIRJNJXU -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.4.1:80",
        '-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ',
        '-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.0.4.1:80" -j KUBE-SEP-AYCN5HPXMIRJNJXU',
      ],
    ),
  );

  // An endpoint changes: the SVC chain and the new SEP are written, the old SEP deleted.
  const eps3update = sliceOf("ns3", "svc3", "p80", 80, ["10.0.3.2"]);
  table.onEndpointSliceUpdate(eps3, eps3update);
  const sixth = render(table.snapshot().v4, { previous: fifth.state, partialTopLevel: "always" });
  assert.equal(
    text(sixth),
    FILTER_TOP() + natTable(
      ["KUBE-SEP-DKCFIS26GWF2WLWC", "KUBE-SVC-X27LE4BHSL4DOUIK"],
      [SVC1_RULE, SVC3_RULE, SVC4_RULE],
      [
        "-A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -s 10.0.3.2 -j KUBE-MARK-MASQ",
        "-A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.2:80",
        '-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ',
        '-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.2:80" -j KUBE-SEP-DKCFIS26GWF2WLWC',
      ],
      ["KUBE-SEP-BSWRHOQ77KEXZLNL"],
    ),
  );

  // Nothing changed: nothing to apply.
  const seventh = render(table.snapshot().v4, { previous: sixth.state, partialTopLevel: "always" });
  assert.equal(seventh.kind, "skipped");
  assert.deepEqual(seventh.lines, []);

  // A full sync after svc4 is gone writes everything and deletes its chains.
  table.onServiceDelete(svc4);
  const full = render(table.snapshot().v4, { previous: seventh.state, full: true });
  assert.equal(full.kind, "full");
  assert.deepEqual(full.deletedChains, ["KUBE-SEP-AYCN5HPXMIRJNJXU", "KUBE-SVC-4SW47YFZTEDKD3PK"]);
  assert.match(text(full), /^:KUBE-SVC-XPGD46QRK7WJZT7O - \[0:0\]$/m);
  assert.match(text(full), /^-X KUBE-SEP-AYCN5HPXMIRJNJXU\n-X KUBE-SVC-4SW47YFZTEDKD3PK\nCOMMIT$/m);
});

/** Two ClusterIP services; `eps` is the slice of the first (two endpoints). */
function twoServices() {
  const eps = sliceOf("ns1", "svc1", "p80", 80, ["10.0.1.1", "10.0.1.2"]);
  const table = tableOf({
    services: [
      clusterIPService("ns1", "svc1", "172.30.0.41", "p80", 80),
      clusterIPService("ns2", "svc2", "172.30.0.42", "p8080", 8080),
    ],
    slices: [eps, sliceOf("ns2", "svc2", "p8080", 8080, ["10.0.2.1"])],
  });
  return { eps, table };
}

Deno.test("renderIptables() rewrites only the chains an endpoint change touches", () => {
  const { eps, table } = twoServices();
  const first = render(table.snapshot().v4);
  table.onEndpointSliceUpdate(eps, sliceOf("ns1", "svc1", "p80", 80, ["10.0.1.1", "10.0.1.3"]));
  const r = render(table.snapshot().v4, { previous: first.state });
  assert.equal(r.kind, "partial");
  const sepOld = r.deletedChains[0]!;
  assert.equal(r.deletedChains.length, 1);
  // No filter table, no KUBE-SERVICES: their rules did not change.
  assert.deepEqual(
    r.lines.filter((l) => l.startsWith("*") || l.startsWith(":") || l.startsWith("-X")),
    [
      "*nat",
      ...[
        sepOld,
        "KUBE-SEP-SNQ3ZNILQDEJNDQO",
        r.lines.find((l) => /10\.0\.1\.3 -j/.test(l))!.split(" ")[1]!,
        "KUBE-SVC-XPGD46QRK7WJZT7O",
      ].sort().map((c) => `:${c} - [0:0]`),
      `-X ${sepOld}`,
    ],
  );
  assert.match(
    restoreText(r.lines),
    /-A KUBE-SVC-XPGD46QRK7WJZT7O .*"ns1\/svc1:p80 -> 10\.0\.1\.3:80" -j KUBE-SEP-/,
  );
  // A Service losing its last endpoint changes KUBE-SERVICES (now a filter REJECT) as well.
  table.onEndpointSliceDelete(sliceOf("ns2", "svc2", "p8080", 8080, ["10.0.2.1"]));
  const gone = render(table.snapshot().v4, { previous: r.state });
  const declared = gone.lines.filter((l) => l.startsWith("*") || l.startsWith(":"));
  assert.deepEqual(declared, [
    "*filter",
    ":KUBE-SERVICES - [0:0]",
    "*nat",
    ":KUBE-SERVICES - [0:0]",
    ":KUBE-SEP-UHEGFW77JX3KXTOV - [0:0]",
    ":KUBE-SVC-2VJB64SDSIJUP5T6 - [0:0]",
  ]);
  assert.match(restoreText(gone.lines), /"ns2\/svc2:p8080 has no endpoints" .* -j REJECT/);
});

Deno.test("renderIptables() deletes the chains a changed port no longer uses on a full render, from the previous state", () => {
  const { eps, table } = twoServices();
  const first = render(table.snapshot().v4);
  const before = new Set([...first.state.ports.values()].flatMap((e) => e.chains));
  table.onEndpointSliceUpdate(eps, sliceOf("ns1", "svc1", "p80", 80, ["10.0.1.1"]));
  // No listing of the kernel: the previous state alone says what exists.
  const full = render(table.snapshot().v4, { previous: first.state, full: true });
  assert.equal(full.kind, "full");
  const now = new Set([...full.state.ports.values()].flatMap((e) => e.chains));
  assert.deepEqual(full.deletedChains, [...before].filter((c) => !now.has(c)));
  assert.equal(full.deletedChains.length, 1);
  assert.match(full.deletedChains[0]!, /^KUBE-SEP-/);
});

Deno.test("renderIptables() reproduces upstream's TestOverallIPTablesRules except nfacct, canary and --random-fully", async () => {
  const cluster = GOLDEN_CLUSTERS.find((c) => c.name === "overall")!;
  const ours = text(render(snapshotOf(cluster).v4))
    .replace(/^:KUBE-PROXY-CANARY - \[0:0\]\n/gm, "")
    .replace(/\*mangle\nCOMMIT\n$/, "");
  const upstream = (await Deno.readTextFile(
    new URL("../../fixtures/golden/iptables/upstream_overall.txt", import.meta.url),
  ))
    // We create no nfacct counters, so (as upstream does without them) no nfacct matches.
    .replace(/^-A KUBE-NODEPORTS .* -d 127\.0\.0\.0\/8 .*nfacct.*\n/gm, "")
    .replace(" -m nfacct --nfacct-name ct_state_invalid_dropped_pkts", "");
  assert.equal(ours, upstream);
});

Deno.test("renderIptables() rewrites a service port the model lists as changed even if reused", () => {
  const table = tableOf({
    services: [clusterIPService("ns1", "svc1", "172.30.0.41", "p80", 80)],
    slices: [sliceOf("ns1", "svc1", "p80", 80, ["10.0.1.1"])],
  });
  const snap = table.snapshot().v4;
  const first = render(snap);
  const again = render(snap, { previous: first.state, changed: ["ns1/svc1:p80/TCP"] });
  assert.equal(again.kind, "partial");
  assert.match(text(again), /^:KUBE-SVC-XPGD46QRK7WJZT7O - \[0:0\]$/m);
});

Deno.test("renderIptables() deletes leftover service chains found in the kernel on a full sync", () => {
  const table = tableOf({
    services: [clusterIPService("ns1", "svc1", "172.30.0.41", "p80", 80)],
    slices: [sliceOf("ns1", "svc1", "p80", 80, ["10.0.1.1"])],
  });
  const r = render(table.snapshot().v4, {
    existing: [
      "PREROUTING",
      "KUBE-SERVICES",
      "KUBE-SVC-XPGD46QRK7WJZT7O",
      "KUBE-SVC-DEADBEEFDEADBEEF",
      "KUBE-SEP-DEADBEEFDEADBEEF",
      "KUBE-XYZ-NOT-OURS",
    ],
  });
  assert.deepEqual(r.deletedChains, ["KUBE-SEP-DEADBEEFDEADBEEF", "KUBE-SVC-DEADBEEFDEADBEEF"]);
  const t = text(r);
  assert.match(t, /^:KUBE-SVC-DEADBEEFDEADBEEF - \[0:0\]$/m);
  assert.match(t, /^-X KUBE-SEP-DEADBEEFDEADBEEF\n-X KUBE-SVC-DEADBEEFDEADBEEF\nCOMMIT$/m);
  assert.doesNotMatch(t, /KUBE-XYZ-NOT-OURS|-X KUBE-SERVICES/);
});

Deno.test("renderIptables() drops per-endpoint comments once a cluster has over 1000 endpoints", () => {
  const ips = Array.from({ length: 1001 }, (_, i) => `10.1.${i >> 8}.${i & 255}`);
  const table = tableOf({
    services: [clusterIPService("ns1", "svc1", "172.30.0.41", "p80", 80)],
    slices: [sliceOf("ns1", "svc1", "p80", 80, ips)],
  });
  const t = text(render(table.snapshot().v4));
  assert.match(t, /^-A KUBE-SEP-\w+ -s 10\.1\.0\.0 -j KUBE-MARK-MASQ$/m);
  assert.match(
    t,
    /^-A KUBE-SVC-XPGD46QRK7WJZT7O -m statistic --mode random --probability 0\.0009990010 -j KUBE-SEP-\w+$/m,
  );
  // The ClusterIP rules keep theirs.
  assert.match(t, /--comment "ns1\/svc1:p80 cluster IP"/);
  assert.deepEqual(structureProblems(t), []);
});

Deno.test("renderIptables() output is identical for identical snapshots and options", () => {
  for (const cluster of GOLDEN_CLUSTERS) {
    const snap = snapshotOf(cluster);
    assert.equal(text(render(snap.v4)), text(render(snapshotOf(cluster).v4)));
  }
});

Deno.test("probability() formats 1/n like Go's %0.10f", () => {
  assert.equal(probability(2), "0.5000000000");
  assert.equal(probability(3), "0.3333333333");
  assert.equal(probability(100001), "0.0000099999");
  // The one exact tie: Go rounds half to even.
  assert.equal(probability(2048), "0.0004882812");
  assert.equal(probability(1024), "0.0009765625");
});

Deno.test("masqueradeMark() spells the mark of a bit as upstream's tests do", () => {
  assert.equal(masqueradeMark(14), "0x4000");
  assert.equal(masqueradeMark(0), "0x1");
  assert.equal(masqueradeMark(31), "0x80000000");
});

Deno.test("commentArg() keeps single words bare, quotes phrases and neutralises quotes", () => {
  assert.equal(commentArg("ns1/svc1:p80"), "ns1/svc1:p80");
  assert.equal(commentArg("ns1/svc1:p80 cluster IP"), '"ns1/svc1:p80 cluster IP"');
  assert.equal(commentArg('evil" -j ACCEPT'), '"evil_ -j ACCEPT"');
  assert.equal(commentArg("a\\b\nc"), "a_b_c");
  assert.equal(commentArg("x".repeat(300)).length, 255);
});

Deno.test("renderIptables() cannot be broken out of a comment by a hostile service name", () => {
  const table = tableOf({
    services: [clusterIPService("ns1", "svc1", "172.30.0.41", "p80", 80)],
    slices: [sliceOf("ns1", "svc1", "p80", 80, ["10.0.1.1"])],
  });
  const snap = table.snapshot().v4;
  const sp = snap.servicePorts[0]!;
  const evil: ServicePort = withFields(sp, { key: 'ns1/x" -j ACCEPT -m comment --comment "y:p80' });
  const t = text(render({ ...snap, servicePorts: [evil] }));
  for (const line of t.split("\n").filter((l) => l.includes("ACCEPT -m comment"))) {
    // Every quote that opens a comment closes it on the same argument.
    assert.equal(line.split('"').length % 2, 1, line);
    assert.doesNotMatch(line, /" -j ACCEPT -m comment --comment "/);
  }
});

Deno.test("renderIptables() sends NodePorts of `primary` only to the node's primary IP", () => {
  const cluster = GOLDEN_CLUSTERS.find((c) => c.name === "node_port")!;
  const t = text(render(snapshotOf(cluster).v4, { options: { nodePortAddresses: ["primary"] } }));
  assert.match(
    t,
    /^-A KUBE-SERVICES .*"kubernetes service nodeports; .*" -d 192\.168\.0\.2 -j KUBE-NODEPORTS$/m,
  );
  // No loopback in the CIDRs: no localhost NodePorts, so no martian guard either.
  assert.doesNotMatch(t, /KUBE-FIREWALL/);
});

Deno.test("renderIptables() matches every local address when nodePortAddresses has no CIDR of the family", () => {
  const cluster = GOLDEN_CLUSTERS.find((c) => c.name === "node_port")!;
  const t = text(
    render(snapshotOf(cluster).v4, { options: { nodePortAddresses: ["2001:db8::/64"] } }),
  );
  assert.match(
    t,
    /"kubernetes service nodeports; .*" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS$/m,
  );
  assert.match(t, /^:KUBE-FIREWALL/m);
});

Deno.test("renderIptables() matches nodePortAddresses CIDRs against the host's addresses", () => {
  const cluster = GOLDEN_CLUSTERS.find((c) => c.name === "node_port")!;
  const r = render(snapshotOf(cluster).v4, {
    options: { nodePortAddresses: ["192.168.0.0/16"] },
    host: {
      hostAddresses: ["192.168.1.2", "192.168.0.2", "10.9.9.9", "fe80::1%eth0", "127.0.0.1"],
    },
  });
  const dispatch = r.lines.filter((l) => l.includes("kubernetes service nodeports"));
  assert.deepEqual(dispatch.map((l) => / -d (\S+) /.exec(l)?.[1]), ["192.168.0.2", "192.168.1.2"]);
  assert.equal(r.localhostNodePorts, false);
});

Deno.test("renderIptables() skips loopback NodePort addresses when localhostNodePorts is off", () => {
  const cluster = GOLDEN_CLUSTERS.find((c) => c.name === "node_port")!;
  const r = render(snapshotOf(cluster).v4, {
    options: { nodePortAddresses: ["127.0.0.0/8", "192.168.0.0/24"], localhostNodePorts: false },
  });
  const dispatch = r.lines.filter((l) => l.includes("kubernetes service nodeports"));
  assert.deepEqual(dispatch.map((l) => / -d (\S+) /.exec(l)?.[1]), ["192.168.0.2"]);
});

Deno.test("renderIptables() never offers IPv6 localhost NodePorts", () => {
  const cluster = GOLDEN_CLUSTERS.find((c) => c.name === "dual_stack")!;
  const r = render(snapshotOf(cluster).v6, { options: { nodePortAddresses: ["::/0"] } });
  assert.match(text(r), /--dst-type LOCAL ! -d ::1\/128 -j KUBE-NODEPORTS/);
  const cidrs = render(snapshotOf(cluster).v6, {
    options: { nodePortAddresses: ["::1/128", "2001:db8::/64"] },
  });
  const dispatch = cidrs.lines.filter((l) => l.includes("kubernetes service nodeports"));
  assert.deepEqual(dispatch.map((l) => / -d (\S+) /.exec(l)?.[1]), [TEST_NODE_IPV6]);
});

Deno.test("renderIptables() renders interface-based local traffic detection", () => {
  const cluster = GOLDEN_CLUSTERS.find((c) => c.name === "etp_local_with_local_endpoints")!;
  const bridge = text(
    render(
      tableOf({
        ...cluster,
        table: { detectLocalMode: "BridgeInterface", bridgeInterface: "cbr0" },
      }).snapshot().v4,
    ),
  );
  assert.match(bridge, /--dport 80 ! -i cbr0 -j KUBE-MARK-MASQ$/m);
  assert.match(
    bridge,
    /"pod traffic for ns1\/svc1:p80 external destinations" -i cbr0 -j KUBE-SVC-/,
  );
  const prefix = text(
    render(
      tableOf({
        ...cluster,
        table: { detectLocalMode: "InterfaceNamePrefix", interfaceNamePrefix: "veth" },
      }).snapshot().v4,
    ),
  );
  assert.match(prefix, /--dport 80 ! -i veth\+ -j KUBE-MARK-MASQ$/m);
  assert.match(prefix, /external destinations" -i veth\+ -j KUBE-SVC-/);
});

Deno.test("renderIptables() without a local detector neither masquerades ClusterIP traffic nor short-circuits pods", () => {
  const cluster = GOLDEN_CLUSTERS.find((c) => c.name === "etp_local_with_local_endpoints")!;
  const t = text(render(tableOf({ ...cluster, table: { clusterCIDRs: [] } }).snapshot().v4));
  assert.doesNotMatch(t, /cluster IP" .* -j KUBE-MARK-MASQ/);
  assert.doesNotMatch(t, /pod traffic for/);
  assert.match(t, /"masquerade LOCAL traffic for ns1\/svc1:p80 external destinations"/);
  assert.deepEqual(structureProblems(t), []);
});

Deno.test("renderIptables() follows the host: no INVALID drop with a liberal conntrack, MASQUERADE --random-fully when supported", () => {
  const snap = snapshotOf(GOLDEN_CLUSTERS.find((c) => c.name === "node_port")!).v4;
  const liberal = text(render(snap, { host: { conntrackTCPLiberal: true, randomFully: true } }));
  assert.doesNotMatch(liberal, /INVALID/);
  assert.match(liberal, /-j MASQUERADE --random-fully$/m);
  assert.match(text(render(snap)), /^-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP$/m);
});

Deno.test("renderIptables() makes a full render when the previous state was for other settings", () => {
  const snap = snapshotOf(GOLDEN_CLUSTERS.find((c) => c.name === "node_port")!).v4;
  const first = render(snap);
  assert.equal(
    render(snap, { previous: first.state, options: { masqueradeAll: true } }).kind,
    "full",
  );
  assert.equal(render(snap, { previous: first.state }).kind, "skipped");
  // A change of fixed rules alone (here: the host's conntrack setting) is applied partially.
  const fixed = render(snap, { previous: first.state, host: { conntrackTCPLiberal: true } });
  assert.equal(fixed.kind, "partial");
  assert.doesNotMatch(text(fixed), /^:KUBE-SVC-/m);
});

Deno.test("lineChunks() streams the same text in bounded pieces", () => {
  const snap = snapshotOf(GOLDEN_CLUSTERS.find((c) => c.name === "overall")!).v4;
  const r = render(snap);
  const chunks = [...lineChunks(r.lines, 512)];
  assert.ok(chunks.length > 5);
  assert.equal(chunks.join(""), text(r));
  for (const c of chunks.slice(0, -1)) assert.ok(c.length >= 512 && c.length < 512 + 400);
  assert.equal(r.bytes, text(r).length);
  assert.equal(r.rulesWritten, r.lines.filter((l) => l.startsWith("-A ")).length);
  assert.equal(r.input.lineCount, r.lines.length);
});

Deno.test("renderIptables() makes the same input each time it is read", () => {
  // The backend streams the input to the tool and reads it again for a failure's excerpt; the
  // text is made on each read, so a read must not change what the next one gives.
  for (const cluster of GOLDEN_CLUSTERS) {
    const r = render(snapshotOf(cluster).v4);
    const first = restoreText(r.input);
    assert.ok(first.length > 0, cluster.name);
    assert.equal(restoreText(r.input), first, cluster.name);
    assert.equal([...lineChunks(r.input, 256)].join(""), first, cluster.name);
    // Counted without making the text; must agree with the text.
    const lines = first.trimEnd().split("\n");
    assert.equal(r.input.lineCount, lines.length, cluster.name);
    assert.equal(r.rulesWritten, lines.filter((l) => l.startsWith("-A ")).length, cluster.name);
  }
});

Deno.test("renderIptables() keeps a remote-only eTP Local service reachable from pods and the node", () => {
  const table = tableOf({
    node: makeNode(TEST_NODE_NAME),
    services: [makeService("ns1", "svc1", (s) => {
      s.spec.type = "NodePort";
      s.spec.externalTrafficPolicy = "Local";
      setClusterIPs(s, "172.30.0.41");
      s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
    })],
    slices: [sliceOf("ns1", "svc1", "p80", 80, ["10.180.2.1"])],
  });
  const t = text(render(table.snapshot().v4));
  // Short-circuits to the Cluster chain, no fall-through to a (non-existent) Local chain.
  assert.match(
    t,
    /^-A KUBE-EXT-XPGD46QRK7WJZT7O .*--src-type LOCAL -j KUBE-SVC-XPGD46QRK7WJZT7O$/m,
  );
  assert.doesNotMatch(t, /KUBE-SVL-/);
  assert.match(
    t,
    /"ns1\/svc1:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP/,
  );
  assert.deepEqual(structureProblems(t), []);
});

Deno.test("renderIptables() declares nat chains in name order at any size", () => {
  const services = Array.from(
    { length: 30 },
    (_, i) => clusterIPService(`ns${i}`, "svc", `172.30.1.${i + 1}`, "p80", 80),
  );
  const slices = Array.from(
    { length: 30 },
    (_, i) => sliceOf(`ns${i}`, "svc", "p80", 80, [`10.1.${i}.1`, `10.1.${i}.2`, `10.1.${i}.3`]),
  );
  const snap = tableOf({ services, slices }).snapshot().v4;
  const declaredAfterFirstTwo = (r: IptablesRenderResult) => {
    const start = r.lines.indexOf("*nat");
    const nat = r.lines.slice(start, r.lines.indexOf("COMMIT", start));
    return nat.filter((l) => l.startsWith(":")).slice(2).map((l) => l.slice(1).split(" ")[0]!);
  };
  const fast = declaredAfterFirstTwo(render(snap));
  assert.ok(fast.length > 120);
  assert.deepEqual(fast, [...fast].sort());
  // A foreign leftover name takes the plain string sort; the order is the same.
  const slow = declaredAfterFirstTwo(
    render(snap, { existing: ["KUBE-SEP-lowercase!", "KUBE-SVC-Z"] }),
  );
  assert.deepEqual(slow, [...slow].sort());
  assert.deepEqual(slow.filter((c) => c !== "KUBE-SEP-lowercase!" && c !== "KUBE-SVC-Z"), fast);
});

Deno.test("renderIptables() has nothing to apply when a changed port has no chains and the same rules", () => {
  const table = tableOf({
    services: [clusterIPService("ns1", "svc1", "172.30.0.41", "p80", 80)],
    slices: [],
  });
  const snap = table.snapshot().v4;
  const first = render(snap);
  const again = render(snap, { previous: first.state, changed: ["ns1/svc1:p80/TCP"] });
  assert.equal(again.kind, "skipped");
  assert.deepEqual(again.lines, []);
});
