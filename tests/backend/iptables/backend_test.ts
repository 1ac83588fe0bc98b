import assert from "node:assert/strict";
import { ApplyError, type RenderOptions } from "../../../src/backend/backend.ts";
import {
  IptablesBackend,
  restoreTimeoutMs,
  supportsRandomFully,
} from "../../../src/backend/iptables/backend.ts";
import type { LogFields, Logger } from "../../../src/log.ts";
import type { EndpointTable } from "../../../src/model/mod.ts";
import { CommandNotFoundError, type CommandRunner } from "../../../src/runner.ts";
import {
  type RecordedCall,
  RecordingRunner,
  type Responder,
} from "../../fixtures/recording_runner.ts";
import {
  makeEndpoint,
  makeService,
  makeSlice,
  servicePort,
  setClusterIPs,
  slicePort,
} from "../../fixtures/k8s_builders.ts";
import { DEFAULT_OPTIONS, tableOf } from "./clusters.ts";
import { jumpsPresent } from "./listings.ts";
import { familySections } from "./structure.ts";

interface LogLine {
  level: "info" | "warn" | "error";
  message: string;
  fields: LogFields | undefined;
}

function capturingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    verbosity: 0,
    lines,
    info: (message, fields) => void lines.push({ level: "info", message, fields }),
    warn: (message, fields) => void lines.push({ level: "warn", message, fields }),
    error: (message, fields) => void lines.push({ level: "error", message, fields }),
  };
}

function setup(
  respond?: Responder,
  options: Partial<RenderOptions> = {},
): {
  backend: IptablesBackend;
  runner: RecordingRunner;
  log: ReturnType<typeof capturingLogger>;
  table: EndpointTable;
} {
  const runner = new RecordingRunner(respond);
  const log = capturingLogger();
  const backend = new IptablesBackend(
    { runner, log, options: { ...DEFAULT_OPTIONS, ...options } },
    { hostAddresses: () => null },
  );
  const table = tableOf({
    services: [makeService("ns1", "svc1", (s) => {
      setClusterIPs(s, "172.30.0.41");
      s.spec.ports = [servicePort("p80", 80)];
    })],
    slices: [makeSlice("ns1", "svc1", 1, (es) => {
      es.ports = [slicePort("p80", 80)];
      es.endpoints = [makeEndpoint("10.0.1.1")];
    })],
  });
  return { backend, runner, log, table };
}

function argv(call: RecordedCall): string {
  return [call.command, ...call.args].join(" ");
}

function addService(table: EndpointTable, ns: string, ip: string, endpoint: string) {
  table.onServiceAdd(makeService(ns, "svc", (s) => {
    setClusterIPs(s, ip);
    s.spec.ports = [servicePort("p80", 80)];
  }));
  table.onEndpointSliceAdd(makeSlice(ns, "svc", 1, (es) => {
    es.ports = [slicePort("p80", 80)];
    es.endpoints = [makeEndpoint(endpoint)];
  }));
}

