// A WebSocket server that is not rtx serve, for `rtx bench ws` against any server
// (tests/e2e/test_bench_foreign.py): Debian's node-ws.
//   /rpc    request/response that does not echo: each {"id": N, "op": "ping"} is answered
//           by a {"kind": "notice"} and then {"id": N, "op": "pong"}; other text by
//           {"error": "bad request"}
//   /ticks  every 20 ms, {"kind": "tick", "ts": <ms since 1970>} to every client
// Prints "port N" once listening; runs until killed.
//
// usage: node ws_foreign_server.js
const WebSocket = require(process.env.NODE_WS ?? '/usr/share/nodejs/ws');

const server = new WebSocket.Server({ host: '127.0.0.1', port: 0 });
const ticking = new Set();

server.on('connection', (ws, request) => {
  if (request.url === '/ticks') {
    ticking.add(ws);
    ws.on('close', () => ticking.delete(ws));
    return;
  }
  ws.on('message', (data) => {
    let request;
    try {
      request = JSON.parse(String(data));
    } catch (error) {
      request = null;
    }
    if (!request || request.op !== 'ping') {
      ws.send(JSON.stringify({ error: 'bad request' }));
      return;
    }
    ws.send(JSON.stringify({ kind: 'notice' }));
    ws.send(JSON.stringify({ id: request.id, op: 'pong' }));
  });
});

setInterval(() => {
  const text = JSON.stringify({ kind: 'tick', ts: Date.now() });
  for (const ws of ticking) {
    ws.send(text);
  }
}, 20);

server.on('listening', () => console.log('port', server.address().port));
