// A real socket.io-client (4.8) pointed at `wsdoctor reconnect --listen`,
// with its reconnection policy left at the library's defaults (delay 1 s,
// max 5 s, randomization 0.5) and the WebSocket transport only, as the
// issue asks:
//   node socketio_client.js URL [EIO3]
// Prints "connect" each time its namespace connect is acknowledged (the
// session really opened) and "disconnect REASON" each time it drops.
const { io } = require("socket.io-client");
const [url] = process.argv.slice(2);
const parsed = new URL(url);
const socket = io(parsed.origin, {
  path: parsed.pathname,
  query: Object.fromEntries(parsed.searchParams),
  transports: ["websocket"],
});
socket.on("connect", () => console.log("connect"));
socket.on("disconnect", (reason) => console.log(`disconnect ${reason}`));
socket.on("connect_error", (err) => console.log(`connect_error ${err.message}`));
