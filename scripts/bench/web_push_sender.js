// The npm web-push side of scripts/bench/push_throughput.py: sends COUNT messages to one
// subscription as web-push users do (generateRequestDetails: a fresh key and salt per message,
// a VAPID token per message) in one node process, with up to WINDOW requests in flight over
// node's http module and a keep-alive agent of WINDOW sockets (one request at a time on
// each), as `rtx push send --parallel WINDOW --http1.1` does. web-push's sendNotification
// speaks only https, so the request it describes goes out with node's http module.
// argv: SUBSCRIPTION_JSON PUBLIC_KEY PRIVATE_KEY COUNT [WINDOW].
// Run with NODE_PATH=tests/push/node_modules.
const http = require('http');
const webpush = require('web-push');

const [subscriptionJson, publicKey, privateKey, countText, windowText] = process.argv.slice(2);
const subscription = JSON.parse(subscriptionJson);
const count = Number(countText);
const window = Number(windowText || 1);
const options = {
  vapidDetails: {subject: 'mailto:bench@example.org', publicKey, privateKey},
  TTL: 60,
};
const agent = new http.Agent({keepAlive: true, maxSockets: window});

function send(payload) {
  const details = webpush.generateRequestDetails(subscription, payload, options);
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
})().catch(error => {
  console.error(`web_push_sender.js: ${error.message}`);
  process.exit(1);
});
