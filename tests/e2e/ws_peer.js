// An independent WebSocket server for the `rtx ws` tests: node's `ws` (Debian node-ws).
// Prints its port on stdout, then one JSON line per event on stderr.
//   node ws_peer.js [--tls CERT KEY] [--no-compress] [--port N]
// What it does with a connection depends on the request path:
//   /echo            echo every message with the same opcode
//   /close/CODE      send "hello", then close with CODE and reason "bye"
//   /drop            send "hello", then destroy the socket (no close frame)
//   /status/CODE     refuse the upgrade with HTTP CODE
//   /headers         send the handshake's headers back as one JSON text message
//   /burst/N         send N text messages "0".."N-1", then close 1000
//   /silent          accept, never answer pings (ws answers pings itself: we pause it)
//   /fragments       send "frag1" "frag2" "end" as one message in three frames, with a
//                    ping between them, then close 1000
//   /reflect         send a text and a binary message, wait for both to come back, then
//                    close 1000 with the reason "ok" if they came back unchanged
const WebSocket = require(process.env.NODE_WS || '/usr/share/nodejs/ws');
const http = require('http');
const https = require('https');
const fs = require('fs');

const args = process.argv.slice(2);
const tlsAt = args.indexOf('--tls');
const compress = !args.includes('--no-compress');
const server = tlsAt >= 0
  ? https.createServer({ cert: fs.readFileSync(args[tlsAt + 1]), key: fs.readFileSync(args[tlsAt + 2]) })
  : http.createServer();
const log = (event) => process.stderr.write(JSON.stringify(event) + '\n');

const wss = new WebSocket.Server({
  noServer: true,
  perMessageDeflate: compress,
  maxPayload: 64 * 1024 * 1024,
  handleProtocols: (protocols) => (protocols.has('chat.v2') ? 'chat.v2' : false),
});

server.on('upgrade', (request, socket, head) => {
  const status = request.url.match(/^\/status\/(\d+)/);
  if (status) {
    socket.end(`HTTP/1.1 ${status[1]} Nope\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    return;
  }
  wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
});

wss.on('connection', (ws, request) => {
  log({ event: 'connection', path: request.url, extensions: request.headers['sec-websocket-extensions'] || null,
        protocol: ws.protocol || null, origin: request.headers.origin || null });
  ws.on('error', (error) => log({ event: 'error', message: error.message }));
  ws.on('close', (code, reason) => log({ event: 'close', code, reason: reason.toString() }));
  ws.on('message', (data, isBinary) => log({ event: 'message', size: data.length, binary: isBinary }));
  const path = request.url;
  let match;
  if (path === '/echo') {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  } else if ((match = path.match(/^\/close\/(\d+)/))) {
    ws.send('hello');
    ws.close(Number(match[1]), 'bye');
  } else if (path === '/drop') {
    ws.send('hello', () => ws._socket.destroy());
  } else if (path === '/headers') {
    ws.send(JSON.stringify(request.headers));
  } else if ((match = path.match(/^\/burst\/(\d+)/))) {
    for (let i = 0; i < Number(match[1]); i++) ws.send(String(i));
    ws.close(1000);
  } else if (path === '/silent') {
    ws._socket.pause();
  } else if (path === '/fragments') {
    ws.send('frag1', { fin: false });
    ws.ping();
    ws.send('frag2', { fin: false });
    ws.send('end', { fin: true });
    ws.close(1000);
  } else if (path === '/reflect') {
    const sent = [['reflect me', false], [Buffer.from([0, 1, 2, 255]), true]];
    const back = [];
    ws.on('message', (data, isBinary) => {
      back.push([data, isBinary]);
      if (back.length === sent.length) {
        const same = sent.every(([d, b], i) => b === back[i][1] && Buffer.from(d).equals(back[i][0]));
        ws.close(1000, same ? 'ok' : 'mismatch');
      }
    });
    for (const [data, binary] of sent) ws.send(data, { binary });
  }
});

const portAt = args.indexOf('--port');
server.listen(portAt >= 0 ? Number(args[portAt + 1]) : 0, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
