#include "serve/http/pages.hpp"

namespace rtx::serve::http {

std::string_view index_page() {
    return R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>rtx serve</title>
<style>body{font-family:sans-serif;max-width:46em;margin:2em auto;padding:0 1em}code{background:#eee;padding:0 .2em}</style>
</head>
<body>
<h1>rtx serve</h1>
<p>A local mock server for real-time protocols. Every endpoint shares one hub: a message
published to a topic reaches every subscriber of that topic.</p>
<ul>
<li><a href="/eventsource.html?topic=tick">/eventsource.html?topic=tick</a>: an EventSource in this browser</li>
<li><a href="/sse/tick">/sse/{topic}</a>: Server-Sent Events (text/event-stream, Last-Event-ID replay)</li>
<li><a href="/stream/tick">/stream/{topic}</a>: one message per line (<a href="/stream/tick?format=ndjson">?format=ndjson</a>, <code>?since=N</code>)</li>
<li><a href="/poll/tick">/poll/{topic}?cursor=N</a>: long poll, JSON</li>
<li><code>POST /publish/{topic}</code>: the body becomes one message (<code>?event=name</code>)</li>
</ul>
<pre>curl -N http://HOST/sse/tick
curl -d 'hello' http://HOST/publish/tick</pre>
<script>document.querySelector('pre').textContent =
  document.querySelector('pre').textContent.replaceAll('HOST', location.host);</script>
</body>
</html>
)html";
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

} // namespace rtx::serve::http
