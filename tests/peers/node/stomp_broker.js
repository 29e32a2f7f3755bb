// A real STOMP-over-WebSocket broker for wsdoctor's tests: stomp-broker-js
// (npm) on 127.0.0.1 at a free port, path /stomp. Prints the port, then
// serves until killed. It speaks STOMP 1.1 and negotiates one heart-beat
// direction: with a client that can send, it wants the client's heart-beat
// every max(cx, WANT) ms and closes the socket when one is more than
// heartbeatErrorMargin late.
// With LOGIN:PASSCODE it refuses a CONNECT without that login through a
// connect middleware (stomp-broker-js has no login of its own; its README
// names middleware for authentication): the broker then answers ERROR
// "CONNECTION ERROR".
// Usage: node stomp_broker.js [wantClientHeartbeatMs] [errorMarginMs] [LOGIN:PASSCODE]
const http = require('http')
const StompServer = require('stomp-broker-js')

const want = Number(process.argv[2] || 0)
const margin = Number(process.argv[3] || 1000)
const server = http.createServer()
const required = process.argv[4]
const stomp = new StompServer({ server, path: '/stomp', heartbeat: [0, want], heartbeatErrorMargin: margin })
if (required) {
  const [login, passcode] = required.split(':')
  stomp.addMiddleware('connect', (socket, args, next) => {
    if (args.headers.login === login && args.headers.passcode === passcode) return next()
    return false
  })
}
server.listen(0, '127.0.0.1', () => {
  console.log(server.address().port)
})
