// A real Socket.IO v4 server for the tests, on 127.0.0.1:
//   node socketio_server.js PORT PING_INTERVAL_MS PING_TIMEOUT_MS [allowEIO3]
// Prints "listening PORT" once it listens (PORT 0 picks a free one).
const http = require("http");
const { Server } = require("socket.io");
const [port, pingInterval, pingTimeout, eio3] = process.argv.slice(2);
const server = http.createServer();
new Server(server, {
  pingInterval: Number(pingInterval),
  pingTimeout: Number(pingTimeout),
  allowEIO3: eio3 === "allowEIO3",
  transports: ["websocket"],
});
server.listen(Number(port), "127.0.0.1", () => console.log(`listening ${server.address().port}`));
