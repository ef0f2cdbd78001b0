#include "serve/http/pages.hpp"

#include "core/encoding.hpp"

#include <fmt/format.h>

namespace rtx::serve::http {

namespace {

/// What each listener is for, as the help of `rtx serve` says it.
std::string_view listener_purpose(std::string_view name) {
    if (name == "tcp-echo") {
        return "TCP echo: every byte received is sent back (<code>rtx tcp</code>, nc)";
    }
    if (name == "http") {
        return "HTTP: Server-Sent Events, streaming, long poll, publish, these pages";
    }
    if (name == "ws") {
        return "WebSocket pub/sub: what the client sends is published to the topic, and it "
               "gets every message of the topic (its own too)";
    }
    if (name == "ws-echo") {
        return "WebSocket echo: each message comes back";
    }
    if (name == "mqtt") {
        return "MQTT 3.1.1 and 5 broker (<code>rtx mqtt</code>, mosquitto_sub): the same topics";
    }
    return "";
}

} // namespace

std::string index_page(std::span<const PageEndpoint> listeners) {
    std::string listener_items;
    for (const auto& listener : listeners) {
        listener_items +=
            fmt::format("<li><code>{}</code>: {}</li>\n", core::escape_html(listener.url),
                        listener_purpose(listener.name));
    }
    return fmt::format(R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>rtx serve</title>
<style>body{{font-family:sans-serif;max-width:46em;margin:2em auto;padding:0 1em}}code{{background:#eee;padding:0 .2em}}</style>
</head>
<body>
<h1>rtx serve</h1>
<p>A local mock server for real-time protocols. Every listener shares one hub: a message
published to a topic on any protocol reaches every subscriber of that topic.</p>
<h2>Listeners</h2>
<ul>
{}</ul>
<h2>HTTP endpoints</h2>
<ul>
<li><a href="/eventsource.html?topic=tick">/eventsource.html?topic=tick</a>: an EventSource in this browser</li>
<li><a href="/websocket.html">/websocket.html</a> (echo), <a href="/websocket.html?topic=tick">/websocket.html?topic=tick</a>: a WebSocket in this browser</li>
<li><a href="/sse/tick">/sse/{{topic}}</a>: Server-Sent Events (text/event-stream, Last-Event-ID replay)</li>
<li><a href="/stream/tick">/stream/{{topic}}</a>: one message per line (<a href="/stream/tick?format=ndjson">?format=ndjson</a>, <code>?since=N</code>)</li>
<li><a href="/poll/tick">/poll/{{topic}}?cursor=N</a>: long poll, JSON</li>
<li><code>POST /publish/{{topic}}</code>: the body becomes one message (<code>?event=name</code>)</li>
<li><a href="/webrtc.html?room=demo">/webrtc.html?room=demo</a>: a WebRTC data channel from this browser, with <code>rtx webrtc ws://…/signal/demo</code> or another tab</li>
<li><a href="/push.html">/push.html</a>: a Web Push subscription on the mock push service (<code>POST /push/subscribe</code>, <code>POST /push/{{id}}</code>, <code>GET /push/{{id}}/messages</code>) and its notifications</li>
</ul>
<pre>curl -N http://HOST/sse/tick
curl -d 'hello' http://HOST/publish/tick</pre>
<script>for (const element of document.querySelectorAll('pre')) {{
  element.textContent = element.textContent.replaceAll('HOST', location.host);
}}</script>
</body>
</html>
)html",
                       listener_items);
}

std::string_view eventsource_page() {
    return R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>rtx serve: EventSource</title>
<style>body{font-family:sans-serif;max-width:46em;margin:2em auto;padding:0 1em}pre{background:#eee;padding:.5em;min-height:4em}</style>
</head>
<body>
<h1>EventSource</h1>
<p>Topic <code id="topic"></code>: <span id="state">connecting</span></p>
<form id="publish"><input id="message" value="hello" autocomplete="off"> <button>Publish</button></form>
<pre id="events"></pre>
<script>
const topic = new URLSearchParams(location.search).get('topic') || 'tick';
const events = document.getElementById('events');
const state = document.getElementById('state');
window.received = [];
document.getElementById('topic').textContent = topic;
const source = new EventSource('/sse/' + encodeURIComponent(topic));
source.onopen = () => { state.textContent = 'open'; };
source.onerror = () => {
  state.textContent = source.readyState === 2 ? 'closed' : 'reconnecting'; // 2: CLOSED
};
source.onmessage = (event) => {
  window.received.push(event.data);
  events.textContent += event.data + '\n';
};
document.getElementById('publish').addEventListener('submit', (event) => {
  event.preventDefault();
  fetch('/publish/' + encodeURIComponent(topic),
        {method: 'POST', body: document.getElementById('message').value});
});
</script>
</body>
</html>
)html";
}

std::string_view websocket_page() {
    return R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>rtx serve: WebSocket</title>
<style>body{font-family:sans-serif;max-width:46em;margin:2em auto;padding:0 1em}pre{background:#eee;padding:.5em;min-height:4em}</style>
</head>
<body>
<h1>WebSocket</h1>
<p><code id="url"></code>: <span id="state">connecting</span></p>
<form id="send"><input id="message" value="hello" autocomplete="off"> <button>Send</button></form>
<pre id="messages"></pre>
<script>
const params = new URLSearchParams(location.search);
const topic = params.get('topic');
const path = topic !== null ? '/ws/' + encodeURIComponent(topic) : (params.get('path') || '/echo');
const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + path;
const messages = document.getElementById('messages');
const state = document.getElementById('state');
window.received = [];
document.getElementById('url').textContent = url;
const socket = new WebSocket(url);
socket.binaryType = 'arraybuffer';
socket.onopen = () => { state.textContent = 'open'; };
socket.onclose = (event) => { state.textContent = 'closed (' + event.code + ')'; };
socket.onerror = () => { state.textContent = 'error'; };
socket.onmessage = (event) => {
  // Binary messages are kept as arrays of byte values.
  const data = typeof event.data === 'string' ? event.data : Array.from(new Uint8Array(event.data));
  window.received.push(data);
  messages.textContent += (typeof data === 'string' ? data : '[' + data.length + ' bytes]') + '\n';
};
window.send = (data) => socket.send(data);
document.getElementById('send').addEventListener('submit', (event) => {
  event.preventDefault();
  socket.send(document.getElementById('message').value);
});
</script>
</body>
</html>
)html";
}

std::string_view push_page() {
    return R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>rtx serve: Web Push</title>
<style>body{font-family:sans-serif;max-width:46em;margin:2em auto;padding:0 1em}pre{background:#eee;padding:.5em;min-height:2em;white-space:pre-wrap;word-break:break-all}</style>
</head>
<body>
<h1>Web Push</h1>
<p>A subscription on this server's mock push service: <span id="state">subscribing</span></p>
<pre id="subscription"></pre>
<p>Send to it (the key must be the pair of <code>?applicationServerKey=</code>, if given):</p>
<pre id="command"></pre>
<h2>Notifications</h2>
<pre id="notifications"></pre>
<script>
const key = new URLSearchParams(location.search).get('applicationServerKey');
const state = document.getElementById('state');
const notifications = document.getElementById('notifications');
window.received = [];
fetch('/push/subscribe', {method: 'POST', body: key ? JSON.stringify({applicationServerKey: key}) : ''})
  .then((response) => {
    if (!response.ok) throw new Error('subscribe: ' + response.status);
    return response.json();
  })
  .then((subscription) => {
    window.subscription = subscription;
    const text = JSON.stringify(subscription);
    document.getElementById('subscription').textContent = text;
    document.getElementById('command').textContent =
      "rtx push send '" + text + "' --vapid-key KEY -m hello";
    const id = subscription.endpoint.split('/').pop();
    const source = new EventSource('/sse/push/' + id + '?lastEventId=0');
    source.onopen = () => { state.textContent = 'listening'; };
    source.onerror = () => { state.textContent = 'reconnecting'; };
    source.onmessage = (event) => {
      window.received.push(event.data);
      notifications.textContent += event.data + '\n';
    };
  })
  .catch((error) => { state.textContent = error.message; });
</script>
</body>
</html>
)html";
}

} // namespace rtx::serve::http
