// MQTT over WebSocket in front of a real MQTT broker that only listens on
// TCP: Debian's mosquitto 2.0.11 fails every websockets listener here
// ("Unable to start any listening sockets"). This bridge is ours; the
// broker behind it is mosquitto. It accepts subprotocol `mqtt` on
// 127.0.0.1 at a free port (printed), and pipes binary messages to the
// broker's TCP port and the broker's bytes back as binary messages (MQTT
// 5.0 §6 lets packets span and share messages, so no reframing is needed).
// Either side closing closes the other.
// Usage: node mqtt_ws_bridge.js BROKER_TCP_PORT
const net = require('net')
const { WebSocketServer } = require('ws')

const brokerPort = Number(process.argv[2])
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  handleProtocols: (offered) => (offered.has('mqtt') ? 'mqtt' : false)
})
wss.on('connection', (ws) => {
  const tcp = net.connect(brokerPort, '127.0.0.1')
  const pending = []
  tcp.on('connect', () => {
    for (const chunk of pending.splice(0)) tcp.write(chunk)
  })
  ws.on('message', (data) => {
    if (tcp.connecting) pending.push(data)
    else tcp.write(data)
  })
  tcp.on('data', (data) => ws.send(data, { binary: true }))
  tcp.on('close', () => ws.close())
  tcp.on('error', () => ws.terminate())
  ws.on('close', () => tcp.end())
  ws.on('error', () => tcp.destroy())
})
wss.on('listening', () => {
  console.log(wss.address().port)
})
