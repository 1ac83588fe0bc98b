import { textLog } from "../fixtures/text_log.ts";
import assert from "node:assert/strict";
import type { V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import {
  ConntrackCleaner,
  type ConntrackDeletion,
  staleConntrackDeletions,
} from "../../src/backend/conntrack.ts";
import { EndpointTable, type TableSnapshot } from "../../src/model/mod.ts";
import { CommandNotFoundError } from "../../src/runner.ts";
import {
  makeEndpoint,
  makeNode,
  makeService,
  makeSlice,
  makeTableOptions,
  servicePort,
  setClusterIPs,
  setLoadBalancerIngress,
  slicePort,
  TEST_EXTERNAL_IP,
  TEST_LB_IP,
  TEST_NODE_NAME,
} from "../fixtures/k8s_builders.ts";
import { RecordingRunner } from "../fixtures/recording_runner.ts";

/** A synced table with the test node. */
function newTable(): EndpointTable {
  const table = new EndpointTable(makeTableOptions());
  table.onNodeAdd(makeNode());
  table.markSynced("services");
  table.markSynced("endpointSlices");
  table.markSynced("node");
  return table;
}

/** A UDP DNS-like LoadBalancer service with a NodePort, an external IP and an LB IP. */
function udpService(protocol = "UDP"): V1Service {
  return makeService("ns1", "dns", (s) => {
    setClusterIPs(s, "172.30.0.10");
    s.spec.type = "LoadBalancer";
    s.spec.externalIPs = [TEST_EXTERNAL_IP];
    s.spec.ports = [servicePort("dns", 53, { protocol, nodePort: 30053 })];
    setLoadBalancerIngress(s, TEST_LB_IP);
  });
}

function udpSlice(ips: string[], protocol = "UDP", serving = true): V1EndpointSlice {
  return makeSlice("ns1", "dns", 1, (es) => {
    es.ports = [slicePort("dns", 5353, protocol)];
    es.endpoints = ips.map((ip) =>
      makeEndpoint(ip, { nodeName: TEST_NODE_NAME, ready: serving, serving })
    );
  });
}

function argv(deletions: readonly ConntrackDeletion[]): string[] {
  return deletions.map((d) => d.args.join(" "));
}

function snapshots(
  setup: (t: EndpointTable) => void,
  change: (t: EndpointTable) => void,
): [TableSnapshot, TableSnapshot] {
  const table = newTable();
  setup(table);
  const before = table.snapshot();
  change(table);
  return [before, table.snapshot()];
}

Deno.test("staleConntrackDeletions() clears a UDP service's IPs, LB IP and NodePort when it gets its first endpoint", () => {
  const [before, after] = snapshots(
    (t) => t.onServiceAdd(udpService()),
    (t) => t.onEndpointSliceAdd(udpSlice(["10.180.0.1"])),
  );
  assert.deepEqual(argv(staleConntrackDeletions(before, after)), [
    "-D -p udp --orig-dst 172.30.0.10 --dport 53",
    `-D -p udp --orig-dst ${TEST_EXTERNAL_IP} --dport 53`,
    `-D -p udp --orig-dst ${TEST_LB_IP} --dport 53`,
    "-D -p udp --dport 30053",
  ]);
});

Deno.test("staleConntrackDeletions() clears flows DNATed to a removed UDP endpoint", () => {
  const [before, after] = snapshots(
    (t) => {
      t.onServiceAdd(udpService());
      t.onEndpointSliceAdd(udpSlice(["10.180.0.1", "10.180.0.2"]));
    },
    (t) =>
      t.onEndpointSliceUpdate(udpSlice(["10.180.0.1", "10.180.0.2"]), udpSlice(["10.180.0.1"])),
  );
  assert.deepEqual(argv(staleConntrackDeletions(before, after)), [
    "-D -p udp --dport 30053 --dst-nat 10.180.0.2",
    "-D -p udp --orig-dst 172.30.0.10 --dst-nat 10.180.0.2",
    `-D -p udp --orig-dst ${TEST_EXTERNAL_IP} --dst-nat 10.180.0.2`,
    `-D -p udp --orig-dst ${TEST_LB_IP} --dst-nat 10.180.0.2`,
  ]);
});

Deno.test("staleConntrackDeletions() treats an endpoint that stopped serving as removed", () => {
  const [before, after] = snapshots(
    (t) => {
      t.onServiceAdd(udpService());
      t.onEndpointSliceAdd(udpSlice(["10.180.0.1"]));
    },
    (t) =>
      t.onEndpointSliceUpdate(udpSlice(["10.180.0.1"]), udpSlice(["10.180.0.1"], "UDP", false)),
  );
  assert.ok(
    argv(staleConntrackDeletions(before, after)).includes(
      "-D -p udp --orig-dst 172.30.0.10 --dst-nat 10.180.0.1",
    ),
  );
});

Deno.test("staleConntrackDeletions() clears a deleted UDP service's IPs and NodePort", () => {
  const [before, after] = snapshots(
    (t) => {
      t.onServiceAdd(udpService());
      t.onEndpointSliceAdd(udpSlice(["10.180.0.1"]));
    },
    (t) => t.onServiceDelete(udpService()),
  );
  assert.deepEqual(argv(staleConntrackDeletions(before, after)), [
    "-D -p udp --orig-dst 172.30.0.10 --dport 53",
    `-D -p udp --orig-dst ${TEST_EXTERNAL_IP} --dport 53`,
    `-D -p udp --orig-dst ${TEST_LB_IP} --dport 53`,
    "-D -p udp --dport 30053",
  ]);
});

Deno.test("staleConntrackDeletions() does nothing for TCP services or when nothing changed", () => {
  const [tcpBefore, tcpAfter] = snapshots(
    (t) => t.onServiceAdd(udpService("TCP")),
    (t) => t.onEndpointSliceAdd(udpSlice(["10.180.0.1"], "TCP")),
  );
  assert.deepEqual(staleConntrackDeletions(tcpBefore, tcpAfter), []);
  const [same, again] = snapshots(
    (t) => {
      t.onServiceAdd(udpService());
      t.onEndpointSliceAdd(udpSlice(["10.180.0.1"]));
    },
    () => {},
  );
  assert.deepEqual(staleConntrackDeletions(same, again), []);
});

Deno.test("staleConntrackDeletions() treats every UDP service with endpoints as newly active at start-up", () => {
  const table = newTable();
  table.onServiceAdd(udpService());
  table.onEndpointSliceAdd(udpSlice(["10.180.0.1"]));
  assert.equal(staleConntrackDeletions(undefined, table.snapshot()).length, 4);
});

Deno.test("staleConntrackDeletions() adds -f ipv6 for IPv6 service ports", () => {
  const [before, after] = snapshots(
    (t) =>
      t.onServiceAdd(makeService("ns1", "dns6", (s) => {
        setClusterIPs(s, "fd00:172:30::10");
        s.spec.ports = [servicePort("dns", 53, { protocol: "UDP" })];
      })),
    (t) =>
      t.onEndpointSliceAdd(makeSlice("ns1", "dns6", 1, (es) => {
        es.addressType = "IPv6";
        es.ports = [slicePort("dns", 5353, "UDP")];
        es.endpoints = [makeEndpoint("fd00:10::1")];
      })),
  );
  assert.deepEqual(argv(staleConntrackDeletions(before, after)), [
    "-D -p udp --orig-dst fd00:172:30::10 --dport 53 -f ipv6",
  ]);
});

const DELETION: ConntrackDeletion = {
  family: "IPv4",
  args: ["-D", "-p", "udp", "--orig-dst", "172.30.0.10", "--dport", "53"],
  servicePort: "ns1/dns:dns",
};

Deno.test("ConntrackCleaner.apply() runs conntrack with each deletion's argv", async () => {
  const runner = new RecordingRunner(() => ({
    stderr: "conntrack v1.4.7 (conntrack-tools): 2 flow entries have been deleted.\n",
  }));
  const { log } = textLog();
  const result = await new ConntrackCleaner(runner, log).apply([DELETION]);
  assert.deepEqual(runner.calls.map((c) => [c.command, ...c.args]), [
    ["conntrack", "-D", "-p", "udp", "--orig-dst", "172.30.0.10", "--dport", "53"],
  ]);
  assert.deepEqual(result, { succeeded: 1, failed: 0, entriesDeleted: 2, toolPresent: true });
});

Deno.test("ConntrackCleaner.apply() accepts exit code 1 with '0 flow entries' as nothing to delete", async () => {
  const runner = new RecordingRunner(() => ({
    code: 1,
    stderr: "conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n",
  }));
  const { log, lines } = textLog();
  const result = await new ConntrackCleaner(runner, log).apply([DELETION]);
  assert.equal(result.failed, 0);
  assert.deepEqual(lines, []);
});

Deno.test("ConntrackCleaner.apply() logs other conntrack failures and carries on", async () => {
  const runner = new RecordingRunner(() => ({
    code: 1,
    stderr: "conntrack v1.4.7 (conntrack-tools): Operation failed: invalid parameters\n",
  }));
  const { log, lines } = textLog();
  const result = await new ConntrackCleaner(runner, log).apply([DELETION, DELETION]);
  assert.equal(result.failed, 2);
  assert.equal(runner.calls.length, 2);
  assert.match(lines[0] ?? "", /^E.*Failed to delete stale conntrack entries.*invalid parameters/);
});

Deno.test("ConntrackCleaner.apply() warns once when the conntrack tool is missing", async () => {
  const runner = {
    calls: 0,
    run(command: string) {
      this.calls++;
      return Promise.reject(new CommandNotFoundError(command));
    },
  };
  const { log, lines } = textLog();
  const cleaner = new ConntrackCleaner(runner, log);
  const first = await cleaner.apply([DELETION, DELETION]);
  await cleaner.apply([DELETION]);
  assert.equal(first.toolPresent, false);
  assert.equal(runner.calls, 2, "a batch stops at the first missing-tool error");
  assert.equal(lines.length, 1);
  assert.match(lines[0] ?? "", /^W.*conntrack tool is not installed/);
});
