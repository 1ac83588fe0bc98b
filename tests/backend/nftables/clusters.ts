/**
 * The clusters behind nftables mode's golden files (tests/fixtures/golden/nftables/<name>.txt):
 * the same set as iptables mode's (tests/backend/iptables/clusters.ts), rendered with nftables
 * mode's defaults (`nodePortAddresses: [primary]` unless the cluster says otherwise).
 *
 * @module
 */

import type { RenderOptions } from "../../../src/backend/backend.ts";
import { NftablesBackend } from "../../../src/backend/nftables/backend.ts";
import { SILENT_LOGGER } from "../../../src/log.ts";
import { RecordingRunner } from "../../fixtures/recording_runner.ts";
import {
  DEFAULT_OPTIONS as IPTABLES_DEFAULTS,
  GOLDEN_CLUSTERS as SHARED_CLUSTERS,
  type GoldenCluster,
  snapshotOf,
  tableOf,
} from "../iptables/clusters.ts";

export { type GoldenCluster, snapshotOf, tableOf };

/** nftables mode's defaults: upstream's, with the platform default `nodePortAddresses`. */
export const DEFAULT_OPTIONS: RenderOptions = Object.freeze({
  ...IPTABLES_DEFAULTS,
  nodePortAddresses: Object.freeze(["primary"]) as readonly string[],
});

/** Every golden cluster, in file-name order. */
export const GOLDEN_CLUSTERS: readonly GoldenCluster[] = SHARED_CLUSTERS;

/** The render options of a golden cluster. */
export function optionsOf(cluster: GoldenCluster): RenderOptions {
  return { ...DEFAULT_OPTIONS, ...cluster.options };
}

/** A backend that never touches the host (for `renderFull`). */
export function dryBackend(options: RenderOptions = DEFAULT_OPTIONS): NftablesBackend {
  return new NftablesBackend(
    { runner: new RecordingRunner(), log: SILENT_LOGGER, options },
    { cleanupOtherModes: null },
  );
}

/** What a golden file holds: a header naming the cluster, then `renderFull()`. */
export function goldenText(cluster: GoldenCluster): string {
  const header = `# golden ${cluster.name}: ${cluster.about}\n` +
    `# options: ${JSON.stringify(optionsOf(cluster))}\n`;
  return header + dryBackend(optionsOf(cluster)).renderFull(snapshotOf(cluster));
}
