// npm `ws` 8 as a plain WebSocket server on 127.0.0.1, for the tests:
//   node ws_server.js PORT [protocols=A,B]
// protocols=A,B: handleProtocols picks the first offered of A,B and returns
// false (refuses every offered subprotocol) when none matches, as the ws
// documentation shows. Prints "listening PORT" once it listens (0 picks one).
const { WebSocketServer } = require("ws");
const [port, ...rest] = process.argv.slice(2);
const listed = rest.find((a) => a.startsWith("protocols="));
const accepted = listed ? listed.slice("protocols=".length).split(",") : null;
const options = { host: "127.0.0.1", port: Number(port) };
if (accepted) {
  options.handleProtocols = (offered) => accepted.find((p) => offered.has(p)) || false;
}
const wss = new WebSocketServer(options);
wss.on("connection", (socket) => socket.on("message", (data, binary) => socket.send(data, { binary })));
wss.on("listening", () => console.log(`listening ${wss.address().port}`));
