/**
 * Reads the objects of `--objects FILE`: the output of
 * `kubectl get svc,endpointslices,nodes -A -o yaml` (or `-o json`), i.e. a `List` whose items are
 * Services, EndpointSlices and Nodes. Several YAML documents, typed lists (`ServiceList`) and bare
 * objects are accepted too, so hand-written files work. Pure: the caller reads the file.
 *
 * @module
 */

import { loadAll } from "js-yaml";
import type { V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node";

/** The cluster state held in an objects file. */
export interface ClusterObjects {
  readonly services: readonly V1Service[];
  readonly endpointSlices: readonly V1EndpointSlice[];
  readonly nodes: readonly V1Node[];
  /** Items that were skipped, each naming the item. */
  readonly warnings: readonly string[];
}

/** An objects file that cannot be read at all (not YAML/JSON, or not a list of objects). */
export class ObjectsFileError extends Error {
  /** @param message What is wrong, naming the file. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ObjectsFileError";
  }
}

/** Parses the text of an objects file; `source` names it in messages. */
export function parseObjectsFile(text: string, source: string): ClusterObjects {
  let documents: unknown[];
  try {
    documents = loadAll(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ObjectsFileError(`${source}: not valid YAML or JSON: ${reason}`, { cause: error });
  }
  const services: V1Service[] = [];
  const endpointSlices: V1EndpointSlice[] = [];
  const nodes: V1Node[] = [];
  const warnings: string[] = [];
  const visit = (item: unknown, where: string): void => {
    if (item === null || item === undefined) return;
    if (typeof item !== "object" || Array.isArray(item)) {
      warnings.push(`${source}: ${where}: not an object, skipped`);
      return;
    }
    const object = item as { kind?: unknown; items?: unknown; metadata?: { name?: unknown } };
    const kind = typeof object.kind === "string" ? object.kind : "";
    if (kind === "List" || kind.endsWith("List")) {
      if (!Array.isArray(object.items)) {
        warnings.push(`${source}: ${where}: ${kind} without items, skipped`);
        return;
      }
      object.items.forEach((child, i) => visit(child, `${where}.items[${i}]`));
      return;
    }
    if (kind === "Service") services.push(item as V1Service);
    else if (kind === "EndpointSlice") endpointSlices.push(item as V1EndpointSlice);
    else if (kind === "Node") nodes.push(item as V1Node);
    else {
      const name = typeof object.metadata?.name === "string" ? ` ${object.metadata.name}` : "";
      warnings.push(
        `${source}: ${where}: kind ${JSON.stringify(kind)}${name} is not a Service, ` +
          "EndpointSlice or Node, skipped",
      );
    }
  };
  documents.forEach((doc, i) => visit(doc, `document ${i + 1}`));
  if (services.length + endpointSlices.length + nodes.length === 0) {
    throw new ObjectsFileError(
      `${source}: holds no Services, EndpointSlices or Nodes (expected the output of ` +
        "`kubectl get svc,endpointslices,nodes -A -o yaml`)",
    );
  }
  return { services, endpointSlices, nodes, warnings };
}
