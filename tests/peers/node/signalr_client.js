// A real @microsoft/signalr client (8) pointed at `wsdoctor reconnect --listen`,
// the WebSockets transport only and withAutomaticReconnect() at its
// defaults (retry after 0, 2, 10 and 30 s, starting over after each
// successful reconnect):
//   node signalr_client.js URL [skipNegotiation]
// Without skipNegotiation it first POSTs URL/negotiate?negotiateVersion=1,
// as it does by default. Prints "connected" each time its hub handshake is
// answered (start, and every reconnect) and "reconnecting"/"closed" as it
// loses the connection.
const signalR = require("@microsoft/signalr");
const [given, mode] = process.argv.slice(2);
// SignalR takes the hub's http(s) URL and turns it into ws(s) itself.
const url = given.replace(/^ws/, "http");
const connection = new signalR.HubConnectionBuilder()
  .withUrl(url, {
    skipNegotiation: mode === "skipNegotiation",
    transport: signalR.HttpTransportType.WebSockets,
  })
  .withAutomaticReconnect()
  .configureLogging(signalR.LogLevel.None)
  .build();
connection.onreconnecting(() => console.log("reconnecting"));
connection.onreconnected(() => console.log("connected"));
connection.onclose(() => console.log("closed"));
connection
  .start()
  .then(() => console.log("connected"))
  .catch((err) => console.log(`start_error ${err.message}`));
