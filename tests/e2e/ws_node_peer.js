// An independent WebSocket peer for the tests: Debian's node-ws as a client of `rtx serve`.
// Prints one JSON line with what it saw, exits 0 (or 1 with the error on stderr).
//
// usage: node ws_node_peer.js echo ws://HOST:PORT/echo
//        node ws_node_peer.js fanout ws://HOST:PORT/ws/TOPIC
//        node ws_node_peer.js roundtrips ws://HOST:PORT/echo SECONDS
const WebSocket = require(process.env.NODE_WS ?? '/usr/share/nodejs/ws');
const crypto = require('crypto');

const [mode, url, secondsText] = process.argv.slice(2);
const fail = (error) => { console.error(String(error)); process.exit(1); };
setTimeout(() => fail('timed out'), 30000).unref();

function open(options) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  });
}

function next(ws) {
  return new Promise((resolve) => ws.once('message', (data, isBinary) => resolve([data, isBinary])));
}

async function echo() {
  const ws = await open({ perMessageDeflate: true });
  const text = 'hello ' + 'compressible '.repeat(80000); // ~1 MiB of text
  const binary = crypto.randomBytes(200000);
  const results = [];
  for (const [payload, binaryWanted] of [['hello', false], [text, false], [binary, true]]) {
    const reply = next(ws);
    ws.send(payload, { binary: binaryWanted });
    const [data, isBinary] = await reply;
    const same = binaryWanted ? Buffer.compare(data, payload) === 0 : data.toString() === payload;
    results.push({ same, binary: isBinary, length: data.length });
  }
  const extensions = Object.keys(ws._extensions ?? {});
  ws.close(1000);
  console.log(JSON.stringify({ extensions, results }));
}

async function fanout() {
  const [a, b] = await Promise.all([open({}), open({})]);
  const seen = { a: [], b: [] };
  const collect = (name, ws) => new Promise((resolve) => {
    ws.on('message', (data, isBinary) => {
      seen[name].push(isBinary ? Array.from(data) : data.toString());
      if (seen[name].length === 2) resolve();
    });
  });
  const done = Promise.all([collect('a', a), collect('b', b)]);
  a.send('from a');
  await new Promise((resolve) => setTimeout(resolve, 100)); // a's message first for both
  b.send(Buffer.from([1, 2, 3]), { binary: true });
  await done;
  a.close(1000);
  b.close(1000);
  console.log(JSON.stringify(seen));
}

async function roundtrips() {
  const ws = await open({ perMessageDeflate: false });
  const until = Date.now() + Number(secondsText ?? 2) * 1000;
  let count = 0;
  const started = Date.now();
  while (Date.now() < until) {
    const reply = next(ws);
    ws.send('ping ' + count);
    await reply;
    count += 1;
  }
  ws.close(1000);
  console.log(JSON.stringify({ count, per_second: Math.round(count * 1000 / (Date.now() - started)) }));
}

({ echo, fanout, roundtrips })[mode]().catch(fail);
