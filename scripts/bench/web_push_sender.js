// The npm web-push side of scripts/bench/push_throughput.py: sends COUNT messages to one
// subscription as web-push users do (generateRequestDetails: a fresh key and salt per message,
// a VAPID token per message) in one node process, with up to WINDOW requests in flight:
// PROTOCOL http1.1 is node's http module with a keep-alive agent of WINDOW sockets (one
// request at a time on each), h2 is one HTTP/2 connection over TLS (node's http2; the
// certificate is not checked) with WINDOW streams at once, as `rtx push send --parallel
// WINDOW -k` to `rtx serve --tls`.
// web-push's sendNotification speaks only https, so the request it describes goes out with
// node's own modules. argv: SUBSCRIPTION_JSON PUBLIC_KEY PRIVATE_KEY COUNT [WINDOW [PROTOCOL]].
// Run with NODE_PATH=tests/push/node_modules.
const http = require('http');
const http2 = require('http2');
const webpush = require('web-push');

const [subscriptionJson, publicKey, privateKey, countText, windowText, protocolText] =
  process.argv.slice(2);
const subscription = JSON.parse(subscriptionJson);
const count = Number(countText);
const window = Number(windowText || 1);
const protocol = protocolText || 'http1.1';
const options = {
  vapidDetails: {subject: 'mailto:bench@example.org', publicKey, privateKey},
  TTL: 60,
};
const endpoint = new URL(subscription.endpoint);
const agent = new http.Agent({keepAlive: true, maxSockets: window});
const session = protocol === 'h2' ?
  http2.connect(endpoint.origin, {rejectUnauthorized: false}) : null;
if (session) {
  session.on('error', error => {
    console.error(`web_push_sender.js: ${error.message}`);
    process.exit(1);
  });
}

function sendHttp1(details) {
  return new Promise((resolve, reject) => {
    const request = http.request(details.endpoint, {method: 'POST', headers: details.headers, agent},
      response => {
        response.resume();
        response.on('end', () => (response.statusCode === 201 ? resolve() :
          reject(new Error(`status ${response.statusCode}`))));
      });
    request.on('error', reject);
    request.end(details.body);
  });
}

function sendH2(details) {
  return new Promise((resolve, reject) => {
    const headers = {':method': 'POST', ':path': endpoint.pathname};
    for (const [name, value] of Object.entries(details.headers)) {
      headers[name.toLowerCase()] = value;
    }
    const stream = session.request(headers);
    let status = 0;
    stream.on('response', responseHeaders => { status = responseHeaders[':status']; });
    stream.on('error', reject);
    stream.resume();
    stream.on('end', () => (status === 201 ? resolve() : reject(new Error(`status ${status}`))));
    stream.end(details.body);
  });
}

function send(payload) {
  const details = webpush.generateRequestDetails(subscription, payload, options);
  return session ? sendH2(details) : sendHttp1(details);
}

(async () => {
  // WINDOW workers each send the next message when their previous one is answered: at most
  // WINDOW in flight, every message once, as rtx's --parallel does.
  let next = 0;
  async function worker() {
    while (next < count) {
      const i = next++;
      await send(`message ${i} ${'x'.repeat(48)}`);
    }
  }
  await Promise.all(Array.from({length: window}, worker));
  agent.destroy();
  if (session) {
    session.close();
  }
})().catch(error => {
  console.error(`web_push_sender.js: ${error.message}`);
  process.exit(1);
});
