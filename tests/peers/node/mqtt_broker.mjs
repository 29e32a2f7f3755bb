// A real MQTT broker for wsdoctor's tests: aedes (npm) serving MQTT over
// WebSocket through aedes-server-factory, on 127.0.0.1 at a free port.
// Prints the port, then serves until killed. aedes speaks MQTT 3.1.1 (a v5
// CONNECT is answered with CONNACK 1, "unacceptable protocol version").
// Usage: node mqtt_broker.mjs [keepaliveLimitSeconds]
import { Aedes } from 'aedes'
import { createServer } from 'aedes-server-factory'

const keepaliveLimit = Number(process.argv[2] || 0)
const broker = await Aedes.createBroker({ keepaliveLimit })
const server = createServer(broker, { ws: true })
server.listen(0, '127.0.0.1', () => {
  console.log(server.address().port)
})
