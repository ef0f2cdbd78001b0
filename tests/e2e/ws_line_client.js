// An independent WebSocket client for the listen-mode tests (Debian's node-ws): prints one
// JSON line per event ({"open":true}, {"data":..., "binary":...}, {"close":CODE}); each stdin
// line is sent as a text message ("b:" + hex: as a binary one); stdin EOF closes with 1000.
//
// usage: node ws_line_client.js ws://HOST:PORT/PATH
const WebSocket = require(process.env.NODE_WS ?? '/usr/share/nodejs/ws');
const readline = require('readline');

const ws = new WebSocket(process.argv[2]);
const print = (value) => process.stdout.write(JSON.stringify(value) + '\n');
ws.on('error', (error) => { console.error(String(error)); process.exit(1); });
ws.on('unexpected-response', (request, response) => {
  print({ status: response.statusCode });
  process.exit(2);
});
ws.on('open', () => {
  print({ open: true });
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (line.startsWith('b:')) {
      ws.send(Buffer.from(line.slice(2), 'hex'), { binary: true });
    } else {
      ws.send(line);
    }
  });
  lines.on('close', () => ws.close(1000));
});
ws.on('message', (data, isBinary) => {
  print({ data: isBinary ? data.toString('hex') : data.toString(), binary: isBinary });
});
ws.on('close', (code) => { print({ close: code }); process.exit(0); });
