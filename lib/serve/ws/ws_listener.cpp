#include "serve/ws/ws_listener.hpp"

#include "core/encoding.hpp"
#include "core/fifo.hpp"
#include "core/log.hpp"
#include "serve/http/exchange.hpp"
#include "serve/ws/ws_rules.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>

namespace rtx::serve::ws {

namespace {

constexpr std::string_view k_echo_path = "/echo";
constexpr std::string_view k_topic_prefix = "/ws/";
constexpr std::string_view k_signal_prefix = "/signal/";

/// lws's LWS_WRITE_CLOSE, which its public header leaves out (value 4 in lws 4.1's
/// private-lib-core.h, between LWS_WRITE_HTTP and LWS_WRITE_PING).
constexpr auto k_write_close = static_cast<lws_write_protocol>(4);

/// Bytes handed to one lws_write: big enough that a 16 MiB message takes a few hundred
/// writes, small enough that one connection never holds the loop for long.
constexpr std::size_t k_write_chunk = 128 * 1024;

/// Answers an HTTP request or refused upgrade and returns -1: lws closes the connection.
int refuse(lws* wsi, unsigned status, std::string_view message) {
    http::Response response = http::error_response(status, message);
    response.close = true;
    if (status == 426) {
        response.headers.emplace_back("upgrade", "websocket");
    }
    if (status == 503) {
        response.headers.emplace_back("retry-after", "1");
    }
    http::write_response(wsi, response);
    return -1;
}

/// The close frame lws sends when it closes the connection (`reason` at most 123 bytes).
void set_close_reason(lws* wsi, lws_close_status code, std::string_view reason) {
    std::string text(reason.substr(0, 123));
    lws_close_reason(wsi, code, reinterpret_cast<unsigned char*>(text.data()), text.size());
}

} // namespace

/// One WebSocket connection: its reassembly buffer, its send queue, its subscription.
struct WsListener::Connection final : Subscriber {
    Connection(WsListener& listener, lws* connection)
        : owner(listener)
        , wsi(connection) {}

    void on_hub_message(const std::shared_ptr<const HubMessage>& message) override {
        owner.enqueue(*this, message);
    }