Deno.test("IptablesBackend.sync() probes the host, then applies both families fully with their jumps", async () => {
  const { backend, runner, table } = setup((call) =>
    call.command === "iptables" && call.args[0] === "--version"
      ? { stdout: "iptables v1.8.9 (nf_tables)\n" }
      : undefined
  );
  const outcome = await backend.sync({ snapshot: table.snapshot(), full: false });
  assert.equal(outcome.kind, "full");
  const calls = runner.calls.map(argv);
  assert.deepEqual(calls.slice(0, 9), [
    "iptables --version",
    "sysctl -n net.netfilter.nf_conntrack_tcp_be_liberal",
    "ip6tables -w 5 -t nat -S POSTROUTING",
    // The first full sync lists nat (stale chains, nat jumps) and the filter built-in chains.
    "iptables-save -t nat",
    "iptables -w 5 -t filter -S INPUT",
    "iptables -w 5 -t filter -S FORWARD",
    "iptables -w 5 -t filter -S OUTPUT",
    "sysctl -w net.ipv4.conf.all.route_localnet=1",
    "iptables-restore -w 5 --noflush --counters",
  ]);
  // IPv6: no localhost NodePorts, so kubelet's KUBE-FIREWALL chain is created by hand first.
  const v6 = calls.slice(calls.indexOf("ip6tables-save -t nat"));
  assert.deepEqual(v6.slice(4), [
    "ip6tables -w 5 -t filter -N KUBE-FIREWALL",
    "ip6tables-restore -w 5 --noflush --counters",
  ]);
  // No iptables -C/-I per rule: the missing jumps travel inside the restore transaction.
  assert.ok(!calls.some((c) => / -[CI] /.test(c)));
  const v4Input = runner.calls.find((c) => c.command === "iptables-restore")!.stdin!;
  assert.match(v4Input, /^\*mangle\n:KUBE-PROXY-CANARY - \[0:0\]\nCOMMIT\n$/m);
  assert.match(v4Input, /-j MASQUERADE --random-fully$/m);
  const inserts = (s: string) => s.split("\n").filter((l) => l.startsWith("-I "));
  assert.deepEqual(
    inserts(v4Input).map((l) => l.split(" ").slice(1, 3).join(" ") + " " + l.split(" -j ")[1]),
    [
      "INPUT 1 KUBE-EXTERNAL-SERVICES",
      "FORWARD 1 KUBE-EXTERNAL-SERVICES",
      "INPUT 1 KUBE-NODEPORTS",
      "FORWARD 1 KUBE-SERVICES",
      "OUTPUT 1 KUBE-SERVICES",
      "FORWARD 1 KUBE-FORWARD",
      "INPUT 1 KUBE-PROXY-FIREWALL",
      "OUTPUT 1 KUBE-PROXY-FIREWALL",
      "FORWARD 1 KUBE-PROXY-FIREWALL",
      "INPUT 1 KUBE-FIREWALL",
      "OUTPUT 1 KUBE-FIREWALL",
      "OUTPUT 1 KUBE-SERVICES",
      "PREROUTING 1 KUBE-SERVICES",
      "POSTROUTING 1 KUBE-POSTROUTING",
    ],
  );
  // Each table's inserts close its own section.
  assert.match(
    v4Input,
    /-I INPUT 1 -j KUBE-FIREWALL\n-I OUTPUT 1 -j KUBE-FIREWALL\nCOMMIT\n\*nat\n/,
  );
  const v6Input = runner.calls.find((c) => c.command === "ip6tables-restore")!.stdin!;
  const rules = (s: string) => s.split("\n").filter((l) => /^-[AI] /.test(l)).length;
  assert.equal(outcome.rulesWritten, rules(v4Input) + rules(v6Input));
  assert.equal(outcome.bytesWritten, v4Input.length + v6Input.length);
});

Deno.test("IptablesBackend.sync() inserts no jump rule that the listings already show", async () => {
  const { backend, runner, table } = setup(jumpsPresent());
  assert.equal((await backend.sync({ snapshot: table.snapshot(), full: true })).kind, "full");
  const calls = runner.calls.map(argv);
  assert.ok(!calls.some((c) => c.includes(" -N ") || / -[CI] /.test(c)), calls.join("\n"));
  for (const c of runner.calls.filter((c) => c.command.endsWith("-restore"))) {
    assert.doesNotMatch(c.stdin!, /^-I /m);
  }
});

