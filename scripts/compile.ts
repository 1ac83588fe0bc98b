/**
 * `deno task compile [--target=x86_64|aarch64|all]`: builds the single-file binary
 * `dist/kube-proxy-<version>-linux-<arch>` (plus `.sha256`, and `dist/kube-proxy` for the host's
 * architecture) with `deno compile`, then checks that the host binary answers `--version`.
 *
 * `deno compile` needs Deno's base runtime (`denort`) for the target. It is downloaded from Deno's
 * servers unless `DENORT_BIN=/path/to/denort` names a local copy (air-gapped build hosts). When
 * neither works the build says so and exits non-zero: it never produces a fake binary.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };

const TARGETS = {
  x86_64: "x86_64-unknown-linux-gnu",
  aarch64: "aarch64-unknown-linux-gnu",
} as const;
type Arch = keyof typeof TARGETS;

/**
 * Permissions baked into the binary, each for one reason (README "Permissions"):
 * read: config, kubeconfig, service-account token, --objects, /proc/sys;
 * write: --write-config-to, the state file, /proc/sys (route_localnet, conntrack);
 * net: the API server and the healthz/metrics listeners;
 * env: KUBERNETES_SERVICE_HOST/PORT for in-cluster config;
 * run: only the netfilter tools and sysctl (iptables mode reads nf_conntrack_tcp_be_liberal
 * and sets route_localnet with it, as upstream does);
 * sys: the hostname (node name) and the interface addresses (nodePortAddresses, health-check
 * node ports).
 */
export const PERMISSIONS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-run=iptables,ip6tables,iptables-restore,ip6tables-restore,iptables-save," +
  "ip6tables-save,nft,conntrack,sysctl",
  "--allow-sys=hostname,networkInterfaces",
];

/**
 * V8 flags baked into the binary (and used by `deno task start` and the benchmark's children).
 * A small young generation: V8's default lets the nursery grow to 16 MiB per semi-space, which
 * at 10k Services made the resident set ~70 MiB larger than with 2 MiB, for no measurable speed
 * gain. Memory-saver mode: the old generation is collected before it grows to ~3x the live data
 * (V8's default on a machine with a few GB), which at 10k Services keeps the resident set ~60 MiB
 * lower between syncs for the same cold start and change latency (README "Performance"). No
 * optimising compilers (`--no-opt --no-maglev`; the interpreter and the Sparkplug baseline compiler
 * stay): their compile threads, code and compiler memory cost ~8–10 MiB of resident set at 10k
 * Services (three runs each: peak 118–120 MiB without them, 127–128 MiB with Maglev kept). What
 * they speed up is the full render, at start-up and once an hour: at 10k × 10 nftables 0.63 →
 * 0.99 s and iptables 1.3 → 3.7 s (hashing 110k chain names), each under 1% of the kernel apply;
 * partial syncs and cold start measured the same. `--expose-gc`: the program collects garbage
 * right after its large builds and, once the heap has grown 2 MiB (or 5%) since the last
 * collection, before a snapshot, after a sync or a state-file write and every 1024 ports of a
 * whole nftables model (src/reclaim.ts): at 10k Services the first sync's peak went from 106–118
 * to 98–103 MiB and the whole run's from 116–119 to 111–112 MiB when these were introduced.
 */
export const V8_FLAGS: readonly string[] = [
  "--max-semi-space-size=2",
  "--memory-saver-mode",
  "--no-opt",
  "--no-maglev",
  "--expose-gc",
];

/**
 * glibc malloc settings the shipped systemd unit and DaemonSet put in the environment (and the
 * benchmark gives the program): at most two arenas, blocks of 128 KiB and more mapped and returned
 * when freed (HTTP bodies of LIST pages), the heap top trimmed. At 10k Services the settled
 * resident set is ~10 MiB lower. A binary cannot set these for itself: glibc reads them at start.
 */
export const MALLOC_ENV: Readonly<Record<string, string>> = Object.freeze({
  MALLOC_ARENA_MAX: "2",
  MALLOC_MMAP_THRESHOLD_: "131072",
  MALLOC_TRIM_THRESHOLD_: "131072",
});

/** {@linkcode MALLOC_ENV} as `NAME=value` words, as `env` and systemd's `Environment=` take them. */
export const MALLOC_ENV_WORDS: readonly string[] = Object.freeze(
  Object.entries(MALLOC_ENV).map(([name, value]) => `${name}=${value}`),
);

/** `V8_FLAGS` as one `deno` option. */
export const V8_FLAGS_OPTION = `--v8-flags=${V8_FLAGS.join(",")}`;

function parseTargets(args: readonly string[]): Arch[] {
  const flag = args.find((a) => a.startsWith("--target="))?.slice("--target=".length);
  const host: Arch = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
  if (flag === undefined) return [host];
  if (flag === "all") return ["x86_64", "aarch64"];
  if (flag === "x86_64" || flag === "aarch64") return [flag];
  console.error(`compile: unknown --target ${JSON.stringify(flag)} (x86_64, aarch64 or all)`);
  Deno.exit(2);
}

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function compile(arch: Arch): Promise<string> {
  const output = `dist/kube-proxy-${denoJson.version}-linux-${arch}`;
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "compile",
      ...PERMISSIONS,
      V8_FLAGS_OPTION,
      "--target",
      TARGETS[arch],
      "--output",
      output,
      "main.ts",
    ],
    stdout: "inherit",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(result.stderr);
  if (!result.success) {
    console.error(stderr);
    const runtimeMissing = /denort|download|dl\.deno\.land|base runtime|error sending request/i
      .test(stderr);
    console.error(
      runtimeMissing
        ? `compile: could not obtain Deno's base runtime for ${TARGETS[arch]}. This host cannot ` +
          "reach Deno's servers; set DENORT_BIN=/path/to/denort (the denort build of the same " +
          `Deno version, ${Deno.version.deno}, for ${TARGETS[arch]}) and run again.`
        : `compile: deno compile failed for ${TARGETS[arch]}.`,
    );
    Deno.exit(1);
  }
  await Deno.writeTextFile(`${output}.sha256`, `${await sha256(output)}  ${output}\n`);
  return output;
}

if (import.meta.main) {
  await Deno.mkdir("dist", { recursive: true });
  const hostArch: Arch = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
  for (const arch of parseTargets(Deno.args)) {
    const output = await compile(arch);
    console.log(`compile: wrote ${output}`);
    if (arch !== hostArch) continue;
    await Deno.copyFile(output, "dist/kube-proxy");
    const check = await new Deno.Command("dist/kube-proxy", { args: ["--version"] }).output();
    const version = new TextDecoder().decode(check.stdout).trim();
    if (!check.success || !version.includes(denoJson.version)) {
      console.error(`compile: dist/kube-proxy --version did not report ${denoJson.version}`);
      Deno.exit(1);
    }
    console.log(`compile: dist/kube-proxy --version → ${version}`);
  }
}
