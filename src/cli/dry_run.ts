/**
 * `--dry-run`: objects → endpoint table → snapshot → the selected backend's full ruleset, as
 * text. Pure (the backend's `renderFull` is): the caller reads the objects and prints the result.
 *
 * @module
 */

import type { ProxyConfig } from "../config/types.ts";
import type { ClusterObjects } from "../kube/objects_file.ts";
import { EndpointTable, type TableOptions, type TableSnapshot } from "../model/mod.ts";
import { featureEnabled } from "../config/feature_gates.ts";
import type { ProxyBackend } from "../backend/backend.ts";

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

/** Renders the dry run for `objects` as seen from `nodeName`, with the selected backend. */
export function renderDryRun(
  input: { config: ProxyConfig; objects: ClusterObjects; nodeName: string; backend: ProxyBackend },
): DryRunOutput {
  const snapshot = snapshotOf(input.config, input.objects, input.nodeName);
  const warnings = snapshot.warnings.map((w) =>
    `${w.kind} ${w.namespace === "" ? "" : `${w.namespace}/`}${w.name}: ${w.message}`
  );
  if (!snapshot.node.known) {
    warnings.push(
      `Node ${JSON.stringify(input.nodeName)} is not among the objects: no node IPs, no ` +
        "node-local endpoints (use --hostname-override to pick a node)",
    );
  }
  return { text: input.backend.renderFull(snapshot), warnings };
}