    WsListener& owner;
    lws* wsi;
    /// The chunk being sent, with LWS_PRE bytes of room in front. One per connection:
    /// with permessage-deflate lws goes on reading a written message from it after
    /// lws_write returns, until it has deflated it all (the next WRITEABLE).
    std::vector<unsigned char> write_buffer;
    Subscription subscription;
    std::string topic; ///< The topic, or the room of a /signal/ connection.
    /// /signal/{room}: a signalling peer, and how many peers were in the room before it.
    bool signal = false;
    bool in_room = false;
    std::size_t peers_before = 0;
    bool established = false;
    /// permessage-deflate was offered, so lws has taken it on.
    bool compressed = false;
    // Receiving: the message being reassembled.
    std::string received;
    bool receiving = false;
    bool received_binary = false;
    /// The message came in one piece: no control frame (a ping lws answers from its own
    /// WRITEABLE) arrived between its fragments.
    bool received_whole = false;
    bool reading_paused = false;
    // Sending: whole messages, the front one sent up to `sent`.
    core::Fifo<std::shared_ptr<const HubMessage>> queue;
    /// /echo: the last message echoed, once nobody else holds it, reused for the next one
    /// (its payload's capacity too): echoing does not allocate.
    std::shared_ptr<HubMessage> spare;
    std::size_t sent = 0;
    std::size_t queued_bytes = 0;
    // Keepalive: something came since the last ping timer tick; a ping is to be sent, or was
    // sent and not answered yet.
    bool heard = true;
    bool ping_due = false;
    bool ping_outstanding = false;
    /// The peer's close frame came: what follows it is ignored (RFC 6455 section 5.5.1).
    bool peer_closed = false;
    /// A close frame to send from the next on_writeable (then the connection closes).
    std::optional<std::pair<lws_close_status, std::string>> close;
};

WsListener::WsListener(core::Loop& loop, http::LwsContext& lws, Hub& hub, WsEndpoint endpoint,
                       WsListenerOptions options, std::shared_ptr<WsConnectionCount> count)
    : m_loop(loop)
    , m_lws(lws)
    , m_hub(hub)
    , m_endpoint(endpoint)
    , m_options(std::move(options))
    , m_count(std::move(count))
    , m_protocol_name(endpoint == WsEndpoint::echo ? "rtx-ws-echo" : "rtx-ws")
    , m_ping_timer(loop)
    , m_drain_timer(loop) {
    lws_protocols protocol{};
    protocol.name = m_protocol_name.c_str();
    protocol.callback = &WsListener::callback;
    protocol.user = this;
    // Not the size of each connection's receive buffer: lws sizes that by the protocol the
    // connection is bound to, and an upgrade through a mount stays on LwsContext's first
    // (HTTP) protocol, which sets it (HttpListener: 4 KiB; docs/benchmarks.md).
    protocol.rx_buffer_size = 64 * 1024;
    m_lws.add_protocol(protocol);
    m_lws.add_mount(endpoint == WsEndpoint::echo ? k_echo_path : k_topic_prefix, m_protocol_name);
    if (endpoint == WsEndpoint::pubsub) {
        m_lws.add_mount(k_signal_prefix, m_protocol_name);
    }
    m_lws.add_busy_check([this] { return !m_connections.empty(); });
    if (m_options.ping_interval.count() > 0) {
        m_ping_timer.start(
            m_options.ping_interval, [this] { on_ping_timer(); }, m_options.ping_interval);
    }
}

WsListener::~WsListener() = default;

std::string WsListener::name() const {
    return m_endpoint == WsEndpoint::echo ? "ws-echo" : "ws";
}

std::string WsListener::url() const {
    return fmt::format("ws://{}{}", m_lws.bound().authority(),
                       m_endpoint == WsEndpoint::echo ? "/echo" : "/ws/{topic}");
}

void WsListener::shutdown() {
    m_shutting_down = true;
    m_ping_timer.stop();
    for (auto& [wsi, connection] : m_connections) {
        connection->subscription.reset();
        connection->close.emplace(LWS_CLOSE_STATUS_GOINGAWAY, "going away");
        lws_callback_on_writable(wsi);
    }
}

int WsListener::callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                         std::size_t len) {
    // Called through LwsContext's router, which passes the protocol's user (this listener);
    // lws's own calls on the protocol (init, destroy) have no listener to go to.
    auto* self = static_cast<WsListener*>(user);
    if (self == nullptr || wsi == nullptr) {
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
    try {
        return self->on_callback(wsi, reason, in, len);
    } catch (const std::exception& e) {
        core::log_verbose("ws: dropping a connection: {}", e.what());
        return -1;
    }
}

int WsListener::on_callback(lws* wsi, lws_callback_reasons reason, void* in, std::size_t len) {
    auto it = m_connections.find(wsi);
    Connection* connection = it != m_connections.end() ? it->second.get() : nullptr;
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return on_confirm_upgrade(wsi);
    case LWS_CALLBACK_HTTP:
        return refuse(wsi, 426,
                      fmt::format("upgrade required: {} is a WebSocket endpoint",
                                  m_endpoint == WsEndpoint::echo ? "/echo" : "/ws/{topic}"));
    case LWS_CALLBACK_ESTABLISHED:
        if (connection == nullptr) {
            return -1;
        }
        connection->established = true;
        connection->heard = true;
        if (core::log_level() >= core::LogLevel::debug) {
            char peer[64] = "";
            lws_get_peer_simple(wsi, peer, sizeof peer);
            core::log_debug("ws: connection from {}{}", peer,
                            connection->topic.empty() ? std::string(" to /echo")
                            : connection->signal      ? " to /signal/" + connection->topic
                                                      : " to /ws/" + connection->topic);
        }
        if (connection->compressed) {
            // Inflate 64 KiB per step rather than lws's 1 KiB (2^16; see drain_soon()), and
            // deflate into 64 KiB frames: at lws's 1 KiB a large message left as a thousand
            // frames, one send() each.
            lws_set_extension_option(wsi, "permessage-deflate", "rx_buf_size", "16");
            lws_set_extension_option(wsi, "permessage-deflate", "tx_buf_size", "16");
        }
        if (const lws_sockfd_type fd = lws_get_socket_fd(wsi); fd >= 0) {
            // Nagle's algorithm would hold the last small segment of a message back until
            // the peer's delayed ACK (tens of milliseconds per large echo).
            const int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        // lws 4.1 drops a connection that sends a control frame longer than 125 bytes
        // without a close frame (its parser fails before any callback). lws sends the close
        // reason set last when it closes a connection for any reason of its own, so set the
        // one RFC 6455 asks for a protocol error now; every close of ours sets its own, and
        // a close begun by the peer is answered with the peer's code.
        set_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, "protocol error");
        if (connection->signal) {
            // Whoever comes second makes the offer: each peer learns how many were there.
            signal_to(*connection, nlohmann::json{{"type", "welcome"},
                                                  {"room", connection->topic},
                                                  {"peers", connection->peers_before}}
                                       .dump());
            auto join = std::make_shared<HubMessage>();
            join->payload = R"({"type":"join"})";
            join->source = "signal";
            signal_others(*connection, join);
        }
        if (!connection->queue.empty() || connection->close) {
            lws_callback_on_writable(wsi);
        }
        return 0;
    case LWS_CALLBACK_RECEIVE:
        return connection != nullptr ? on_receive(*connection, static_cast<const char*>(in), len)
                                     : -1;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (connection != nullptr) {
            connection->heard = true;
            connection->ping_outstanding = false;
        }
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return connection != nullptr ? on_writeable(*connection) : -1;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        return connection != nullptr
                   ? on_peer_close(*connection, static_cast<const unsigned char*>(in), len)
                   : 0;
    case LWS_CALLBACK_TIMER:
        // LwsContext's request deadline, which the upgrade request disarmed: nothing to do.
        return 0;
    case LWS_CALLBACK_CLOSED:
        // lws may still be sending the close frame: the connection counts (for shutdown's
        // busy check too) until lws destroys it.
        if (connection != nullptr) {
            connection->subscription.reset();
            leave_room(*connection);
        }
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        forget(wsi);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, nullptr, in, len);
}

