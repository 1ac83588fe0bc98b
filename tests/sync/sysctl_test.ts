import { textLog } from "../fixtures/text_log.ts";
import assert from "node:assert/strict";
import type { ConntrackConfig } from "../../src/config/types.ts";
import {
  applySysctls,
  conntrackMax,
  detectCpuCount,
  type KernelFiles,
  needsRouteLocalnet,
  type SysctlSettings,
} from "../../src/sync/sysctl.ts";

const CONNTRACK: ConntrackConfig = {
  maxPerCore: 32768,
  min: 131072,
  tcpEstablishedTimeoutMs: 24 * 3600_000,
  tcpCloseWaitTimeoutMs: 3600_000,
  tcpBeLiberal: false,
  udpTimeoutMs: 0,
  udpStreamTimeoutMs: 0,
};

const SETTINGS: SysctlSettings = {
  mode: "iptables",
  localhostNodePorts: true,
  nodePortAddresses: [],
  conntrack: CONNTRACK,
};

/** An in-memory /proc/sys; paths in `readOnly` refuse writes like a read-only mount. */
class FakeKernel implements KernelFiles {
  readonly writes: string[] = [];
  constructor(
    readonly files: Map<string, string>,
    readonly readOnly: (path: string) => boolean = () => false,
  ) {}
  read(path: string): Promise<string> {
    const v = this.files.get(path);
    return v === undefined
      ? Promise.reject(new Deno.errors.NotFound(`No such file: ${path}`))
      : Promise.resolve(`${v}\n`);
  }
  write(path: string, text: string): Promise<void> {
    if (this.readOnly(path)) {
      return Promise.reject(new Deno.errors.PermissionDenied(`Permission denied: ${path}`));
    }
    this.writes.push(`${path}=${text}`);
    this.files.set(path, text);
    return Promise.resolve();
  }
}

function kernel(overrides: Record<string, string> = {}) {
  return new Map(Object.entries({
    "/proc/sys/net/netfilter/nf_conntrack_max": "65536",
    "/sys/module/nf_conntrack/parameters/hashsize": "16384",
    "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established": "432000",
    "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_close_wait": "60",
    "/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal": "0",
    "/proc/sys/net/netfilter/nf_conntrack_udp_timeout": "30",
    "/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream": "120",
    "/proc/sys/net/ipv4/conf/all/route_localnet": "0",
    "/proc/sys/net/ipv4/ip_forward": "1",
    ...overrides,
  }));
}

Deno.test("conntrackMax() is maxPerCore × CPUs, at least min, at most 2^20, 0 when maxPerCore is 0", () => {
  assert.equal(conntrackMax(CONNTRACK, 2), 131072, "min wins on 2 CPUs");
  assert.equal(conntrackMax(CONNTRACK, 8), 262144);
  assert.equal(conntrackMax(CONNTRACK, 64), 1048576, "capped");
  assert.equal(conntrackMax({ ...CONNTRACK, maxPerCore: 0 }, 8), 0);
});

Deno.test("applySysctls() raises nf_conntrack_max and hashsize and sets the TCP timeouts in seconds", async () => {
  const fs = new FakeKernel(kernel());
  const { log } = textLog();
  const report = await applySysctls(SETTINGS, { files: fs, log, cpus: 8 });
  assert.deepEqual(fs.writes, [
    "/proc/sys/net/netfilter/nf_conntrack_max=262144",
    "/sys/module/nf_conntrack/parameters/hashsize=65536",
    "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established=86400",
    "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_close_wait=3600",
    "/proc/sys/net/ipv4/conf/all/route_localnet=1",
  ]);
  assert.deepEqual(report.warnings, []);
});

Deno.test("applySysctls() never lowers nf_conntrack_max and skips values already set", async () => {
  const fs = new FakeKernel(kernel({
    "/proc/sys/net/netfilter/nf_conntrack_max": "4000000",
    "/sys/module/nf_conntrack/parameters/hashsize": "1000000",
    "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established": "86400",
    "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_close_wait": "3600",
    "/proc/sys/net/ipv4/conf/all/route_localnet": "1",
  }));
  const { log } = textLog();
  await applySysctls(SETTINGS, { files: fs, log, cpus: 8 });
  assert.deepEqual(fs.writes, []);
});

