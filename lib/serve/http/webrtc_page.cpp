#include "serve/http/pages.hpp"

namespace rtx::serve::http {

std::string_view webrtc_page() {
    // The room's rule (lib/serve/ws): "welcome" says how many peers were there before us;
    // the one that finds a peer makes the offer. No trickle of our own: a description goes
    // once gathering is complete, with its candidates (what `rtx webrtc` expects).
    return R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>rtx serve: WebRTC</title>
<style>body{font-family:sans-serif;max-width:46em;margin:2em auto;padding:0 1em}pre{background:#eee;padding:.5em;min-height:4em;white-space:pre-wrap;word-break:break-all}</style>
</head>
<body>
<h1>WebRTC data channel</h1>
<p>Room <code id="room"></code>: <span id="state">joining</span></p>
<p>The other peer: <code id="command"></code>, or this page in another tab.</p>
<form id="send"><input id="message" value="hello" autocomplete="off"> <button>Send</button></form>
<pre id="messages"></pre>
<pre id="log"></pre>
<script>
const params = new URLSearchParams(location.search);
const room = params.get('room') || 'demo';
const label = params.get('label') || 'rtx';
const echo = params.get('echo') === '1';
const roomUrl = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
  '/signal/' + encodeURIComponent(room);
const messages = document.getElementById('messages');
const logView = document.getElementById('log');
window.received = [];
window.log = [];
window.state = 'joining';
window.timing = {}; // performance.now() at 'welcome' and at 'open' (set-up time)
window.pc = null;
window.channel = null;
document.getElementById('room').textContent = room;
document.getElementById('command').textContent = 'rtx webrtc ' + roomUrl;

function setState(state) {
  if (window.state === state) return;
  window.state = state;
  document.getElementById('state').textContent = state;
  note('state: ' + state);
}
function note(line) {
  window.log.push(line);
  logView.textContent += line + '\n';
}
function fail(reason) {
  if (!window.state.startsWith('error')) setState('error: ' + reason);
}

function show(data) {
  // Binary messages are kept as arrays of byte values.
  const value = typeof data === 'string' ? data : Array.from(new Uint8Array(data));
  window.received.push(value);
  if (window.received.length <= 1000) {
    messages.textContent += (typeof value === 'string' ? value : '[' + value.length + ' bytes]') + '\n';
  }
}

function useChannel(channel) {
  window.channel = channel;
  channel.binaryType = 'arraybuffer';
  note('channel "' + channel.label + '" ordered=' + channel.ordered +
       ' maxRetransmits=' + channel.maxRetransmits + ' maxPacketLifeTime=' + channel.maxPacketLifeTime);
  const opened = () => {
    if (window.timing.open === undefined) window.timing.open = performance.now();
    setState('open');
  };
  channel.onopen = opened;
  channel.onclose = () => setState('closed');
  channel.onerror = (event) => note('channel error: ' + (event.error ? event.error.message : ''));
  channel.onmessage = (event) => {
    show(event.data);
    if (echo) channel.send(event.data);
  };
  if (channel.readyState === 'open') opened();
}

function gathered(pc) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') resolve();
    });
  });
}

const pendingCandidates = [];
function makePeerConnection() {
  const pc = new RTCPeerConnection();
  window.pc = pc;
  pc.oniceconnectionstatechange = () => note('ice: ' + pc.iceConnectionState);
  pc.onconnectionstatechange = () => {
    note('connection: ' + pc.connectionState);
    if (pc.connectionState === 'failed') fail('the connection failed (ICE or DTLS)');
  };
  pc.ondatachannel = (event) => useChannel(event.channel);
  return pc;
}

async function describe(pc, type) {
  await pc.setLocalDescription(type === 'offer' ? await pc.createOffer() : await pc.createAnswer());
  await gathered(pc);
  socket.send(JSON.stringify({type: type, sdp: pc.localDescription.sdp}));
  note('sent the ' + type);
  setState('connecting');
}

async function addCandidate(candidate) {
  // The m= section the peer tagged it with (the data section is not always the first);
  // untagged: the first section.
  const init = {candidate: candidate.candidate, sdpMid: candidate.sdpMid ?? null,
                sdpMLineIndex: candidate.sdpMLineIndex ?? (candidate.sdpMid == null ? 0 : null)};
  try { await window.pc.addIceCandidate(init); } catch (error) { note('candidate refused: ' + error.message); }
}

const socket = new WebSocket(roomUrl);
socket.onclose = (event) => {
  note('room closed (' + event.code + ')');
  if (window.state === 'joining' || window.state === 'waiting') fail('the room refused us or closed');
};
socket.onmessage = async (event) => {
  let message;
  try { message = JSON.parse(event.data); } catch (error) { return note('not JSON: ' + event.data); }
  try {
    if (message.type === 'welcome') {
      window.timing.welcome = performance.now();
      note(message.peers + ' peer(s) in the room before us');
      if (message.peers > 0) {
        setState('offering');
        const pc = makePeerConnection();
        useChannel(pc.createDataChannel(label));
        await describe(pc, 'offer');
      } else {
        setState('waiting');
      }
    } else if (message.type === 'offer' && !window.pc) {
      setState('answering');
      const pc = makePeerConnection();
      await pc.setRemoteDescription({type: 'offer', sdp: message.sdp});
      for (const candidate of pendingCandidates.splice(0)) await addCandidate(candidate);
      await describe(pc, 'answer');
    } else if (message.type === 'answer' && window.pc && !window.pc.remoteDescription) {
      await window.pc.setRemoteDescription({type: 'answer', sdp: message.sdp});
      for (const candidate of pendingCandidates.splice(0)) await addCandidate(candidate);
      note('got the answer');
    } else if (message.type === 'candidate' && message.candidate) {
      if (window.pc && window.pc.remoteDescription) await addCandidate(message);
      else pendingCandidates.push(message);
    } else {
      note('signalling: ' + message.type);
    }
  } catch (error) {
    fail(error.message);
  }
};

window.send = (text) => window.channel.send(text);
window.sendBytes = (bytes) => window.channel.send(new Uint8Array(bytes));
window.closeChannel = () => window.channel.close();
// The addresses of the ICE pair in use, from getStats (null before there is one).
window.selectedPair = async () => {
  const stats = await window.pc.getStats();
  let pair = null;
  stats.forEach((report) => {
    if (report.type === 'transport' && report.selectedCandidatePairId) pair = stats.get(report.selectedCandidatePairId);
  });
  if (!pair) return null;
  const side = (id) => {
    const candidate = stats.get(id);
    return {address: candidate.address, port: candidate.port, type: candidate.candidateType,
            protocol: candidate.protocol};
  };
  return {local: side(pair.localCandidateId), remote: side(pair.remoteCandidateId), state: pair.state};
};
document.getElementById('send').addEventListener('submit', (event) => {
  event.preventDefault();
  if (window.channel && window.channel.readyState === 'open') window.send(document.getElementById('message').value);
});
</script>
</body>
</html>
)html";
}

} // namespace rtx::serve::http
