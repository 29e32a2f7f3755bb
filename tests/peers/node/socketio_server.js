// A real Socket.IO v4 server for the tests: node socketio_server.js PORT
// PING_INTERVAL_MS PING_TIMEOUT_MS [allowEIO3]. Prints "listening PORT" once
// it listens. A client that emits "bye" is disconnected by the server
// (socket.disconnect(true)), so a server-side disconnect can be tested.
const { Server } = require("socket.io");
const [port, pingInterval, pingTimeout, eio3] = process.argv.slice(2);
const io = new Server(Number(port), {
  pingInterval: Number(pingInterval),
  pingTimeout: Number(pingTimeout),
  allowEIO3: eio3 === "allowEIO3",
  transports: ["websocket"],
});
io.on("connection", (socket) => {
  socket.on("bye", () => socket.disconnect(true));
});
io.httpServer.on("listening", () => console.log(`listening ${io.httpServer.address().port}`));
