/**
 * The cluster-source tests' view of a table: one line per service port, as an operator would
 * read it, so a test compares tables (restored, polled, watched) as plain text.
 *
 * @module
 */

import type { TableSnapshot } from "../../src/model/mod.ts";

/**
 * The table as an operator would read it: one line per service port,
 * `ns/name:port/PROTO clusterIP:port -> endpoints`, for both families.
 */
export function describeTable(snapshot: TableSnapshot): string[] {
  return [...snapshot.v4.servicePorts, ...snapshot.v6.servicePorts].map((p) =>
    `${p.id} ${p.clusterIP}:${p.port} -> ${p.clusterEndpoints.map((e) => e.ipPort).join(",")}`
  );
}
