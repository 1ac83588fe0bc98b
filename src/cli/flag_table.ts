/**
 * Every command-line flag, upstream's and ours, as data: name, value type, the default shown in
 * `--help`, and which section of the help it belongs to. The parser and the help text are both
 * generated from this table so they cannot drift apart.
 *
 * @module
 */

/** How a flag's value is read (pflag's types, as upstream declares them). */
export type FlagType =
  | "bool"
  | "string"
  | "int32"
  | "float32"
  | "duration"
  | "strings"
  | "ip"
  | "ipport"
  | "mapStringBool"
  | "level"
  | "version";

/** Where `--help` lists a flag. */
export type FlagGroup = "upstream" | "logging" | "extension";

/** One flag. */
export interface FlagSpec {
  /** Long name without dashes. */
  readonly name: string;
  /** One-letter alias (`-v`, `-h`). */
  readonly short?: string;
  readonly type: FlagType;
  /** The default as `--help` shows it ("" shows none). */
  readonly shownDefault: string;
  readonly usage: string;
  readonly group: FlagGroup;
  /** Set for flags upstream deprecated: printed as a warning when used. */
  readonly deprecated?: string;
}

const IGNORED = " This parameter is ignored if a config file is specified by --config.";

/** The flag table, in the order `--help` prints it within each group. */
export const FLAGS: readonly FlagSpec[] = [
  // Honoured with or without --config.
  {
    name: "config",
    type: "string",
    shownDefault: "",
    group: "upstream",
    usage: "The path to the configuration file.",
  },
  {
    name: "write-config-to",
    type: "string",
    shownDefault: "",
    group: "upstream",
    usage: "If set, write the default configuration values to this file and exit.",
  },
  {
    name: "cleanup",
    type: "bool",
    shownDefault: "",
    group: "upstream",
    usage: "If true cleanup iptables and nftables rules and exit.",
  },
  {
    name: "init-only",
    type: "bool",
    shownDefault: "",
    group: "upstream",
    usage:
      "If true, perform any initialization steps that must be done with full root privileges, and then exit.",
  },
  {
    name: "version",
    type: "version",
    shownDefault: "",
    group: "upstream",
    usage: "--version, --version=raw prints version information and quits.",
  },
  {
    name: "help",
    short: "h",
    type: "bool",
    shownDefault: "",
    group: "upstream",
    usage: "help for kube-proxy",
  },
  {
    name: "master",
    type: "string",
    shownDefault: "",
    group: "upstream",
    usage: "The address of the Kubernetes API server (overrides any value in kubeconfig).",
  },
  {
    name: "hostname-override",
    type: "string",
    shownDefault: "",
    group: "upstream",
    usage:
      "If non-empty, will be used as the name of the Node that kube-proxy is running on. If unset, the node name is assumed to be the same as the node's hostname.",
  },
  // Ignored when --config is given.
  {
    name: "feature-gates",
    type: "mapStringBool",
    shownDefault: "",
    group: "upstream",
    usage: "A set of key=value pairs that describe feature gates for alpha/experimental features." +
      IGNORED,
  },
  {
    name: "kubeconfig",
    type: "string",
    shownDefault: "",
    group: "upstream",
    usage: "Path to kubeconfig file with authorization information (the master location can be " +
      "overridden by the master flag).",
  },
  {
    name: "kube-api-content-type",
    type: "string",
    shownDefault: "application/vnd.kubernetes.protobuf",
    group: "upstream",
    usage: "Content type of requests sent to apiserver.",
  },
  {
    name: "kube-api-qps",
    type: "float32",
    shownDefault: "5",
    group: "upstream",
    usage: "QPS to use while talking with kubernetes apiserver." + IGNORED,
  },
  {
    name: "kube-api-burst",
    type: "int32",
    shownDefault: "10",
    group: "upstream",
    usage: "Burst to use while talking with kubernetes apiserver." + IGNORED,
  },
  {
    name: "bind-address",
    type: "ip",
    shownDefault: "0.0.0.0",
    group: "upstream",
    usage: "Overrides kube-proxy's idea of what its node's primary IP is." + IGNORED,
  },
  {
    name: "healthz-bind-address",
    type: "ipport",
    shownDefault: "0.0.0.0:10256",
    group: "upstream",
    usage:
      'The IP address and port for the health check server to serve on, defaulting to "0.0.0.0:10256".' +
      IGNORED,
  },
  {
    name: "metrics-bind-address",
    type: "ipport",
    shownDefault: "127.0.0.1:10249",
    group: "upstream",
    usage:
      'The IP address and port for the metrics server to serve on, defaulting to "127.0.0.1:10249".' +
      IGNORED,
  },
  {
    name: "bind-address-hard-fail",
    type: "bool",
    shownDefault: "",
    group: "upstream",
    usage: "If true kube-proxy will treat failure to bind to a port as fatal and exit.",
  },
  {
    name: "profiling",
    type: "bool",
    shownDefault: "",
    group: "upstream",
    usage: "If true enables profiling via web interface on /debug/pprof handler." + IGNORED,
  },
  {
    name: "show-hidden-metrics-for-version",
    type: "string",
    shownDefault: "",
    group: "upstream",
    usage: "The previous version for which you want to show hidden metrics.",
  },
  {
    name: "proxy-mode",
    type: "string",
    shownDefault: "",
    group: "upstream",
    usage: "Which proxy mode to use: on Linux this can be 'iptables' (default) or 'nftables'." +
      IGNORED,
  },
  {
    name: "iptables-masquerade-bit",
    type: "int32",
    shownDefault: "14",
    group: "upstream",
    usage:
      "If using the iptables or ipvs proxy mode, the bit of the fwmark space to mark packets requiring SNAT with. Must be within the range [0, 31].",
  },
  {
    name: "masquerade-all",
    type: "bool",
    shownDefault: "",
    group: "upstream",
    usage:
      "SNAT all traffic sent via Service cluster IPs. This may be required with some CNI plugins." +
      IGNORED,
  },
  {
    name: "iptables-localhost-nodeports",
    type: "bool",
    shownDefault: "true",
    group: "upstream",
    usage:
      "If false, kube-proxy will disable the legacy behavior of allowing NodePort services to be accessed via localhost. (Applies only to iptables mode and IPv4; localhost NodePorts are never allowed with other proxy modes or with IPv6.)",
  },
  {
    name: "iptables-sync-period",
    type: "duration",
    shownDefault: "30s",
    group: "upstream",
    usage:
      "An interval (e.g. '5s', '1m', '2h22m') indicating how frequently various re-synchronizing and cleanup operations are performed. Must be greater than 0.",
  },
  {
    name: "iptables-min-sync-period",
    type: "duration",
    shownDefault: "1s",
    group: "upstream",
    usage:
      "The minimum period between iptables rule resyncs (e.g. '5s', '1m', '2h22m'). A value of 0 means every Service or EndpointSlice change will result in an immediate iptables resync.",
  },
  {
    name: "ipvs-sync-period",
    type: "duration",
    shownDefault: "30s",
    group: "upstream",
    usage: "An interval indicating how frequently various re-synchronizing and cleanup " +
      "operations are performed (ipvs mode, not implemented here).",
  },
  {
    name: "ipvs-min-sync-period",
    type: "duration",
    shownDefault: "1s",
    group: "upstream",
    usage: "The minimum period between IPVS rule resyncs (ipvs mode, not implemented here).",
  },
  {
    name: "ipvs-scheduler",
    type: "string",
    shownDefault: "",
    group: "upstream",
    usage: "The ipvs scheduler type when proxy mode is ipvs.",
  },
  {
    name: "ipvs-exclude-cidrs",
    type: "strings",
    shownDefault: "",
    group: "upstream",
    usage:
      "A comma-separated list of CIDRs which the ipvs proxier should not touch when cleaning up IPVS rules.",
  },
  {
    name: "ipvs-strict-arp",
    type: "bool",
    shownDefault: "",
    group: "upstream",
    usage: "Enable strict ARP by setting arp_ignore to 1 and arp_announce to 2.",
  },
  {
    name: "ipvs-tcp-timeout",
    type: "duration",
    shownDefault: "0s",
    group: "upstream",
    usage: "The timeout for idle IPVS TCP connections, 0 to leave as is.",
  },
  {
    name: "ipvs-tcpfin-timeout",
    type: "duration",
    shownDefault: "0s",
    group: "upstream",
    usage: "The timeout for IPVS TCP connections after receiving a FIN packet, 0 to leave as is.",
  },
  {
    name: "ipvs-udp-timeout",
    type: "duration",
    shownDefault: "0s",
    group: "upstream",
    usage: "The timeout for IPVS UDP packets, 0 to leave as is.",
  },
  {
    name: "detect-local-mode",
    type: "string",
    shownDefault: "",
    group: "upstream",
    usage:
      "Mode to use to detect local traffic: ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix." +
      IGNORED,
  },
  {
    name: "pod-bridge-interface",
    type: "string",
    shownDefault: "",
    group: "upstream",
    usage:
      "A bridge interface name. When --detect-local-mode is set to BridgeInterface, kube-proxy will consider traffic to be local if it originates from this bridge.",
  },
  {
    name: "pod-interface-name-prefix",
    type: "string",
    shownDefault: "",
    group: "upstream",
    usage:
      "An interface name prefix. When --detect-local-mode is set to InterfaceNamePrefix, kube-proxy will consider traffic to be local if it originates from any interface whose name begins with this prefix.",
  },
  {
    name: "cluster-cidr",
    type: "string",
    shownDefault: "",
    group: "upstream",
    usage:
      "The CIDR range of the pods in the cluster. (For dual-stack clusters, this can be a comma-separated dual-stack pair of CIDR ranges.)." +
      IGNORED,
  },
  {
    name: "nodeport-addresses",
    type: "strings",
    shownDefault: "",
    group: "upstream",
    usage:
      "A list of CIDR ranges that contain valid node IPs, or alternatively, the single string 'primary'. If set, connections to NodePort services will only be accepted on node IPs in one of the indicated ranges." +
      IGNORED,
  },
  {
    name: "oom-score-adj",
    type: "int32",
    shownDefault: "-999",
    group: "upstream",
    usage: "The oom-score-adj value for kube-proxy process. Values must be within the range " +
      "[-1000, 1000]." + IGNORED,
  },
  {
    name: "conntrack-max-per-core",
    type: "int32",
    shownDefault: "32768",
    group: "upstream",
    usage:
      "Maximum number of NAT connections to track per CPU core (0 to leave the limit as-is and ignore conntrack-min).",
  },
  {
    name: "conntrack-min",
    type: "int32",
    shownDefault: "131072",
    group: "upstream",
    usage:
      "Minimum number of conntrack entries to allocate, regardless of conntrack-max-per-core (set conntrack-max-per-core=0 to leave the limit as-is).",
  },
  {
    name: "conntrack-tcp-timeout-established",
    type: "duration",
    shownDefault: "24h0m0s",
    group: "upstream",
    usage: "Idle timeout for established TCP connections (0 to leave as-is)",
  },
  {
    name: "conntrack-tcp-timeout-close-wait",
    type: "duration",
    shownDefault: "1h0m0s",
    group: "upstream",
    usage: "NAT timeout for TCP connections in the CLOSE_WAIT state",
  },
  {
    name: "conntrack-tcp-be-liberal",
    type: "bool",
    shownDefault: "",
    group: "upstream",
    usage:
      "Enable liberal mode for tracking TCP packets by setting nf_conntrack_tcp_be_liberal to 1",
  },
  {
    name: "conntrack-udp-timeout",
    type: "duration",
    shownDefault: "0s",
    group: "upstream",
    usage: "Idle timeout for UNREPLIED UDP connections (0 to leave as-is)",
  },
  {
    name: "conntrack-udp-timeout-stream",
    type: "duration",
    shownDefault: "0s",
    group: "upstream",
    usage: "Idle timeout for ASSURED UDP connections (0 to leave as-is)",
  },
  {
    name: "config-sync-period",
    type: "duration",
    shownDefault: "15m0s",
    group: "upstream",
    usage: "How often configuration from the apiserver is refreshed. Must be greater than 0.",
  },
  {
    name: "healthz-port",
    type: "int32",
    shownDefault: "10256",
    group: "upstream",
    usage: "The port to bind the health check server. Use 0 to disable.",
    deprecated: "This flag is deprecated and will be removed in a future release. " +
      "Please use --healthz-bind-address instead.",
  },
  {
    name: "metrics-port",
    type: "int32",
    shownDefault: "10249",
    group: "upstream",
    usage: "The port to bind the metrics server. Use 0 to disable.",
    deprecated: "This flag is deprecated and will be removed in a future release. " +
      "Please use --metrics-bind-address instead.",
  },
  // Logging: always honoured, copied over the file's logging block.
  {
    name: "logging-format",
    type: "string",
    shownDefault: "text",
    group: "logging",
    usage: 'Sets the log format. Permitted formats: "json", "text".',
  },
  {
    name: "v",
    short: "v",
    type: "level",
    shownDefault: "0",
    group: "logging",
    usage: "number for the log level verbosity",
  },
  {
    name: "vmodule",
    type: "string",
    shownDefault: "",
    group: "logging",
    usage: "comma-separated list of pattern=N settings for file-filtered logging " +
      "(only works for text log format)",
  },
  {
    name: "log-flush-frequency",
    type: "duration",
    shownDefault: "5s",
    group: "logging",
    usage: "Maximum number of seconds between log flushes",
  },
  {
    name: "log-text-split-stream",
    type: "bool",
    shownDefault: "",
    group: "logging",
    usage: "[Alpha] In text format, write error messages to stderr and info messages to stdout.",
  },
  {
    name: "log-text-info-buffer-size",
    type: "string",
    shownDefault: "0",
    group: "logging",
    usage: "[Alpha] In text format with split output streams, the info messages can be " +
      "buffered for a while to increase performance.",
  },
  {
    name: "log-json-split-stream",
    type: "bool",
    shownDefault: "",
    group: "logging",
    usage: "[Alpha] In JSON format, write error messages to stderr and info messages to stdout.",
  },
  {
    name: "log-json-info-buffer-size",
    type: "string",
    shownDefault: "0",
    group: "logging",
    usage: "[Alpha] In JSON format with split output streams, the info messages can be " +
      "buffered for a while to increase performance.",
  },
  // Ours: never fields of the config kind, so a file stays valid for upstream kube-proxy.
  {
    name: "dry-run",
    type: "bool",
    shownDefault: "",
    group: "extension",
    usage: "Render the rules once, print them to stdout and exit 0. Never touches the kernel " +
      "and needs no root.",
  },
  {
    name: "objects",
    type: "string",
    shownDefault: "",
    group: "extension",
    usage: "Read Services, EndpointSlices and Nodes from this file (a `kubectl get svc," +
      "endpointslices,nodes -A -o yaml` List, JSON or YAML) instead of an API server.",
  },
  {
    name: "api-mode",
    type: "string",
    shownDefault: "watch",
    group: "extension",
    usage: "How to read the API server: 'watch' (list, then watch streams, as upstream) or " +
      "'poll' (periodic list only, for links and proxies that break long-lived streams).",
  },
  {
    name: "api-poll-interval",
    type: "duration",
    shownDefault: "10s",
    group: "extension",
    usage: "With --api-mode=poll, how often to list Services, EndpointSlices and the Node.",
  },
  {
    name: "state-file",
    type: "string",
    shownDefault: "/var/lib/kube-proxy/state.json",
    group: "extension",
    usage: "Where to keep the last-known Services, EndpointSlices and Node, so rules can be " +
      "restored at boot when the API server is unreachable. Empty disables it.",
  },
];

/** The flags upstream honours together with `--config` (besides the logging group). */
export const HONOURED_WITH_CONFIG: ReadonlySet<string> = new Set([
  "config",
  "write-config-to",
  "cleanup",
  "init-only",
  "version",
  "help",
  "master",
  "hostname-override",
]);

/** Looks a flag up by its long name. */
export function flagSpec(name: string): FlagSpec | undefined {
  return FLAGS_BY_NAME.get(name);
}

const FLAGS_BY_NAME: ReadonlyMap<string, FlagSpec> = new Map(FLAGS.map((f) => [f.name, f]));
