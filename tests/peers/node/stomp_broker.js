// A real STOMP-over-WebSocket broker for wsdoctor's tests: stomp-broker-js
// (npm) on 127.0.0.1 at a free port, path /stomp. Prints the port, then
// serves until killed. It speaks STOMP 1.1 and negotiates one heart-beat
// direction: with a client that can send, it wants the client's heart-beat
// every max(cx, WANT) ms and closes the socket when one is more than
// heartbeatErrorMargin late.
// Usage: node stomp_broker.js [wantClientHeartbeatMs] [errorMarginMs]
const http = require('http')
const StompServer = require('stomp-broker-js')

const want = Number(process.argv[2] || 0)
const margin = Number(process.argv[3] || 1000)
const server = http.createServer()
// eslint-disable-next-line no-new
new StompServer({ server, path: '/stomp', heartbeat: [0, want], heartbeatErrorMargin: margin })
server.listen(0, '127.0.0.1', () => {
  console.log(server.address().port)
})
