/**
 * The baseline of the nftables benchmark: the same cluster rendered in the shape of upstream
 * kube-proxy's nftables mode as of Kubernetes 1.36 (reference §3.4 and §3.9), loaded as one
 * transaction. Per service port: a `service-` (and `local-`/`external-`/`firewall-`) chain, the
 * endpoints inlined in one `numgen random mod N` DNAT map; per-endpoint chains and affinity sets
 * only with ClientIP affinity; hairpin through the `hairpin-connections` set.
 *
 * Written from the spec's description of upstream's output, not from its code; it is a load-time
 * yardstick, not a second implementation (packet behaviour is not checked).
 *
 * @module
 */

import type { RenderOptions } from "../../src/backend/backend.ts";
import type { Endpoint, ProxySnapshot, ServicePort } from "../../src/model/mod.ts";
import { masqueradeMark } from "../../src/backend/nftables/rules.ts";
import { affinityChainNames, hashAndTruncate } from "../../src/backend/nftables/names.ts";

function epBase(sp: ServicePort, ep: Endpoint): string {
  const ip = ep.ip.replaceAll(":", ".");
  return hashAndTruncate(
    `${sp.namespace}/${sp.name}/${sp.protocol.toLowerCase()}/${sp.portName}__${ip}/${ep.port}`,
  );
}

