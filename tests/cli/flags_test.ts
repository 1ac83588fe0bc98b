import assert from "node:assert/strict";
import { FlagError, parseFlags, wantsRawVersion } from "../../src/cli/flags.ts";
import { FLAGS } from "../../src/cli/flag_table.ts";
import { helpText } from "../../src/cli/help.ts";

Deno.test("parseFlags() reads --flag=value and --flag value alike", () => {
  const a = parseFlags(["--config=/etc/kp.yaml", "--hostname-override", "Node-1"]);
  assert.equal(a.values.get("config"), "/etc/kp.yaml");
  assert.equal(a.values.get("hostname-override"), "Node-1");
});

Deno.test("parseFlags() accepts bare booleans and pflag's --bool=false", () => {
  const flags = parseFlags([
    "--cleanup",
    "--masquerade-all=false",
    "--iptables-localhost-nodeports=F",
  ]);
  assert.equal(flags.values.get("cleanup"), true);
  assert.equal(flags.values.get("masquerade-all"), false);
  assert.equal(flags.values.get("iptables-localhost-nodeports"), false);
});

Deno.test("parseFlags() reads -v 4, -v=4, -v4 and --v=4 as the log level", () => {
  for (const args of [["-v", "4"], ["-v=4"], ["-v4"], ["--v=4"], ["--v", "4"]]) {
    assert.equal(parseFlags(args).values.get("v"), 4, args.join(" "));
  }
});

Deno.test("parseFlags() gives a non-boolean flag the next argument, as pflag does", () => {
  const flags = parseFlags(["--hostname-override", "-edge", "--v", "2", "--v=3"]);
  assert.equal(flags.values.get("hostname-override"), "-edge");
  assert.equal(flags.values.get("v"), 3, "the last occurrence wins");
  assert.equal(parseFlags(["-h"]).values.get("help"), true);
});

Deno.test("parseFlags() reads underscores in flag names as dashes, like pflag", () => {
  assert.equal(parseFlags(["--hostname_override=a"]).values.get("hostname-override"), "a");
});

Deno.test("parseFlags() converts typed values", () => {
  const flags = parseFlags([
    "--kube-api-qps=7.5",
    "--kube-api-burst=20",
    "--iptables-sync-period=1m30s",
    "--nodeport-addresses=10.0.0.0/8,192.168.0.0/16",
    "--nodeport-addresses=fd00::/8",
    "--feature-gates=Foo=true,Bar=false",
    "--bind-address=::1",
    "--healthz-bind-address=[::]:10256",
  ]);
  assert.equal(flags.values.get("kube-api-qps"), 7.5);
  assert.equal(flags.values.get("kube-api-burst"), 20);
  assert.equal(flags.values.get("iptables-sync-period"), "1m30s");
  assert.deepEqual(flags.values.get("nodeport-addresses"), [
    "10.0.0.0/8",
    "192.168.0.0/16",
    "fd00::/8",
  ]);
  assert.deepEqual(flags.values.get("feature-gates"), { Foo: true, Bar: false });
  assert.equal(flags.values.get("bind-address"), "::1");
  assert.equal(flags.values.get("healthz-bind-address"), "[::]:10256");
});

Deno.test("parseFlags() names the flag in every bad-input error", () => {
  const cases: [string[], RegExp][] = [
    [["--no-such-flag"], /^unknown flag: --no-such-flag$/],
    [["--proxy-port-range=1-2"], /^unknown flag: --proxy-port-range$/],
    [["--config"], /^flag needs an argument: --config$/],
    [["-v"], /^flag needs an argument: 'v' in -v$/],
    [["-x"], /^unknown shorthand flag: 'x' in -x$/],
    [["--no-cleanup"], /^unknown flag: --no-cleanup \(use --cleanup=false\)$/],
    [["---config=a"], /^bad flag syntax: ---config=a$/],
    [["--version=maybe"], /invalid argument "maybe" for "--version" flag/],
    [["--", "--v=2"], /^"kube-proxy" does not take any arguments, got \["--v=2"\]$/],
    [["--kube-api-burst=ten"], /invalid argument "ten" for "--kube-api-burst" flag/],
    [["--kube-api-burst=99999999999"], /"--kube-api-burst" flag: .*out of range/],
    [["--kube-api-qps=fast"], /invalid argument "fast" for "--kube-api-qps" flag/],
    [
      ["--iptables-sync-period=30"],
      /"--iptables-sync-period" flag: time: missing unit in duration "30"/,
    ],
    [["--iptables-sync-period=1d"], /"--iptables-sync-period" flag: time: unknown unit "d"/],
    [["--bind-address=300.1.1.1"], /invalid argument "300.1.1.1" for "--bind-address" flag/],
    [["--metrics-bind-address=localhost:1"], /"--metrics-bind-address" flag/],
    [["--cleanup=maybe"], /invalid argument "maybe" for "--cleanup" flag/],
    [["--feature-gates=Foo"], /"--feature-gates" flag: missing "="/],
    [["--feature-gates=Foo=yes"], /"--feature-gates" flag: invalid value of Foo/],
    [["-v=loud"], /invalid argument "loud" for "--v" flag/],
    [["extra"], /^"kube-proxy" does not take any arguments, got \["extra"\]$/],
  ];
  for (const [args, expected] of cases) {
    assert.throws(() => parseFlags(args), (error: unknown) => {
      assert.ok(error instanceof FlagError, `${args.join(" ")}: ${String(error)}`);
      assert.match(error.message, expected, args.join(" "));
      return true;
    });
  }
});

Deno.test("parseFlags() warns about upstream's deprecated port flags", () => {
  const flags = parseFlags(["--healthz-port=0"]);
  assert.deepEqual(flags.warnings, [
    "Flag --healthz-port has been deprecated, This flag is deprecated and will be removed in a " +
    "future release. Please use --healthz-bind-address instead.",
  ]);
});

Deno.test("wantsRawVersion() recognises --version=raw", () => {
  assert.equal(wantsRawVersion(["--version=raw"]), true);
  assert.equal(wantsRawVersion(["--version"]), false);
  assert.equal(parseFlags(["--version=raw"]).values.get("version"), true);
});

Deno.test("helpText() lists every flag, with our extensions in their own section", () => {
  const help = helpText();
  for (const spec of FLAGS) assert.ok(help.includes(`--${spec.name}`), spec.name);
  const extensions = help.slice(help.indexOf("deno-kube-proxy extensions"));
  assert.match(extensions, /--dry-run/);
  assert.match(extensions, /--objects/);
  assert.doesNotMatch(extensions, /--kubeconfig/);
});
