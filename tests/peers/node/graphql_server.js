// Real GraphQL-over-WebSocket servers for the tests:
//   node graphql_server.js transport-ws PORT KEEPALIVE_MS INIT_WAIT_MS [reject]
//     graphql-ws's useServer (subprotocol graphql-transport-ws); KEEPALIVE_MS
//     is useServer's keepAlive (WebSocket pings), INIT_WAIT_MS its
//     connectionInitWaitTimeout; "reject" makes onConnect refuse (4403).
//   node graphql_server.js legacy PORT KEEPALIVE_MS [reject]
//     subscriptions-transport-ws's SubscriptionServer (subprotocol
//     graphql-ws); KEEPALIVE_MS its keepAlive (ka messages, 0 for none);
//     "reject" makes onConnect refuse (connection_error, then 1011).
// Prints "listening PORT" once it listens (PORT 0 picks a free one).
const { buildSchema, execute, subscribe } = require("graphql");
const { WebSocketServer } = require("ws");
const [mode, port, keepAlive, ...rest] = process.argv.slice(2);
const schema = buildSchema("type Query { hello: String } type Subscription { tick: Int }");
const reject = rest.includes("reject");
const announce = (server) => console.log(`listening ${server.address().port}`);
if (mode === "transport-ws") {
  const { useServer } = require("graphql-ws/use/ws");
  const wss = new WebSocketServer({ port: Number(port), host: "127.0.0.1", path: "/graphql" });
  useServer(
    {
      schema,
      connectionInitWaitTimeout: Number(rest[0]),
      onConnect: () => (reject ? false : true),
    },
    wss,
    Number(keepAlive),
  );
  wss.on("listening", () => announce(wss));
} else if (mode === "legacy") {
  const { SubscriptionServer } = require("subscriptions-transport-ws");
  const server = SubscriptionServer.create(
    {
      schema,
      execute,
      subscribe,
      keepAlive: Number(keepAlive) || undefined,
      onConnect: () => (reject ? false : {}),
    },
    { port: Number(port), host: "127.0.0.1", path: "/graphql" },
  );
  server.server.on("listening", () => announce(server.server));
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
