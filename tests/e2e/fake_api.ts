/**
 * The test side of `fake_api_main.ts`: a fake API server process inside the node namespace,
 * its kubeconfig, and the objects it serves.
 *
 * @module
 */

import { join } from "node:path";
import { LineChild } from "./child.ts";
import type { FakeApiRequest, FakeApiResponse } from "./fake_api_main.ts";
import type { Resource } from "./proxy.ts";

const MAIN = new URL("./fake_api_main.ts", import.meta.url).pathname;
const START_TIMEOUT_MS = 20_000;
const ANSWER_TIMEOUT_MS = 5_000;

/** A running fake API server. */
export class FakeApi {
  /** `https://127.0.0.1:PORT`, reachable from inside the node namespace only. */
  readonly url: string;
  readonly #child: LineChild;
  readonly #token: string | null;
  readonly #caCert: string;
  #nextId = 1;

  private constructor(child: LineChild, start: FakeApiResponse) {
    this.#child = child;
    this.url = start.url ?? "";
    this.#token = start.token ?? null;
    this.#caCert = start.caCert ?? "";
  }

  /** Starts the server inside `namespace`. */
  static async start(namespace: string): Promise<FakeApi> {
    const child = LineChild.start({
      namespace,
      label: "fake API server",
      command: [Deno.execPath(), "run", "--allow-net", "--allow-read", "--no-prompt", MAIN],
    });
    try {
      const line = await child.nextLine((l) => l.startsWith('{"id":0,'), START_TIMEOUT_MS, "start");
      return new FakeApi(child, JSON.parse(line) as FakeApiResponse);
    } catch (error) {
      await child.stop("SIGKILL");
      throw error;
    }
  }

  /**
   * Writes a kubeconfig for the server (and its CA certificate) into `dir`; returns its path.
   */
  async writeKubeconfig(dir: string): Promise<string> {
    const ca = join(dir, "ca.crt");
    await Deno.writeTextFile(ca, this.#caCert);
    const path = join(dir, "kubeconfig");
    const lines = [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "  - name: e2e",
      "    cluster:",
      `      server: ${this.url}`,
      `      certificate-authority: ${ca}`,
      "users:",
      "  - name: e2e",
      "    user:",
      ...(this.#token === null ? ["      {}"] : [`      token: ${this.#token}`]),
      "contexts:",
      "  - name: e2e",
      "    context:",
      "      cluster: e2e",
      "      user: e2e",
      "current-context: e2e",
      "",
    ];
    await Deno.writeTextFile(path, lines.join("\n"));
    return path;
  }

  /** Creates or replaces an object (watchers see ADDED or MODIFIED). */
  async apply(resource: Resource, object: object): Promise<void> {
    await this.#call({ id: this.#nextId++, op: "apply", resource, object });
  }

  /** Deletes an object (watchers see DELETED). */
  async delete(resource: Resource, namespace: string, name: string): Promise<void> {
    await this.#call({ id: this.#nextId++, op: "delete", resource, namespace, name });
  }

  /** Stops the server. */
  async stop(): Promise<void> {
    await this.#child.stop("SIGKILL", 2_000);
  }

  async #call(request: FakeApiRequest): Promise<FakeApiResponse> {
    await this.#child.send(JSON.stringify(request));
    const line = await this.#child.nextLine(
      (l) => l.startsWith(`{"id":${request.id},`) || l.startsWith(`{"id":${request.id}}`),
      ANSWER_TIMEOUT_MS,
      request.op,
    );
    const response = JSON.parse(line) as FakeApiResponse;
    if (response.error !== undefined) throw new Error(`fake API: ${response.error}`);
    return response;
  }
}