int WsListener::on_confirm_upgrade(lws* wsi) {
    if (m_shutting_down) {
        return refuse(wsi, 503, "rtx serve is shutting down");
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL) > 0) {
        // lws would bind the upgrade to the protocol of that name, or refuse it.
        return refuse(wsi, 400,
                      "rtx serve offers no WebSocket subprotocol "
                      "(send no Sec-WebSocket-Protocol header)");
    }
    if (!m_options.allowed_origins.empty()) {
        const std::string origin = http::request_header(wsi, WSI_TOKEN_ORIGIN).value_or("");
        if (!origin_allowed(m_options.allowed_origins, origin)) {
            core::log_verbose("ws: refused an upgrade from origin '{}'", origin);
            return refuse(wsi, 403,
                          fmt::format("forbidden: origin '{}' is not allowed (--ws-origin)",
                                      origin.substr(0, 200)));
        }
    }
    if (m_count->open >= m_options.max_connections) {
        return refuse(wsi, 503,
                      fmt::format("too many WebSocket connections: the limit is {} "
                                  "(--ws-max-conns)",
                                  m_options.max_connections));
    }
    auto connection = std::make_unique<Connection>(*this, wsi);
    connection->compressed =
        m_options.compression &&
        http::request_header(wsi, WSI_TOKEN_EXTENSIONS).value_or("").find("permessage-deflate") !=
            std::string::npos;
    const std::string path = http::request_header(wsi, WSI_TOKEN_GET_URI).value_or("");
    if (m_endpoint == WsEndpoint::pubsub && path.starts_with(k_signal_prefix)) {
        const std::string room = path.substr(k_signal_prefix.size());
        if (room.empty()) {
            return refuse(wsi, 400, "bad request: no room: use /signal/{room}");
        }
        if (!core::is_valid_utf8(room)) {
            return refuse(wsi, 400, "bad request: the room is not UTF-8");
        }
        std::vector<Connection*>& peers = m_rooms[room];
        if (peers.size() >= m_options.signal_room_size) {
            return refuse(wsi, 409,
                          fmt::format("room '{}' is full: {} peers (--signal-room-size)",
                                      room.substr(0, 200), peers.size()));
        }
        connection->signal = true;
        connection->in_room = true;
        connection->topic = room;
        connection->peers_before = peers.size();
        peers.push_back(connection.get());
    } else if (m_endpoint == WsEndpoint::pubsub) {
        const std::string_view topic =
            std::string_view(path).substr(std::min(path.size(), k_topic_prefix.size()));
        if (topic.empty()) {
            return refuse(wsi, 400, "bad request: no topic: use /ws/{topic}");
        }
        if (!core::is_valid_utf8(topic)) {
            return refuse(wsi, 400, "bad request: the topic is not UTF-8");
        }
        connection->topic = std::string(topic);
        auto subscription = m_hub.subscribe(topic, *connection);
        if (!subscription) {
            return refuse(wsi, 503, subscription.error().message);
        }
        connection->subscription = std::move(subscription.value());
    }
    m_connections.emplace(wsi, std::move(connection));
    ++m_count->open;
    return 0;
}

