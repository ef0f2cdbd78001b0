#pragma once

#include <span>
#include <string>
#include <string_view>

namespace rtx::serve::http {

/// One listener of the server as `rtx serve` prints it on start.
struct PageEndpoint {
    std::string name; ///< "tcp-echo", "http", "ws", "ws-echo", "mqtt".
    std::string url;  ///< With the port actually bound.
};

/// GET /: a small HTML page with a title, every listener of the server (TCP echo, HTTP,
/// WebSocket, MQTT) with its URL and what it does, and links to the HTTP endpoints.
/// Self-contained: no external resources.
std::string index_page(std::span<const PageEndpoint> listeners);

/// GET /eventsource.html?topic=NAME: a page whose script opens
/// `new EventSource('/sse/' + topic)` (topic from the query, default "tick"), appends each
/// event's data to <pre id="events"> and pushes it onto `window.received` (browser tests
/// read that array), with a field and a button that POST to /publish/{topic}. The topic is
/// read by the script from location.search, so the page is a constant (nothing from the
/// request is ever written into the HTML).
std::string_view eventsource_page();

/// GET /websocket.html?path=/echo or ?topic=NAME (default: /echo): a page whose script opens
/// a WebSocket to that endpoint of this server, shows what arrives and keeps it in
/// window.received (the browser test reads it); window.send(text) sends a message.
std::string_view websocket_page();

/// GET /push.html (optionally ?applicationServerKey=KEY): a page whose script makes a
/// subscription on the mock push service (POST /push/subscribe), shows its JSON and the
/// `rtx push send` line to use it, and lists every notification as it arrives through
/// `new EventSource('/sse/push/' + id + '?lastEventId=0')`, also in window.received. A
/// constant: the query is read by the script.
std::string_view push_page();

/// GET /webrtc.html?room=R (default "demo"; optionally &label=L): a page whose script joins
/// the signalling room /signal/R of this server over a WebSocket and makes an
/// RTCPeerConnection with the other peer of the room (`rtx webrtc ws://.../signal/R`, or
/// another tab): when it finds a peer there it makes the offer and opens a data channel
/// labelled L, else it waits for the offer and takes the channel the offerer opens (the
/// room's rule). Descriptions are sent once ICE gathering is complete (candidates inside the
/// SDP); "candidate" messages from the peer are added too. It shows the state and every
/// message, and has a small API for tests: window.state, window.received (strings, and
/// binary messages as arrays of byte values), window.send(text), window.sendBytes(array),
/// window.closeChannel(), window.selectedPair() (a promise of the selected ICE pair's
/// addresses), window.pc, window.channel. A constant: the query is read by the script.
std::string_view webrtc_page();

} // namespace rtx::serve::http
