// A WebSocket echo server on a Unix domain socket (Debian's node-ws), for `rtx ws
// --unix-socket`: prints "listening" once it accepts, echoes every message, and exits when
// its stdin ends.
//
// usage: node ws_unix_echo.js /path/to/socket
const WebSocket = require(process.env.NODE_WS ?? '/usr/share/nodejs/ws');
const http = require('http');

const server = http.createServer();
const wss = new WebSocket.Server({ server });
wss.on('connection', (ws, request) => {
  ws.on('message', (data, isBinary) => ws.send(`${request.url} ${data}`, { binary: isBinary }));
});
server.listen(process.argv[2], () => console.log('listening'));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