int WsListener::on_receive(Connection& connection, const char* data, std::size_t len) {
    connection.heard = true;
    connection.ping_outstanding = false;
    if (connection.close || connection.peer_closed) {
        return 0; // closing: what still comes is dropped
    }
    const bool first_piece = !connection.receiving;
    if (first_piece) {
        connection.receiving = true;
        connection.received.clear();
        connection.received_binary = lws_frame_is_binary(connection.wsi) != 0;
    }
    if (len > m_options.max_message - connection.received.size()) {
        core::log_verbose("ws: a message is larger than --ws-max-message ({} bytes)",
                          m_options.max_message);
        set_close_reason(connection.wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too big");
        connection.received = std::string();
        return -1;
    }
    connection.received.append(data, len);
    if (!lws_is_final_fragment(connection.wsi)) {
        if (connection.compressed) {
            drain_soon(connection);
        }
        return 0;
    }
    connection.receiving = false;
    connection.received_whole = first_piece;
    return on_message(connection);
}

int WsListener::on_message(Connection& connection) {
    const bool binary = connection.received_binary;
    if (connection.signal) {
        // Relayed as it came, once it is known to be a JSON object with a "type" (offer,
        // answer, candidate, or anything the peers agree on).
        const auto json = nlohmann::json::parse(connection.received, nullptr, false);
        if (binary || !json.is_object() || !json.contains("type") || !json["type"].is_string()) {
            core::log_verbose("ws: /signal/{}: not a JSON object with a \"type\": closing",
                              connection.topic);
            connection.close.emplace(binary ? LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE
                                            : LWS_CLOSE_STATUS_INVALID_PAYLOAD,
                                     "signalling messages are JSON objects with a \"type\"");
            lws_callback_on_writable(connection.wsi);
            return 0;
        }
        auto message = std::make_shared<HubMessage>();
        message->payload = std::exchange(connection.received, std::string());
        message->source = "signal";
        signal_others(connection, message);
    } else if (m_endpoint == WsEndpoint::echo) {
        std::shared_ptr<HubMessage> message = std::move(connection.spare);
        if (!message) {
            message = std::make_shared<HubMessage>();
            message->source = "ws";
        }
        // The payload moves into the message; `received` takes the spare's old buffer.
        message->payload.swap(connection.received);
        message->binary = binary;
        if (const int written = echo_now(connection, *message); written != 0) {
            connection.spare = std::move(message);
            return written > 0 ? 0 : -1; // -1: the write failed, lws closes
        }
        enqueue(connection, std::move(message));
    } else {
        std::string payload = std::exchange(connection.received, std::string());
        PublishOptions options;
        options.binary = binary;
        options.source = "ws";
        // The sender is a subscriber of the topic too: its own message comes back to it
        // through the hub, in order with everyone else's.
        auto published = m_hub.publish(connection.topic, std::move(payload), std::move(options));
        if (!published) {
            core::log_verbose("ws: publish to '{}': {}", connection.topic,
                              published.error().message);
            connection.close.emplace(LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
                                     published.error().message.substr(0, 120));
            lws_callback_on_writable(connection.wsi);
            return 0;
        }
    }
    // Stop reading from a peer that sends faster than it reads what comes back; reading
    // resumes once its queue is empty (on_writeable). This bounds memory per connection.
    if (connection.queued_bytes > m_options.max_message && !connection.reading_paused) {
        connection.reading_paused = true;
        lws_rx_flow_control(connection.wsi, 0);
    }
    return 0;
}

int WsListener::echo_now(Connection& connection, const HubMessage& message) {
    // Nothing waits and the socket took everything so far: write the echo from inside the
    // receive callback instead of asking for WRITEABLE, which costs lws's libuv glue four
    // epoll_ctl calls per message (POLLOUT on, then off), a quarter of the CPU of an echo.
    // lws keeps what the socket does not take and sends it first (lws_partial_buffered:
    // then the queue takes over, so a peer that does not read still stops being read).
    // Not compressed: permessage-deflate reads the buffer after lws_write returns. Not a
    // message that came in fragments: a ping between them is answered from lws's next
    // WRITEABLE, and its pong goes before the echo (a ping in the same read as a whole
    // message may still be answered after that message's echo, which RFC 6455 section
    // 5.5.3 allows: a pong "as soon as is practical").
    const std::size_t size = message.payload.size();
    if (!connection.received_whole || !connection.queue.empty() || connection.compressed ||
        connection.close || connection.ping_due || !connection.established ||
        size > k_write_chunk || lws_partial_buffered(connection.wsi)) {
        return 0;
    }
    connection.write_buffer.resize(LWS_PRE + size);
    std::memcpy(connection.write_buffer.data() + LWS_PRE, message.payload.data(), size);
    const auto mode = message.binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT;
    return lws_write(connection.wsi, connection.write_buffer.data() + LWS_PRE, size, mode) < 0 ? -1
                                                                                               : 1;
}

void WsListener::enqueue(Connection& connection, std::shared_ptr<const HubMessage> message) {
    if (connection.close) {
        return;
    }
    // A subscriber that does not read falls behind; past two of the largest messages (and at
    // least 16 MiB) it is dropped rather than let its queue grow without bound.
    const std::size_t limit = std::max<std::size_t>(2 * m_options.max_message, 16 * 1024 * 1024);
    if (connection.queued_bytes + message->payload.size() > limit) {
        core::log_verbose("ws: dropping a subscriber of '{}' that does not keep up",
                          connection.topic);
        connection.subscription.reset();
        connection.close.emplace(LWS_CLOSE_STATUS_POLICY_VIOLATION, "too slow: messages dropped");
        lws_callback_on_writable(connection.wsi);
        return;
    }
    connection.queued_bytes += message->payload.size();
    connection.queue.push_back(std::move(message));
    if (connection.established && connection.queue.size() == 1) {
        lws_callback_on_writable(connection.wsi);
    }
}

int WsListener::on_writeable(Connection& connection) {
    lws* wsi = connection.wsi;
    if (connection.close) {
        // lws 4.1 sends the close frame of lws_close_reason() only when the close begins in
        // a receive callback; from here (returning -1) or from a timeout it hangs up without
        // one, or never. So write the close frame and hang up: RFC 6455 section 7.1.1 lets
        // the server close the TCP connection first.
        const std::string& reason = connection.close->second;
        std::vector<unsigned char> frame(LWS_PRE + 2 + reason.size());
        frame[LWS_PRE] = static_cast<unsigned char>(connection.close->first >> 8);
        frame[LWS_PRE + 1] = static_cast<unsigned char>(connection.close->first & 0xff);
        std::memcpy(frame.data() + LWS_PRE + 2, reason.data(), reason.size());
        lws_write(wsi, frame.data() + LWS_PRE, 2 + reason.size(), k_write_close);
        return -1;
    }
    // One lws_write per callback: with permessage-deflate lws may hold compressed output
    // back, and asks for the next callback only once it has gone out.
    if (connection.ping_due) {
        connection.ping_due = false;
        // With a payload: lws 4.1 does not report an empty pong (LWS_CALLBACK_RECEIVE_PONG).
        unsigned char ping[LWS_PRE + 3] = {};
        std::memcpy(ping + LWS_PRE, "rtx", 3);
        if (lws_write(wsi, ping + LWS_PRE, 3, LWS_WRITE_PING) < 0) {
            return -1;
        }
    } else if (!connection.queue.empty()) {
        const HubMessage& message = *connection.queue.front();
        const std::size_t size = message.payload.size();
        // lws 4.1's permessage-deflate loses the WRITEABLE callback that should follow a
        // compressed fragment (a message written in pieces with LWS_WRITE_NO_FIN stalls), so
        // a compressed message goes in one lws_write; lws then deflates and sends it a
        // buffer at a time from its own POLLOUT handling, without blocking the loop.
        const std::size_t length =
            connection.compressed ? size : std::min(k_write_chunk, size - connection.sent);
        connection.write_buffer.resize(LWS_PRE + length);
        std::memcpy(connection.write_buffer.data() + LWS_PRE,
                    message.payload.data() + connection.sent, length);
        const bool last = connection.sent + length == size;
        const int flags = lws_write_ws_flags(message.binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT,
                                             connection.sent == 0, last);
        if (lws_write(wsi, connection.write_buffer.data() + LWS_PRE, length,
                      static_cast<lws_write_protocol>(flags)) < 0) {
            return -1;
        }
        connection.sent += length;
        if (last) {
            connection.queued_bytes -= size;
            if (m_endpoint == WsEndpoint::echo && connection.queue.front().use_count() == 1 &&
                message.payload.capacity() <= k_write_chunk) {
                // An echo's message is this connection's own (made mutable in on_message);
                // a big one is freed, not kept for the connection's life.
                connection.spare =
                    std::const_pointer_cast<HubMessage>(std::move(connection.queue.front()));
            }
            connection.queue.pop_front();
            connection.sent = 0;
        }
    }
    if (!connection.queue.empty() || connection.ping_due) {
        lws_callback_on_writable(wsi);
    } else if (connection.reading_paused) {
        connection.reading_paused = false;
        lws_rx_flow_control(wsi, 1);
    }
    return 0;
}

int WsListener::on_peer_close(Connection& connection, const unsigned char* payload,
                              std::size_t len) {
    // lws answers a close with the peer's own payload; one that breaks RFC 6455 section
    // 5.5.1 / 7.4 is answered 1002 (1007 for a reason that is not UTF-8) instead.
    connection.peer_closed = true;
    const auto error =
        close_payload_error(std::string_view(reinterpret_cast<const char*>(payload), len));
    if (!error) {
        // lws answers the close on its next WRITEABLE, before any callback of ours, and
        // then hangs up: what is still queued would be lost, such as the echo of a message
        // that came in the same read as the close (`echo hi | rtx ws .../echo`). RFC 6455
        // section 5.5.1 lets an endpoint finish sending before answering a close, so hand
        // the queue to lws now: it sends what it buffered before its close frame.
        flush_before_close(connection);
        return 0;
    }
    set_close_reason(connection.wsi, static_cast<lws_close_status>(*error), "");
    return -1;
}

void WsListener::flush_before_close(Connection& connection) {
    while (!connection.queue.empty()) {
        const HubMessage& message = *connection.queue.front();
        const std::size_t length = message.payload.size() - connection.sent;
        connection.write_buffer.resize(LWS_PRE + length);
        std::memcpy(connection.write_buffer.data() + LWS_PRE,
                    message.payload.data() + connection.sent, length);
        const int flags = lws_write_ws_flags(message.binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT,
                                             connection.sent == 0, 1);
        if (lws_write(connection.wsi, connection.write_buffer.data() + LWS_PRE, length,
                      static_cast<lws_write_protocol>(flags)) < 0) {
            break;
        }
        connection.queued_bytes -= message.payload.size();
        connection.queue.pop_front();
        connection.sent = 0;
    }
}

void WsListener::on_ping_timer() {
    for (auto& [wsi, connection] : m_connections) {
        if (!connection->established || connection->close) {
            continue;
        }
        if (connection->heard) {
            connection->heard = false;
            connection->ping_outstanding = false;
        } else if (connection->ping_outstanding) {
            core::log_verbose("ws: dropping a connection that did not answer a ping");
            connection->close.emplace(LWS_CLOSE_STATUS_GOINGAWAY, "ping timeout");
            lws_callback_on_writable(wsi);
            // A peer that reads nothing never makes the connection writeable.
            lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, 2);
        } else {
            connection->ping_due = true;
            connection->ping_outstanding = true;
            lws_callback_on_writable(wsi);
        }
    }
}

