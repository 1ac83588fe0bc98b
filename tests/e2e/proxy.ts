/**
 * What the end-to-end cases drive: a proxy for one node plus the API objects it sees.
 *
 * @module
 */

import type { V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node";
import type { ImplementedProxyMode } from "../../src/config/types.ts";

/** The API resources the cases change. */
export type Resource = "services" | "endpointslices" | "nodes";

/** A proxy under test and the cluster state it follows. */
export interface ProxyUnderTest {
  readonly mode: ImplementedProxyMode;
  /**
   * Starts proxying the e2e cluster (cluster.ts); rules may still be on their way when this
   * resolves (wait with `waitUntilServing`).
   */
  start(): Promise<void>;
  /** The exit code if the proxy process ended on its own, else null. */
  exitCode(): number | null;
  /** Creates or replaces an API object. The proxy follows within its sync period. */
  apply(resource: Resource, object: V1Service | V1EndpointSlice | V1Node): Promise<void>;
  /** Deletes an API object. */
  delete(resource: Resource, namespace: string, name: string): Promise<void>;
  /** Stops the proxy; its rules stay in place (as upstream's on SIGTERM). */
  stop(): Promise<void>;
  /** Removes the rules of every mode, as `--cleanup` does. */
  cleanup(): Promise<void>;
  /** What the proxy printed, for failure messages. */
  output(): string;
}
