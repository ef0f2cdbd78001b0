// Prints the request npm web-push would send (generateRequestDetails: encrypted body, VAPID
// Authorization, TTL), as JSON with the body in base64, for test_push.py to send over plain
// http (web-push's sendNotification speaks https only). argv[2] is a JSON object:
// {subscription, payload, publicKey, privateKey, subject, ttl, audience?, expiration?};
// audience and expiration replace the VAPID token's aud and exp (web-push's getVapidHeaders).
const webpush = require('web-push');

const options = JSON.parse(process.argv[2]);
const vapidDetails = {
  subject: options.subject,
  publicKey: options.publicKey,
  privateKey: options.privateKey,
};
const details = webpush.generateRequestDetails(options.subscription, options.payload, {
  vapidDetails,
  TTL: options.ttl,
});
if (options.audience || options.expiration) {
  const audience = options.audience || new URL(options.subscription.endpoint).origin;
  const vapid = webpush.getVapidHeaders(audience, options.subject, options.publicKey,
    options.privateKey, 'aes128gcm', options.expiration);
  details.headers.Authorization = vapid.Authorization;
}
process.stdout.write(JSON.stringify({
  method: details.method,
  endpoint: details.endpoint,
  headers: details.headers,
  body: Buffer.from(details.body).toString('base64'),
}) + '\n');