void WsListener::drain_soon(Connection& connection) {
    // lws 4.1 on a foreign libuv loop takes one step of "forced service" per socket event:
    // when the inflater holds more of a compressed message than it hands over in one go
    // (up to rx_buf_size), the rest waits for the next event, which may never come (the
    // whole compressed message was read). So service the connection as though its socket
    // were readable, on the next loop turn: lws drains the inflater first (a read finding
    // nothing is harmless), and each piece received asks for one more turn.
    if (std::find(m_draining.begin(), m_draining.end(), connection.wsi) == m_draining.end()) {
        m_draining.push_back(connection.wsi);
    }
    if (!m_drain_timer.active()) {
        m_drain_timer.start(core::Duration{0}, [this] {
            std::vector<lws*> draining = std::exchange(m_draining, {});
            for (lws* wsi : draining) {
                if (m_connections.count(wsi) == 0) {
                    continue; // closed meanwhile
                }
                lws_pollfd poll{};
                poll.fd = lws_get_socket_fd(wsi);
                poll.events = POLLIN;
                poll.revents = POLLIN;
                lws_service_fd(lws_get_context(wsi), &poll);
            }
        });
    }
}

void WsListener::signal_to(Connection& connection, std::string text) {
    auto message = std::make_shared<HubMessage>();
    message->payload = std::move(text);
    message->source = "signal";
    enqueue(connection, std::move(message));
}