Deno.test("IptablesBackend.sync() fails before restoring when the jump rules cannot be listed", async () => {
  let broken = true;
  const present = jumpsPresent();
  const { backend, runner, table } = setup((call) =>
    broken && call.command === "iptables" && call.args.join(" ") === "-w 5 -t filter -S FORWARD"
      ? { code: 4, stderr: "xtables lock held\n" }
      : present(call)
  );
  const error = await backend.sync({ snapshot: table.snapshot(), full: true }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(error instanceof ApplyError);
  assert.deepEqual(error.families, ["IPv4"]);
  assert.equal(
    error.message,
    "Cannot check kube-proxy's jump rules: iptables -t filter -S FORWARD failed for IPv4 " +
      "(exit status 4): xtables lock held",
  );
  assert.ok(!runner.calls.some((c) => c.command === "iptables-restore"));
  assert.equal(backend.stats.restoreFailures.IPv4, 1);

  broken = false;
  runner.calls.length = 0;
  assert.equal((await backend.sync({ snapshot: table.snapshot(), full: false })).kind, "full");
  assert.ok(runner.calls.some((c) => c.command === "iptables-restore"));
});

Deno.test("IptablesBackend.sync() lists only the built-in chains on later full syncs with iptables-nft", async () => {
  const { backend, runner, table } = setup(
    jumpsPresent((call) =>
      call.args[0] === "--version" ? { stdout: "iptables v1.8.9 (nf_tables)\n" } : undefined
    ),
  );
  await backend.sync({ snapshot: table.snapshot(), full: true });
  runner.calls.length = 0;
  assert.equal((await backend.sync({ snapshot: table.snapshot(), full: true })).kind, "full");
  const v4 = runner.calls.map(argv).filter((c) => c.startsWith("iptables"));
  // Saving a large nat table takes minutes with iptables-nft; the state says what exists.
  assert.deepEqual(v4, [
    "iptables -w 5 -t filter -S INPUT",
    "iptables -w 5 -t filter -S FORWARD",
    "iptables -w 5 -t filter -S OUTPUT",
    "iptables -w 5 -t nat -S PREROUTING",
    "iptables -w 5 -t nat -S OUTPUT",
    "iptables -w 5 -t nat -S POSTROUTING",
    "iptables-restore -w 5 --noflush --counters",
  ]);
});

Deno.test("IptablesBackend.sync() lists nat whole on every full sync with iptables-legacy", async () => {
  const { backend, runner, table } = setup(
    jumpsPresent((call) =>
      call.args[0] === "--version" ? { stdout: "iptables v1.8.9 (legacy)\n" } : undefined
    ),
  );
  await backend.sync({ snapshot: table.snapshot(), full: true });
  runner.calls.length = 0;
  await backend.sync({ snapshot: table.snapshot(), full: true });
  const v4 = runner.calls.map(argv).filter((c) => c.startsWith("iptables"));
  // Every listing of a legacy table reads all of it, so one save beats three chain listings.
  assert.deepEqual(v4, [
    "iptables-save -t nat",
    "iptables -w 5 -t filter -S INPUT",
    "iptables -w 5 -t filter -S FORWARD",
    "iptables -w 5 -t filter -S OUTPUT",
    "iptables-restore -w 5 --noflush --counters",
  ]);
});

Deno.test("IptablesBackend.sync() skips the kernel when nothing changed and writes only changed chains after", async () => {
  const { backend, runner, table } = setup();
  await backend.sync({ snapshot: table.snapshot(), full: false });
  runner.calls.length = 0;

  assert.deepEqual(await backend.sync({ snapshot: table.snapshot(), full: false }), {
    kind: "skipped",
    rulesWritten: 0,
    bytesWritten: 0,
  });
  assert.equal(runner.calls.length, 0);

  addService(table, "ns2", "172.30.0.42", "10.0.2.1");
  const outcome = await backend.sync({ snapshot: table.snapshot(), full: false });
  assert.equal(outcome.kind, "partial");
  // A partial sync is one restore per family that changed: no save, no jump checks.
  assert.deepEqual(runner.calls.map(argv), ["iptables-restore -w 5 --noflush --counters"]);
  const input = runner.calls[0]!.stdin!;
  assert.doesNotMatch(input, /CANARY|\*mangle/);
  assert.doesNotMatch(input, /^:KUBE-SVC-XPGD46QRK7WJZT7O/m);
  assert.match(input, /^:KUBE-SVC-\w+ - \[0:0\]$/m);
});

Deno.test("IptablesBackend.sync() resyncs everything when the caller asks for a full sync", async () => {
  const { backend, runner, table } = setup();
  await backend.sync({ snapshot: table.snapshot(), full: false });
  runner.calls.length = 0;
  const outcome = await backend.sync({ snapshot: table.snapshot(), full: true });
  assert.equal(outcome.kind, "full");
  const calls = runner.calls.map(argv);
  // The probe found no iptables-nft, so nat is listed whole.
  assert.equal(calls[0], "iptables-save -t nat");
  assert.equal(
    calls.find((c) => c.includes("-restore")),
    "iptables-restore -w 5 --noflush --counters",
  );
  // The host is probed once per process, route_localnet set once.
  assert.ok(!calls.some((c) => c.includes("--version") || c.includes("route_localnet")));
});

Deno.test("IptablesBackend.sync() shows the failing line, counts the failure and forces a full sync next", async () => {
  let fail = false;
  const { backend, runner, log, table } = setup((call) =>
    fail && call.command === "iptables-restore"
      ? { code: 1, stderr: "iptables-restore: line 3 failed\n" }
      : undefined
  );
  await backend.sync({ snapshot: table.snapshot(), full: false });
  addService(table, "ns2", "172.30.0.42", "10.0.2.1");
  fail = true;
  runner.calls.length = 0;
  const snapshot = table.snapshot();
  const error = await backend.sync({ snapshot, full: false }).then(() => null, (e: unknown) => e);
  assert.ok(error instanceof ApplyError);
  assert.equal(error.family, "IPv4");
  const input = runner.calls.find((c) => c.command === "iptables-restore")!.stdin!.split("\n");
  assert.match(
    error.message,
    /^iptables-restore rejected the IPv4 rules \(exit status 1\): iptables-restore: line 3 failed\nat line 3 of its input:\n/,
  );
  assert.ok(error.message.includes(`> 3 | ${input[2]}`));
  assert.deepEqual(backend.stats.restoreFailures, { IPv4: 1, IPv6: 0 });
  assert.deepEqual(backend.stats.partialRestoreFailures, { IPv4: 1, IPv6: 0 });
  assert.deepEqual(error.families, ["IPv4"]);
  // The sync loop logs each distinct failure once; the backend adds no error line of its own.
  assert.ok(!log.lines.some((l) => l.level === "error"));

  fail = false;
  runner.calls.length = 0;
  const retry = await backend.sync({ snapshot: table.snapshot(), full: false });
  assert.equal(retry.kind, "full");
  assert.equal(argv(runner.calls[0]!), "iptables-save -t nat");
  const v4 = runner.calls.find((c) => c.command === "iptables-restore")!.stdin!;
  assert.match(v4, /^:KUBE-SVC-XPGD46QRK7WJZT7O - \[0:0\]$/m);
  assert.equal(runner.calls.filter((c) => c.command === "ip6tables-restore").length, 0);
});

Deno.test("IptablesBackend.sync() quotes the failing line of a first sync as streamed, jump rules included", async () => {
  // The input is made again for the message, with the jump rules the listings found missing.
  const jumpLine = (stdin: string) => stdin.split("\n").findIndex((l) => l.startsWith("-I ")) + 1;
  const { backend, runner, table } = setup((call) =>
    call.command === "iptables-restore"
      ? { code: 1, stderr: `iptables-restore: Error occurred at line: ${jumpLine(call.stdin!)}\n` }
      : undefined
  );
  const error = await backend.sync({ snapshot: table.snapshot(), full: false })
    .then(() => null, (e: unknown) => e);
  assert.ok(error instanceof ApplyError);
  const input = runner.calls.find((c) => c.command === "iptables-restore")!.stdin!.split("\n");
  const n = jumpLine(input.join("\n"));
  assert.ok(n > 3, "a jump rule after the first lines");
  assert.ok(error.message.includes(`at line ${n} of its input:\n`));
  assert.ok(error.message.includes(`> ${n} | ${input[n - 1]}`), error.message);
  assert.ok(error.message.includes(`  ${n - 1} | ${input[n - 2]}`), error.message);
  assert.ok(error.message.includes(`  ${n + 1} | ${input[n]}`), error.message);
});

Deno.test("IptablesBackend.sync() keeps syncing IPv6 when IPv4 fails, then throws the IPv4 error", async () => {
  const { backend, runner, table } = setup((call) =>
    call.command === "iptables-restore"
      ? { code: 2, stderr: "Error occurred at line: 1\n" }
      : undefined
  );
  await assert.rejects(backend.sync({ snapshot: table.snapshot(), full: false }), ApplyError);
  assert.equal(runner.calls.filter((c) => c.command === "ip6tables-restore").length, 1);
  assert.deepEqual(backend.stats.restoreFailures, { IPv4: 1, IPv6: 0 });
  assert.deepEqual(backend.stats.partialRestoreFailures, { IPv4: 0, IPv6: 0 });
});

Deno.test("IptablesBackend.sync() leaves IPv6 alone on a host without ip6tables, warning once if needed", async () => {
  const { backend, runner, log } = setup((call) =>
    call.command === "ip6tables"
      ? { code: 3, stderr: "can't initialize ip6tables table `nat'" }
      : undefined
  );
  const dual = tableOf({
    services: [makeService("ns1", "svc1", (s) => {
      setClusterIPs(s, "fd00:172:30::41");
      s.spec.ports = [servicePort("p80", 80)];
    })],
    slices: [],
  });
  await backend.sync({ snapshot: dual.snapshot(), full: false });
  await backend.sync({ snapshot: dual.snapshot(), full: true });
  assert.ok(!runner.calls.some((c) => c.command.startsWith("ip6tables-")));
  assert.equal(
    log.lines.filter((l) => l.message.startsWith("IPv6 iptables is not available")).length,
    1,
  );
});

Deno.test("IptablesBackend.sync() turns a missing iptables into an ApplyError that says what to install", async () => {
  const runner: CommandRunner = {
    run: (command) => Promise.reject(new CommandNotFoundError(command)),
  };
  const backend = new IptablesBackend({
    runner,
    log: capturingLogger(),
    options: DEFAULT_OPTIONS,
  }, { hostAddresses: () => null });
  const { table } = setup();
  await assert.rejects(
    backend.sync({ snapshot: table.snapshot(), full: true }),
    /Cannot run "iptables-save" for IPv4: install iptables/,
  );
});

Deno.test("IptablesBackend.sync() drops --random-fully for iptables older than 1.6.2", async () => {
  const { backend, runner, table } = setup((call) =>
    call.args[0] === "--version" ? { stdout: "iptables v1.6.1\n" } : undefined
  );
  await backend.sync({ snapshot: table.snapshot(), full: true });
  const v4 = runner.calls.find((c) => c.command === "iptables-restore")!.stdin!;
  assert.match(v4, /-j MASQUERADE$/m);
  assert.match(backend.renderFull(table.snapshot()), /-j MASQUERADE$/m);
});

Deno.test("supportsRandomFully() compares iptables versions", () => {
  assert.equal(supportsRandomFully("iptables v1.8.9 (nf_tables)"), true);
  assert.equal(supportsRandomFully("iptables v1.6.2"), true);
  assert.equal(supportsRandomFully("iptables v1.6.1"), false);
  assert.equal(supportsRandomFully("iptables v1.4.21"), false);
  assert.equal(supportsRandomFully("garbage"), true);
});

Deno.test("IptablesBackend.renderFull() labels both families and needs no runner", () => {
  const runner = new RecordingRunner();
  const { table } = setup();
  const backend = new IptablesBackend({ runner, log: capturingLogger(), options: DEFAULT_OPTIONS });
  const text = backend.renderFull(table.snapshot());
  const sections = familySections(text);
  assert.match(sections.IPv4, /^# IPv4 \(iptables-restore\)\n\*filter\n/);
  assert.match(sections.IPv6, /^# IPv6 \(ip6tables-restore\)\n\*filter\n/);
  assert.match(sections.IPv4, /-d 172\.30\.0\.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O/);
  assert.equal(runner.calls.length, 0);
});

Deno.test("IptablesBackend.cleanup() forgets its state so the next sync is full", async () => {
  const { backend, runner, table } = setup();
  await backend.sync({ snapshot: table.snapshot(), full: false });
  await backend.cleanup();
  runner.calls.length = 0;
  assert.equal((await backend.sync({ snapshot: table.snapshot(), full: false })).kind, "full");
});

Deno.test("restoreTimeoutMs() grows with the square of large rulesets", () => {
  assert.equal(restoreTimeoutMs(60_000, 10), 60_000);
  assert.equal(restoreTimeoutMs(60_000, 50_000), 60_000);
  assert.equal(restoreTimeoutMs(60_000, 50_001), 240_000);
  assert.equal(restoreTimeoutMs(60_000, 440_000), 60_000 * 81);
});

Deno.test("IptablesBackend.sync() goes on without stale-chain cleanup when iptables-save fails", async () => {
  const { backend, runner, log, table } = setup((call) =>
    call.command === "iptables-save" ? { code: 1, stderr: "iptables-save: lock held\n" } : undefined
  );
  assert.equal((await backend.sync({ snapshot: table.snapshot(), full: true })).kind, "full");
  assert.ok(runner.calls.some((c) => c.command === "iptables-restore"));
  // The nat jump rules are still checked, from listings of the built-in chains.
  assert.ok(runner.calls.map(argv).includes("iptables -w 5 -t nat -S PREROUTING"));
  assert.ok(
    log.lines.some((l) =>
      l.level === "warn" &&
      l.message === "Cannot list the nat table: stale chains will not be deleted"
    ),
  );
});
