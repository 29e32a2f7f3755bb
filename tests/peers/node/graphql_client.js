// A real graphql-ws (6.4) client over the `ws` package, pointed at
// `wsdoctor reconnect --listen`, its retry policy left at the library's
// defaults (randomised exponential backoff, 5 attempts, reset on ack).
// One long subscription keeps it connected (a lazy client with nothing
// subscribed would not reconnect):
//   node graphql_client.js URL
// Prints "connected" on every connection_ack and "closed CODE" on every close.
const { createClient } = require("graphql-ws");
const WebSocket = require("ws");
const [url] = process.argv.slice(2);
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  on: {
    connected: () => console.log("connected"),
    closed: (event) => console.log(`closed ${event.code}`),
  },
});
client.subscribe(
  { query: "subscription { tick }" },
  {
    next: () => {},
    error: (err) => console.log(`error ${err && err.code ? err.code : err}`),
    complete: () => console.log("complete"),
  },
);
