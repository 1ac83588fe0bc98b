/**
 * `--dry-run`: objects → endpoint table → snapshot → the selected backend's full ruleset, as
 * text. Pure: the caller reads the files and prints the result.
 *
 * @module
 */

import type { ProxyConfig } from "../config/types.ts";
import type { ClusterObjects } from "../kube/objects_file.ts";
import { EndpointTable, type TableOptions, type TableSnapshot } from "../model/mod.ts";
import { featureEnabled } from "../config/feature_gates.ts";

/** The endpoint table's node context, from the resolved config and the node name. */
export function tableOptionsFrom(config: ProxyConfig, nodeName: string): TableOptions {
  return {
    nodeName,
    detectLocalMode: config.detectLocalMode,
    clusterCIDRs: config.clusterCIDRs,
    bridgeInterface: config.detectLocal.bridgeInterface,
    interfaceNamePrefix: config.detectLocal.interfaceNamePrefix,
    featureGates: {
      PreferSameTrafficDistribution: featureEnabled(
        config.featureGates,
        "PreferSameTrafficDistribution",
      ),
    },
  };
}

/** Builds the snapshot a fully synced table would hold for `objects`. */
export function snapshotOf(
  config: ProxyConfig,
  objects: ClusterObjects,
  nodeName: string,
): TableSnapshot {
  const table = new EndpointTable(tableOptionsFrom(config, nodeName));
  for (const node of objects.nodes) {
    if (node.metadata?.name === nodeName) table.onNodeAdd(node);
  }
  for (const service of objects.services) table.onServiceAdd(service);
  for (const slice of objects.endpointSlices) table.onEndpointSliceAdd(slice);
  table.markSynced("node");
  table.markSynced("services");
  table.markSynced("endpointSlices");
  return table.snapshot();
}

/** What `--dry-run` prints, and the warnings to log. */
export interface DryRunOutput {
  readonly text: string;
  readonly warnings: readonly string[];
}

/** Renders the dry run for `objects` as seen from `nodeName`. */
export function renderDryRun(
  input: { config: ProxyConfig; objects: ClusterObjects; nodeName: string },
): DryRunOutput {
  const snapshot = snapshotOf(input.config, input.objects, input.nodeName);
  const warnings = snapshot.warnings.map((w) =>
    `${w.kind} ${w.namespace === "" ? "" : `${w.namespace}/`}${w.name}: ${w.message}`
  );
  if (!snapshot.node.known) {
    warnings.push(
      `Node ${JSON.stringify(input.nodeName)} is not in the objects file: no node IPs, no ` +
        "node-local endpoints (use --hostname-override to pick a node)",
    );
  }
  return { text: summarise(snapshot, input.config), warnings };
}

/** Interim output until the backends render rules: the per-node service model, one line each. */
function summarise(snapshot: TableSnapshot, config: ProxyConfig): string {
  const lines = [
    `# deno-kube-proxy dry run: mode ${config.mode}, node ${snapshot.node.name}`,
  ];
  for (const family of [snapshot.v4, snapshot.v6]) {
    if (family.servicePorts.length === 0 && family.nodeIPs.length === 0) continue;
    lines.push(`# ${family.family}: node IPs ${family.nodeIPs.join(", ") || "(none)"}`);
    for (const sp of family.servicePorts) {
      const endpoints = sp.allReachableEndpoints.map((e) => e.ipPort).join(" ") || "(none)";
      lines.push(
        `${sp.key}/${sp.protocol} ${sp.clusterIP}:${sp.port}` +
          (sp.nodePort === 0 ? "" : ` nodePort ${sp.nodePort}`) +
          ` -> ${endpoints}`,
      );
    }
  }
  return lines.join("\n") + "\n";
}