Deno.test("applySysctls() sets be_liberal and UDP timeouts only when configured", async () => {
  const fs = new FakeKernel(kernel());
  const { log } = textLog();
  await applySysctls({
    ...SETTINGS,
    mode: "nftables",
    conntrack: {
      ...CONNTRACK,
      maxPerCore: 0,
      tcpEstablishedTimeoutMs: 0,
      tcpCloseWaitTimeoutMs: 0,
      tcpBeLiberal: true,
      udpTimeoutMs: 60_500,
      udpStreamTimeoutMs: 180_000,
    },
  }, { files: fs, log, cpus: 8 });
  assert.deepEqual(fs.writes, [
    "/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal=1",
    "/proc/sys/net/netfilter/nf_conntrack_udp_timeout=60",
    "/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream=180",
  ]);
});

Deno.test("applySysctls() turns a read-only /proc/sys into warnings, not a crash (kubernetes#141943)", async () => {
  const fs = new FakeKernel(kernel(), () => true);
  const { log, lines } = textLog();
  const report = await applySysctls(SETTINGS, { files: fs, log, cpus: 8 });
  assert.equal(fs.writes.length, 0);
  assert.equal(report.warnings.length, 5);
  assert.match(
    report.warnings[0] ?? "",
    /^Cannot set net\/netfilter\/nf_conntrack_max to 262144 \(permission denied; \/proc\/sys is probably read-only in this container\): the conntrack table/,
  );
  assert.ok(
    report.warnings.some((w) =>
      /route_localnet.*NodePorts will not answer on 127\.0\.0\.1/.test(w)
    ),
  );
  assert.equal(lines.filter((l) => l.startsWith("W")).length, 5);
});

Deno.test("applySysctls() warns when IPv4 forwarding is off", async () => {
  const fs = new FakeKernel(kernel({ "/proc/sys/net/ipv4/ip_forward": "0" }));
  const { log } = textLog();
  const report = await applySysctls(SETTINGS, { files: fs, log, cpus: 2 });
  assert.equal(report.warnings.length, 1);
  assert.match(
    report.warnings[0] ?? "",
    /^net\.ipv4\.ip_forward is 0: .*set net\.ipv4\.ip_forward=1$/,
  );
});

Deno.test("applySysctls() skips settings whose files do not exist with a warning", async () => {
  const fs = new FakeKernel(new Map([["/proc/sys/net/ipv4/ip_forward", "1"]]), () => true);
  const { log } = textLog();
  const report = await applySysctls(
    { ...SETTINGS, localhostNodePorts: false },
    { files: fs, log, cpus: 2 },
  );
  assert.equal(report.warnings.length, 3, "conntrack max and the two TCP timeouts");
});

Deno.test("needsRouteLocalnet() is iptables-only and follows nodePortAddresses", () => {
  assert.equal(needsRouteLocalnet(SETTINGS), true);
  assert.equal(needsRouteLocalnet({ ...SETTINGS, mode: "nftables" }), false);
  assert.equal(needsRouteLocalnet({ ...SETTINGS, localhostNodePorts: false }), false);
  assert.equal(needsRouteLocalnet({ ...SETTINGS, nodePortAddresses: ["primary"] }), false);
  assert.equal(needsRouteLocalnet({ ...SETTINGS, nodePortAddresses: ["10.0.0.0/8"] }), false);
  assert.equal(
    needsRouteLocalnet({ ...SETTINGS, nodePortAddresses: ["10.0.0.0/8", "127.0.0.0/8"] }),
    true,
  );
});

Deno.test("detectCpuCount() counts the node's online CPUs", async () => {
  const fs = new FakeKernel(new Map([["/sys/devices/system/cpu/online", "0-3,6,8-9"]]));
  assert.equal(await detectCpuCount(fs), 7);
  assert.ok(await detectCpuCount(new FakeKernel(new Map())) >= 1);
});
