/**
 * Runs `tests/fixtures/fake_api_server.ts` as its own process, so it can listen inside the node
 * namespace where the proxy runs (the proxy cannot reach the root namespace). Started with
 * `ip netns exec NODE deno run --allow-net --allow-read fake_api_main.ts`; controlled with
 * JSON lines on stdin ({@linkcode FakeApiRequest}), answered one line each on stdout
 * ({@linkcode FakeApiResponse}); the first line reports where it listens. Exits when stdin closes.
 *
 * @module
 */

import { FakeApiServer, type FakeResource } from "../fixtures/fake_api_server.ts";

/** A command for the fake API server. */
export type FakeApiRequest =
  | {
    readonly id: number;
    readonly op: "apply";
    readonly resource: FakeResource;
    readonly object: object;
  }
  | {
    readonly id: number;
    readonly op: "delete";
    readonly resource: FakeResource;
    readonly namespace: string;
    readonly name: string;
  }
  | { readonly id: number; readonly op: "status" };

/** The answer; `id` 0 is the start-up line with `url`, `token` and `caCert`. */
export interface FakeApiResponse {
  readonly id: number;
  readonly error?: string;
  /** Start-up line: the base URL (HTTPS, 127.0.0.1). */
  readonly url?: string;
  /** Start-up line: the bearer token. */
  readonly token?: string | null;
  /** Start-up line: the CA certificate (PEM) to trust. */
  readonly caCert?: string | null;
  /** `status`: how many watch streams are open. */
  readonly openWatches?: number;
  /** `status`: the current resourceVersion. */
  readonly resourceVersion?: number;
}

function write(response: FakeApiResponse): void {
  Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(response) + "\n"));
}

function handle(api: FakeApiServer, request: FakeApiRequest): FakeApiResponse {
  switch (request.op) {
    case "apply":
      api.apply(request.resource, request.object);
      return { id: request.id };
    case "delete":
      api.delete(request.resource, request.namespace, request.name);
      return { id: request.id };
    case "status":
      return {
        id: request.id,
        openWatches: api.openWatches,
        resourceVersion: api.resourceVersion,
      };
  }
}

async function main(): Promise<void> {
  const api = await FakeApiServer.start({ tls: true });
  write({ id: 0, url: api.url, token: api.token, caCert: api.caCert });
  let buffered = "";
  const decoder = new TextDecoder();
  for await (const chunk of Deno.stdin.readable) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line === "") continue;
      const request = JSON.parse(line) as FakeApiRequest;
      try {
        write(handle(api, request));
      } catch (error) {
        write({ id: request.id, error: error instanceof Error ? error.message : String(error) });
      }
    }
  }
  await api.close();
  Deno.exit(0);
}

if (import.meta.main) await main();
