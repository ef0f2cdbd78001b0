// The npm web-push side of scripts/bench/push_throughput.py: sends COUNT messages to one
// subscription as web-push users do (generateRequestDetails: a fresh key and salt per message,
// a VAPID token per message), one after another over one keep-alive HTTP/1.1 connection, in
// one node process. web-push's sendNotification speaks only https, so the request it describes
// goes out with node's http module. argv: SUBSCRIPTION_JSON PUBLIC_KEY PRIVATE_KEY COUNT.
// Run with NODE_PATH=tests/push/node_modules.
const http = require('http');
const webpush = require('web-push');

const [subscriptionJson, publicKey, privateKey, countText] = process.argv.slice(2);
const subscription = JSON.parse(subscriptionJson);
const count = Number(countText);
const agent = new http.Agent({keepAlive: true, maxSockets: 1});
const options = {
  vapidDetails: {subject: 'mailto:bench@example.org', publicKey, privateKey},
  TTL: 60,
};

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
  for (let i = 0; i < count; i++) {
    await send(`message ${i} ${'x'.repeat(48)}`);
  }
  agent.destroy();
})().catch(error => {
  console.error(`web_push_sender.js: ${error.message}`);
  process.exit(1);
});
