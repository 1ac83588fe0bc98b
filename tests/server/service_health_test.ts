import { textLog } from "../fixtures/text_log.ts";
import assert from "node:assert/strict";
import { type Logger, SILENT_LOGGER } from "../../src/log.ts";
import { EndpointTable } from "../../src/model/mod.ts";
import { denoListen, type HttpServer, type ListenFn } from "../../src/server/listen.ts";
import {
  healthCheckAddresses,
  healthChecksFromSnapshot,
  serviceHealthBody,
  ServiceHealthServer,
} from "../../src/server/service_health.ts";
import {
  makeEndpoint,
  makeNode,
  makeService,
  makeSlice,
  makeTableOptions,
  OTHER_NODE_NAME,
  servicePort,
  setClusterIPs,
  slicePort,
  TEST_NODE_IP,
  TEST_NODE_NAME,
} from "../fixtures/k8s_builders.ts";

/** A listener that binds nothing and remembers handlers by `host:port`. */
function fakeListen(fail: (host: string, port: number) => boolean = () => false) {
  const open = new Map<string, (request: Request) => Response | Promise<Response>>();
  const listen: ListenFn = ({ hostname, port, handler }) => {
    if (fail(hostname, port)) return Promise.reject(new Deno.errors.AddrInUse("in use"));
    const key = `${hostname}:${port}`;
    open.set(key, handler);
    return Promise.resolve({
      hostname,
      port,
      close: () => {
        open.delete(key);
        return Promise.resolve();
      },
    });
  };
  const get = async (key: string) => {
    const handler = open.get(key);
    assert.ok(handler, `nothing listens on ${key}; open: ${[...open.keys()].join(", ")}`);
    return await handler(new Request(`http://${key}/`));
  };
  return { listen, open, get };
}

function server(
  listen: ListenFn,
  opts: { healthy?: () => boolean; addresses?: readonly string[] | null; log?: Logger } = {},
) {
  return new ServiceHealthServer({
    listen,
    log: opts.log ?? SILENT_LOGGER,
    proxyHealthy: opts.healthy ?? (() => true),
    addresses: () => opts.addresses === undefined ? ["192.168.0.2"] : opts.addresses,
  });
}

Deno.test("ServiceHealthServer answers 200 with upstream's body and weight header while there are local endpoints", async () => {
  const fake = fakeListen();
  const s = server(fake.listen);
  await s.syncServices(new Map([["ns1/lb", 30001]]));
  s.syncEndpoints(new Map([["ns1/lb", 2]]));
  const res = await fake.get("192.168.0.2:30001");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-load-balancing-endpoint-weight"), "2");
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.equal(
    await res.text(),
    '{\n\t"service": {\n\t\t"namespace": "ns1",\n\t\t"name": "lb"\n\t},\n' +
      '\t"localEndpoints": 2,\n\t"serviceProxyHealthy": true\n}',
  );
});

Deno.test("ServiceHealthServer answers 503 without local endpoints, and when the proxy is unhealthy", async () => {
  const fake = fakeListen();
  let healthy = true;
  const s = server(fake.listen, { healthy: () => healthy });
  await s.syncServices(new Map([["ns1/lb", 30001]]));
  const empty = await fake.get("192.168.0.2:30001");
  assert.equal(empty.status, 503);
  assert.equal(empty.headers.get("x-load-balancing-endpoint-weight"), "0");
  s.syncEndpoints(new Map([["ns1/lb", 1]]));
  healthy = false;
  const res = await fake.get("192.168.0.2:30001");
  assert.equal(res.status, 503);
  assert.match(await res.text(), /"serviceProxyHealthy": false/);
});

Deno.test("ServiceHealthServer.syncServices() closes ports of Services that went away or moved", async () => {
  const fake = fakeListen();
  const s = server(fake.listen);
  await s.syncServices(new Map([["ns1/a", 30001], ["ns1/b", 30002]]));
  assert.deepEqual([...fake.open.keys()].sort(), ["192.168.0.2:30001", "192.168.0.2:30002"]);
  await s.syncServices(new Map([["ns1/b", 30003]]));
  assert.deepEqual([...fake.open.keys()], ["192.168.0.2:30003"]);
  assert.deepEqual([...s.services], [["ns1/b", 30003]]);
  await s.close();
  assert.equal(fake.open.size, 0);
});

Deno.test("ServiceHealthServer.syncEndpoints() resets Services missing from the counts to 0", async () => {
  const fake = fakeListen();
  const s = server(fake.listen);
  await s.syncServices(new Map([["ns1/lb", 30001]]));
  s.syncEndpoints(new Map([["ns1/lb", 3]]));
  s.syncEndpoints(new Map());
  assert.equal((await fake.get("192.168.0.2:30001")).status, 503);
});

