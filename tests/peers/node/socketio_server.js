// A real Socket.IO v4 server for the tests, on 127.0.0.1:
//   node socketio_server.js PORT PING_INTERVAL_MS PING_TIMEOUT_MS [allowEIO3] [tick=MS] [stopAfter=MS]
// tick=MS emits a "tick" event to every socket that often (the
// application's data); stopAfter=MS stops those ticks that long after the
// connect while Engine.IO keeps pinging (a stalled handler).
// Prints "listening PORT" once it listens (PORT 0 picks a free one).
const http = require("http");
const { Server } = require("socket.io");
const [port, pingInterval, pingTimeout, ...rest] = process.argv.slice(2);
const option = (name) => {
  const found = rest.find((a) => a.startsWith(`${name}=`));
  return found ? Number(found.split("=")[1]) : undefined;
};
const server = http.createServer();
const io = new Server(server, {
  pingInterval: Number(pingInterval),
  pingTimeout: Number(pingTimeout),
  allowEIO3: rest.includes("allowEIO3"),
  transports: ["websocket"],
});
const tick = option("tick");
const stopAfter = option("stopAfter");
if (tick) {
  io.on("connection", (socket) => {
    let n = 0;
    const timer = setInterval(() => socket.emit("tick", n++), tick);
    if (stopAfter) setTimeout(() => clearInterval(timer), stopAfter);
    socket.on("disconnect", () => clearInterval(timer));
  });
}
server.listen(Number(port), "127.0.0.1", () => console.log(`listening ${server.address().port}`));
