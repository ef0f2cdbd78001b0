// An independent WebRTC peer for test_webrtc.py: werift (a TypeScript WebRTC stack, npm
// `werift`, found in $WERIFT_DIR/node_modules) answers on 127.0.0.1 only and echoes every
// data-channel message. Usage: node werift_peer.mjs OFFER_FILE ANSWER_FILE; each file holds
// one base64 line. Progress goes to stderr; it exits 0 once the channel is closed.
import fs from "node:fs";
import { createRequire } from "node:module";

const { RTCPeerConnection } = createRequire(process.env.WERIFT_DIR + "/")("werift");
const [offerPath, answerPath] = process.argv.slice(2);

async function readLine(path) {
    for (;;) {
        try {
            const text = fs.readFileSync(path, "utf8");
            if (text.endsWith("\n")) return text.trim();
        } catch {}
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
}

const offer = Buffer.from(await readLine(offerPath), "base64").toString();
const loopback = "127.0.0.1";
const pc = new RTCPeerConnection({
    iceUseIpv6: false,
    iceInterfaceAddresses: { udp4: loopback },
    iceAdditionalHostAddresses: [loopback],
    // Checks only between loopback candidates: werift also lists the machine's other
    // addresses as candidates, although its socket is bound to 127.0.0.1.
    iceFilterCandidatePair: (pair) =>
        pair.localCandidate.host === loopback && pair.remoteCandidate.host === loopback,
});
pc.onDataChannel.subscribe((channel) => {
    console.error(`werift: channel "${channel.label}" open`);
    console.error(`werift: ordered ${channel.ordered}, maxRetransmits ${channel.maxRetransmits}, ` +
                  `maxPacketLifeTime ${channel.maxPacketLifeTime}`);
    channel.onMessage.subscribe((message) => {
        console.error(`werift: ${typeof message === "string" ? "text" : "binary"} ${message.length}`);
        channel.send(message);
    });
    channel.stateChanged.subscribe((state) => {
        console.error(`werift: channel ${state}`);
        if (state === "closed") setTimeout(() => process.exit(0), 200);
    });
});
await pc.setRemoteDescription({ type: "offer", sdp: offer });
await pc.setLocalDescription(await pc.createAnswer());
await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") resolve();
    pc.iceGatheringStateChange.subscribe((state) => state === "complete" && resolve());
});
fs.writeFileSync(answerPath, Buffer.from(pc.localDescription.sdp).toString("base64") + "\n");
console.error("werift: answer written");