Deno.test("ServiceHealthServer logs a port it cannot open and retries at the next sync", async () => {
  let busy = true;
  const fake = fakeListen(() => busy);
  const { log, lines } = textLog();
  const s = server(fake.listen, { log });
  await s.syncServices(new Map([["ns1/lb", 30001]]));
  assert.equal(s.services.size, 0);
  assert.match(lines.join(""), /E.*Failed to start healthcheck.*service="ns1\/lb" port=30001/);
  busy = false;
  await s.syncServices(new Map([["ns1/lb", 30001]]));
  assert.deepEqual([...s.services], [["ns1/lb", 30001]]);
});

Deno.test("ServiceHealthServer listens on :: for every address, falling back to 0.0.0.0", async () => {
  const fake = fakeListen((host) => host === "::");
  const s = server(fake.listen, { addresses: null });
  await s.syncServices(new Map([["ns1/lb", 30001]]));
  assert.deepEqual([...fake.open.keys()], ["0.0.0.0:30001"]);
});

Deno.test("ServiceHealthServer serves real HTTP on the given address", async () => {
  const bound: HttpServer[] = [];
  const listen: ListenFn = async (o) => {
    const srv = await denoListen({ ...o, port: 0 });
    bound.push(srv);
    return srv;
  };
  const s = server(listen, { addresses: ["127.0.0.1"] });
  try {
    await s.syncServices(new Map([["ns1/lb", 30001]]));
    s.syncEndpoints(new Map([["ns1/lb", 1]]));
    const res = await fetch(`http://127.0.0.1:${bound[0]?.port}/`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /"localEndpoints": 1/);
  } finally {
    await s.close();
  }
});

Deno.test("serviceHealthBody() matches upstream's tab-indented body", () => {
  assert.equal(
    serviceHealthBody("default", "web", 0, false),
    '{\n\t"service": {\n\t\t"namespace": "default",\n\t\t"name": "web"\n\t},\n' +
      '\t"localEndpoints": 0,\n\t"serviceProxyHealthy": false\n}',
  );
});

Deno.test("healthChecksFromSnapshot() lists eTP Local LoadBalancer Services with their local ready endpoints", () => {
  const table = new EndpointTable(makeTableOptions());
  table.onNodeAdd(makeNode());
  table.onServiceAdd(makeService("ns1", "lb", (s) => {
    setClusterIPs(s, "172.30.0.41");
    s.spec.type = "LoadBalancer";
    s.spec.externalTrafficPolicy = "Local";
    s.spec.healthCheckNodePort = 30000;
    s.spec.ports = [servicePort("p80", 80, { nodePort: 3001 })];
  }));
  table.onServiceAdd(makeService("ns1", "plain", (s) => {
    setClusterIPs(s, "172.30.0.42");
    s.spec.ports = [servicePort("p80", 80)];
  }));
  table.onEndpointSliceAdd(makeSlice("ns1", "lb", 1, (es) => {
    es.ports = [slicePort("p80", 80)];
    es.endpoints = [
      makeEndpoint("10.180.0.1", { nodeName: TEST_NODE_NAME }),
      makeEndpoint("10.180.0.2", { nodeName: TEST_NODE_NAME }),
      makeEndpoint("10.180.0.3", { nodeName: OTHER_NODE_NAME }),
      makeEndpoint("10.180.0.4", { nodeName: TEST_NODE_NAME, ready: false }),
    ];
  }));
  for (const s of ["services", "endpointSlices", "node"] as const) table.markSynced(s);
  const checks = healthChecksFromSnapshot(table.snapshot());
  assert.deepEqual([...checks.ports], [["ns1/lb", 30000]]);
  assert.deepEqual([...checks.endpoints], [["ns1/lb", 2]]);
});

Deno.test("healthCheckAddresses() follows nodePortAddresses", () => {
  const table = new EndpointTable(makeTableOptions());
  table.onNodeAdd(makeNode());
  const snapshot = table.snapshot();
  const local = ["127.0.0.1", TEST_NODE_IP, "10.0.0.5", "::1", "fe80::1"];
  assert.equal(healthCheckAddresses([], snapshot, local), null, "unset: every address");
  assert.deepEqual(healthCheckAddresses(["primary"], snapshot, local), [TEST_NODE_IP]);
  assert.deepEqual(healthCheckAddresses(["192.168.0.0/16", "10.0.0.0/8"], snapshot, local), [
    "10.0.0.5",
    TEST_NODE_IP,
  ]);
  assert.deepEqual(healthCheckAddresses(["172.16.0.0/12"], snapshot, local), [], "no match");
});
