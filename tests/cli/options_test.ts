import assert from "node:assert/strict";
import { parseFlags } from "../../src/cli/flags.ts";
import {
  applyLoggingFlags,
  commandLine,
  deprecatedPortOverrides,
  flagsToFile,
} from "../../src/cli/options.ts";

function cmd(args: string[]) {
  return commandLine(parseFlags(args), false);
}

Deno.test("commandLine() lists config-mapped flags given next to --config as ignored", () => {
  const c = cmd([
    "--config=/etc/kp.yaml",
    "--cluster-cidr=10.0.0.0/8",
    "--hostname-override=n1",
    "--master=https://api:6443",
    "-v=2",
    "--dry-run",
    "--masquerade-all",
  ]);
  assert.deepEqual(c.ignoredFlags, ["--cluster-cidr", "--masquerade-all"]);
  assert.equal(c.hostnameOverride, "n1");
  assert.equal(c.master, "https://api:6443");
  assert.equal(c.dryRun, true);
});

Deno.test("commandLine() ignores nothing without --config", () => {
  assert.deepEqual(cmd(["--cluster-cidr=10.0.0.0/8"]).ignoredFlags, []);
});

Deno.test("flagsToFile() writes only the flags that were set", () => {
  const file = flagsToFile(parseFlags(["--cluster-cidr=10.0.0.0/8", "--proxy-mode=nftables"]));
  assert.deepEqual(file, {
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
    clientConnection: {},
    clusterCIDR: "10.0.0.0/8",
    mode: "nftables",
    iptables: {},
    nftables: {},
    ipvs: {},
    detectLocal: {},
    conntrack: {},
  });
});

Deno.test("flagsToFile() applies the --iptables-* sync flags and --masquerade-all to nftables too", () => {
  const file = flagsToFile(parseFlags([
    "--iptables-sync-period=10s",
    "--iptables-min-sync-period=0s",
    "--masquerade-all",
    "--iptables-masquerade-bit=3",
  ]));
  assert.deepEqual(file.iptables, {
    masqueradeBit: 3,
    masqueradeAll: true,
    syncPeriod: "10s",
    minSyncPeriod: "0s",
  });
  assert.deepEqual(file.nftables, { masqueradeAll: true, syncPeriod: "10s", minSyncPeriod: "0s" });
});

Deno.test("deprecatedPortOverrides() maps --healthz-port and --metrics-port onto the addresses", () => {
  const over = (args: string[]) => deprecatedPortOverrides(parseFlags(args));
  assert.deepEqual(over([]), {});
  assert.deepEqual(over(["--healthz-port=9000"]), { healthz: "0.0.0.0:9000" });
  assert.deepEqual(over(["--healthz-port=0"]), { healthz: "" });
  assert.deepEqual(over(["--metrics-bind-address=::1", "--metrics-port=9100"]), {
    metrics: "[::1]:9100",
  });
  assert.deepEqual(over(["--healthz-bind-address=10.1.2.3:1", "--healthz-port=2"]), {
    healthz: "10.1.2.3:2",
  });
});

Deno.test("applyLoggingFlags() puts set logging flags over the file, --vmodule first", () => {
  const file = applyLoggingFlags(
    {
      logging: { format: "text", verbosity: 1, vmodule: [{ filePattern: "a", verbosity: 1 }] },
    },
    parseFlags(["-v=4", "--logging-format=json", "--vmodule=b=3", "--log-json-split-stream"]),
  );
  assert.deepEqual(file.logging, {
    format: "json",
    verbosity: 4,
    vmodule: [{ filePattern: "b", verbosity: 3 }, { filePattern: "a", verbosity: 1 }],
    options: { json: { splitStream: true } },
  });
});

Deno.test("applyLoggingFlags() leaves a file alone when no logging flag is set", () => {
  const file = { mode: "iptables" };
  assert.equal(applyLoggingFlags(file, parseFlags(["--dry-run"])), file);
});

Deno.test("commandLine() reads our edge flags with their defaults", () => {
  const defaults = cmd([]);
  assert.equal(defaults.apiMode, "watch");
  assert.equal(defaults.apiPollIntervalMs, 10_000);
  assert.equal(defaults.stateFile, "/var/lib/kube-proxy/state.json");
  const set = cmd(["--api-mode=poll", "--api-poll-interval=1m", "--state-file="]);
  assert.equal(set.apiMode, "poll");
  assert.equal(set.apiPollIntervalMs, 60_000);
  assert.equal(set.stateFile, "");
});

Deno.test("commandLine() rejects an unknown --api-mode naming the flag", () => {
  assert.throws(
    () => cmd(["--api-mode=stream"]),
    /invalid argument "stream" for "--api-mode" flag/,
  );
});