void WsListener::signal_others(const Connection& from,
                               const std::shared_ptr<const HubMessage>& message) {
    auto room = m_rooms.find(from.topic);
    if (room == m_rooms.end()) {
        return;
    }
    bool sent = false;
    for (Connection* peer : room->second) {
        if (peer != &from) {
            enqueue(*peer, message);
            sent = true;
        }
    }
    if (!sent) {
        core::log_verbose("ws: /signal/{}: nobody else in the room; message dropped", from.topic);
    }
}

void WsListener::leave_room(Connection& connection) {
    if (!connection.in_room) {
        return;
    }
    connection.in_room = false;
    auto room = m_rooms.find(connection.topic);
    if (room == m_rooms.end()) {
        return;
    }
    std::erase(room->second, &connection);
    if (room->second.empty()) {
        m_rooms.erase(room);
        return;
    }
    auto leave = std::make_shared<HubMessage>();
    leave->payload = R"({"type":"leave"})";
    leave->source = "signal";
    signal_others(connection, leave);
}

void WsListener::forget(lws* wsi) {
    auto it = m_connections.find(wsi);
    if (it == m_connections.end()) {
        return;
    }
    leave_room(*it->second);
    m_connections.erase(it);
    --m_count->open;
    if (m_shutting_down) {
        m_lws.notify_idle();
    }
}

} // namespace rtx::serve::ws