/** The upstream-shaped `nft -f` transaction (replacing any table) for one family. */
export function upstreamShapeTransaction(
  snapshot: ProxySnapshot,
  options: RenderOptions,
): string[] {
  const ipX = snapshot.family === "IPv4" ? "ip" : "ip6";
  const addr = snapshot.family === "IPv4" ? "ipv4_addr" : "ipv6_addr";
  const t = `${ipX} kube-proxy`;
  const mark = masqueradeMark(options.masqueradeBit);
  const markStmt = `meta mark set meta mark | ${mark}`;
  const detector = snapshot.localDetector;
  const podCIDR = detector.kind === "cidr" ? detector.cidrs[0] : undefined;
  const out: string[] = [
    `add table ${t}`,
    `delete table ${t}`,
    `add table ${t} { comment "rules for kube-proxy" ; }`,
  ];
  const chain = (name: string, hook?: string) =>
    out.push(hook === undefined ? `add chain ${t} ${name}` : `add chain ${t} ${name} { ${hook} }`);
  const rule = (c: string, r: string) => out.push(`add rule ${t} ${c} ${r}`);
  const elements: string[] = [];
  const element = (set: string, e: string) => elements.push(`add element ${t} ${set} { ${e} }`);

  out.push(`add set ${t} cluster-ips { type ${addr} ; comment "Active ClusterIPs" ; }`);
  out.push(`add set ${t} nodeport-ips { type ${addr} ; }`);
  const svc = `${addr} . inet_proto . inet_service`;
  out.push(`add map ${t} service-ips { type ${svc} : verdict ; }`);
  out.push(`add map ${t} service-nodeports { type inet_proto . inet_service : verdict ; }`);
  out.push(`add map ${t} firewall-ips { type ${svc} : verdict ; }`);
  out.push(`add map ${t} no-endpoint-services { type ${svc} : verdict ; }`);
  out.push(`add map ${t} no-endpoint-nodeports { type inet_proto . inet_service : verdict ; }`);
  out.push(
    `add set ${t} hairpin-connections { type ${addr} . ${addr} . inet_proto . inet_service ; }`,
  );
  for (
    const [name, hook] of [
      ["filter-prerouting-pre-dnat", "type filter hook prerouting priority -110 ;"],
      ["filter-output-pre-dnat", "type filter hook output priority -110 ;"],
      ["nat-prerouting", "type nat hook prerouting priority -100 ;"],
      ["nat-output", "type nat hook output priority -100 ;"],
      ["filter-forward", "type filter hook forward priority 0 ;"],
      ["filter-input", "type filter hook input priority 0 ;"],
      ["filter-output", "type filter hook output priority 0 ;"],
      ["nat-postrouting", "type nat hook postrouting priority 100 ;"],
    ] as const
  ) chain(name, hook);
  for (
    const c of [
      "services",
      "firewall-check",
      "service-endpoints-check",
      "nodeport-endpoints-check",
      "cluster-ips-check",
      "reject-chain",
      "masquerading",
    ]
  ) chain(c);
  rule("filter-prerouting-pre-dnat", "ct state new jump firewall-check");
  rule("filter-output-pre-dnat", "ct state new jump firewall-check");
  rule("nat-prerouting", "jump services");
  rule("nat-output", "jump services");
  rule("filter-forward", "ct state new jump service-endpoints-check");
  rule("filter-forward", "ct state new jump cluster-ips-check");
  rule("filter-input", "ct state new jump nodeport-endpoints-check");
  rule("filter-input", "ct state new jump service-endpoints-check");
  rule("filter-output", "ct state new jump service-endpoints-check");
  rule("filter-output", "ct state new jump cluster-ips-check");
  rule("nat-postrouting", "jump masquerading");
  if (podCIDR !== undefined) {
    rule("services", `${ipX} daddr @cluster-ips ${ipX} saddr != ${podCIDR} ${markStmt}`);
  }
  rule("services", `${ipX} daddr . meta l4proto . th dport vmap @service-ips`);
  rule("services", `${ipX} daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports`);
  rule("firewall-check", `${ipX} daddr . meta l4proto . th dport vmap @firewall-ips`);
  rule(
    "service-endpoints-check",
    `${ipX} daddr . meta l4proto . th dport vmap @no-endpoint-services`,
  );
  rule(
    "nodeport-endpoints-check",
    `${ipX} daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports`,
  );
  rule("cluster-ips-check", `${ipX} daddr @cluster-ips reject`);
  rule("reject-chain", "reject");
  rule(
    "masquerading",
    `meta mark & ${mark} != 0 meta mark set meta mark ^ ${mark} masquerade fully-random`,
  );
  rule(
    "masquerading",
    `ct status dnat ${ipX} saddr . ${ipX} daddr . meta l4proto . th dport @hairpin-connections masquerade fully-random`,
  );
  const nodeIP = snapshot.nodeIPs[0];
  if (nodeIP !== undefined) element("nodeport-ips", nodeIP);

  const seenIPs = new Set<string>();
  for (const sp of snapshot.servicePorts) {
    const proto = sp.protocol.toLowerCase();
    const names = affinityChainNames(sp);
    const fw = `firewall-${names.cluster.slice("service-".length)}`;
    const cluster = sp.usesClusterEndpoints ? sp.clusterEndpoints : [];
    const local = sp.usesLocalEndpoints ? sp.localEndpoints : [];
    const affinity = sp.sessionAffinity !== null;
    const writePolicy = (name: string, eps: readonly Endpoint[]) => {
      chain(name);
      if (affinity) {
        for (const ep of eps) {
          rule(name, `${ipX} saddr @affinity-${epBase(sp, ep)} goto endpoint-${epBase(sp, ep)}`);
        }
        rule(
          name,
          `numgen random mod ${eps.length} vmap { ${
            eps.map((ep, i) => `${i} : goto endpoint-${epBase(sp, ep)}`).join(", ")
          } }`,
        );
      } else {
        rule(
          name,
          `meta l4proto ${proto} dnat ${ipX} to numgen random mod ${eps.length} map { ${
            eps.map((ep, i) => `${i} : ${ep.ip} . ${ep.port}`).join(", ")
          } }`,
        );
      }
    };
    if (affinity) {
      for (const ep of sp.allReachableEndpoints) {
        const base = epBase(sp, ep);
        out.push(
          `add set ${t} affinity-${base} { type ${addr} ; flags dynamic,timeout ; timeout ${
            sp.sessionAffinity?.timeoutSeconds ?? 10800
          }s ; }`,
        );
        chain(`endpoint-${base}`);
        rule(`endpoint-${base}`, `update @affinity-${base} { ${ipX} saddr }`);
        const target = ep.ip.includes(":") ? `[${ep.ip}]:${ep.port}` : `${ep.ip}:${ep.port}`;
        rule(`endpoint-${base}`, `meta l4proto ${proto} dnat ${ipX} to ${target}`);
      }
    }
    if (cluster.length > 0) writePolicy(names.cluster, cluster);
    if (local.length > 0) writePolicy(names.local, local);
    for (const ep of sp.allReachableEndpoints) {
      if (ep.isLocal) {
        element("hairpin-connections", `${ep.ip} . ${ep.ip} . ${proto} . ${ep.port}`);
      }
    }
    const usesExternal = sp.hasAnyEndpoints && sp.externallyAccessible && cluster.length > 0;
    if (usesExternal) {
      chain(names.external);
      if (!sp.externalPolicyLocal) {
        rule(names.external, `${markStmt} goto ${names.cluster}`);
      } else {
        if (podCIDR !== undefined) {
          rule(names.external, `${ipX} saddr ${podCIDR} goto ${names.cluster}`);
        }
        rule(names.external, `fib saddr type local ${markStmt} goto ${names.cluster}`);
        if (local.length > 0) rule(names.external, `goto ${names.local}`);
      }
    }
    if (!seenIPs.has(sp.clusterIP)) element("cluster-ips", sp.clusterIP);
    seenIPs.add(sp.clusterIP);
    const verdict = sp.hasAnyEndpoints ? "drop" : "goto reject-chain";
    const internal = sp.internalPolicyLocal ? names.local : names.cluster;
    const key = (ip: string) => `${ip} . ${proto} . ${sp.port}`;
    if (sp.hasInternalEndpoints) element("service-ips", `${key(sp.clusterIP)} : goto ${internal}`);
    else element("no-endpoint-services", `${key(sp.clusterIP)} : ${verdict}`);
    for (const ip of [...sp.externalIPs, ...sp.loadBalancerVIPs]) {
      if (usesExternal) element("service-ips", `${key(ip)} : goto ${names.external}`);
      if (!sp.hasExternalEndpoints) element("no-endpoint-services", `${key(ip)} : ${verdict}`);
    }
    if (sp.loadBalancerVIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0) {
      chain(fw);
      rule(fw, `${ipX} saddr != { ${sp.loadBalancerSourceRanges.join(", ")} } drop`);
      for (const ip of sp.loadBalancerVIPs) element("firewall-ips", `${key(ip)} : goto ${fw}`);
    }
    if (sp.nodePort !== 0) {
      const np = `${proto} . ${sp.nodePort}`;
      if (usesExternal) element("service-nodeports", `${np} : goto ${names.external}`);
      if (!sp.hasExternalEndpoints) element("no-endpoint-nodeports", `${np} : ${verdict}`);
    }
  }
  // upstream adds elements with "add", so a duplicate key (a NodePort shared by two Services)
  // would fail; keep the first, as the map iteration of one run would.
  const seen = new Set<string>();
  for (const e of elements) {
    const k = e.replace(/ : .*$/, "");
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(e);
  }
  return out;
}
