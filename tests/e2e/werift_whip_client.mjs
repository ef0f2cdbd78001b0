// werift (npm `werift`, found in $WERIFT_DIR/node_modules) as an independent WHIP client
// (RFC 9725) for test_webrtc_serve.py: it offers one data channel on 127.0.0.1 only, POSTs
// the offer to URL with node's http, takes the answer from the 201 response, sends a text and
// a binary message, and checks each comes back the same; then it DELETEs the session's
// Location and prints that Location on stdout. Exit 0 when everything came back.
// Usage: node werift_whip_client.mjs URL
//
// werift 0.19.9 bugs this client steers around (see the Whip test):
// - No empty message: werift sends nothing for "" (zero fragments, no DATA chunk; RFC 8831
//   section 6.6 wants PPID 56/57 with one byte) yet still counts its stream sequence
//   number, so an ordered channel's later messages would wait at the peer for ever.
// - Its data-channel transport insists on a negotiated DTLS-SRTP profile ("need
//   srtpProfile", and then RTCSctpTransport.start() never runs); rtx's DTLS offers the
//   use_srtp extension for that reason.
import http from "node:http";
import { createRequire } from "node:module";

const { RTCPeerConnection } = createRequire(process.env.WERIFT_DIR + "/")("werift");

const url = new URL(process.argv[2]);
const loopback = "127.0.0.1";

function request(method, target, body, headers) {
    return new Promise((resolve, reject) => {
        const req = http.request(target, { method, headers }, (res) => {
            const chunks = [];
            res.on("data", (chunk) => chunks.push(chunk));
            res.on("end", () => resolve({ status: res.statusCode, headers: res.headers,
                                          body: Buffer.concat(chunks).toString() }));
        });
        req.on("error", reject);
        if (body !== undefined) req.write(body);
        req.end();
    });
}

const pc = new RTCPeerConnection({
    iceUseIpv6: false,
    iceInterfaceAddresses: { udp4: loopback },
    iceAdditionalHostAddresses: [loopback],
    iceFilterCandidatePair: (pair) =>
        pair.localCandidate.host === loopback && pair.remoteCandidate.host === loopback,
});
const channel = pc.createDataChannel("werift-whip", { ordered: true });
await pc.setLocalDescription(await pc.createOffer());
await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") resolve();
    pc.iceGatheringStateChange.subscribe((state) => state === "complete" && resolve());
});
const offer = pc.localDescription.sdp;
const posted = await request("POST", url, offer, {
    "content-type": "application/sdp",
    "content-length": Buffer.byteLength(offer),
    authorization: "Bearer werift-token",
});
if (posted.status !== 201) {
    console.error(`werift: POST answered ${posted.status}: ${posted.body}`);
    process.exit(2);
}
if (!posted.headers["content-type"]?.startsWith("application/sdp")) {
    console.error(`werift: answer content-type ${posted.headers["content-type"]}`);
    process.exit(2);
}
const location = new URL(posted.headers.location, url);
console.error(`werift: session ${location}`);
await pc.setRemoteDescription({ type: "answer", sdp: posted.body });

const sent = ["hello from werift", Buffer.from([0, 1, 2, 254, 255])];
const received = [];
await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no echo in 60 s")), 60000);
    channel.onMessage.subscribe((message) => {
        received.push(message);
        if (received.length === sent.length) {
            clearTimeout(timer);
            resolve();
        }
    });
    const send = () => sent.forEach((message) => channel.send(message));
    if (channel.readyState === "open") send();
    else channel.stateChanged.subscribe((state) => state === "open" && send());
});
for (let i = 0; i < sent.length; i++) {
    const want = sent[i];
    const got = received[i];
    const same = typeof want === "string" ? got === want
                                          : Buffer.isBuffer(got) && got.equals(want);
    if (!same) {
        console.error(`werift: message ${i}: sent ${JSON.stringify(want)}, ` +
                      `got ${JSON.stringify(got)}`);
        process.exit(3);
    }
}
console.error("werift: every message came back");
const deleted = await request("DELETE", location, undefined, { authorization: "Bearer werift-token" });
console.error(`werift: DELETE answered ${deleted.status}`);
console.log(location.pathname);
await pc.close();
process.exit(deleted.status === 200 ? 0 : 4);
