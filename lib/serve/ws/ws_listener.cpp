#include "serve/ws/ws_listener.hpp"

#include "core/encoding.hpp"
#include "core/log.hpp"
#include "serve/http/exchange.hpp"
#include "serve/ws/ws_rules.hpp"
#include "serve/ws/ws_take_over.hpp"
#include "transport/webrtc/trickle_json.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <openssl/ssl.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string_view>
#include <utility>

namespace rtx::serve::ws {

namespace {

constexpr std::string_view k_echo_path = "/echo";
constexpr std::string_view k_topic_prefix = "/ws/";
constexpr std::string_view k_signal_prefix = "/signal/";
constexpr std::string_view k_webrtc_prefix = "/webrtc/";

/// The close codes the endpoints send (RFC 6455 section 7.4.1).
namespace ws_close {
constexpr int going_away = 1001;
constexpr int unsupported_data = 1003;
constexpr int invalid_payload = 1007;
constexpr int policy_violation = 1008;
constexpr int try_again_later = 1013;
constexpr int internal_error = 1011;
} // namespace ws_close

/// How long a connection we close waits for the peer's answer (and its end of TCP).
constexpr auto k_close_linger = std::chrono::seconds(2);

/// Answers an HTTP request or refused upgrade and returns -1: lws closes the connection.
int refuse(lws* wsi, unsigned status, std::string_view message, std::string www_authenticate = {}) {
    http::Response response = http::error_response(status, message);
    response.close = true;
    if (status == 401) {
        response.headers.emplace_back("www-authenticate", std::move(www_authenticate));
    }
    if (status == 426) {
        response.headers.emplace_back("upgrade", "websocket");
    }
    if (status == 503) {
        response.headers.emplace_back("retry-after", "1");
    }
    http::write_response(wsi, response);
    return -1;
}

} // namespace

/// One WebSocket connection: its subscription, and once lws made the handshake, its session
/// (our own framing, WsSession).
struct WsListener::Connection final : Subscriber, WsSessionEvents {
    Connection(WsListener& listener, lws* connection)
        : owner(listener)
        , wsi(connection) {}

    void on_hub_message(const std::shared_ptr<const HubMessage>& message) override {
        owner.enqueue(*this, message);
    }
    void on_session_message(bool binary, std::string_view payload) override {
        owner.on_message(*this, binary, payload);
    }
    void on_session_heard() override {
        heard = true;
        ping_outstanding = false;
    }
    void on_session_end() override { owner.release(*this); }

    std::size_t queued_bytes() const { return session ? session->queued_bytes() : early_bytes; }

    WsListener& owner;
    lws* wsi;
    Subscription subscription;
    std::string topic; ///< The topic, or the room of a /signal/ connection.
    /// /signal/{room}: a signalling peer, and how many peers were in the room before it.
    bool signal = false;
    bool in_room = false;
    std::size_t peers_before = 0;
    /// /webrtc/{target}: signalling with rtx serve's own peer (topic is the target), and
    /// that peer's id once the offer came.
    bool webrtc = false;
    std::string peer_id;
    /// The peer's answer may come after the connection went: its callbacks hold this weakly.
    std::shared_ptr<bool> alive = std::make_shared<bool>(true);
    /// The client's Sec-WebSocket-Extensions (with compression on): what it offered.
    std::string deflate_offers;
    /// lws parsed frames of this client before take_over() (see LWS_CALLBACK_RECEIVE).
    bool early_frames = false;
    /// lws answers a close that came before take_over(): the connection stays lws's.
    bool lws_closing = false;
    /// Our framing, from the first loop turn after the handshake (take_over()).
    std::unique_ptr<WsSession> session;
    /// Hub messages that came before the session started, and their bytes.
    std::vector<std::shared_ptr<const HubMessage>> early;
    std::size_t early_bytes = 0;
    /// A close to begin as soon as the session starts (shutdown() came first).
    std::optional<std::pair<int, std::string>> early_close;
    /// The session ended: the socket is lws's again, to close.
    bool released = false;
    // Keepalive: something came since the last ping timer tick; a ping was sent and not
    // answered yet.
    bool heard = true;
    bool ping_outstanding = false;
    /// --auth-publish-only and no credentials: what it sends is not published.
    bool read_only = false;
    /// --fault (/echo and /ws/{topic}); null: none.
    std::unique_ptr<fault::ConnectionFaults> faults;
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
    , m_ping_timer(loop) {
    lws_protocols protocol{};
    protocol.name = m_protocol_name.c_str();
    protocol.callback = &WsListener::callback;
    protocol.user = this;
    protocol.rx_buffer_size = 64 * 1024;
    m_lws.add_protocol(protocol);
    m_lws.add_mount(endpoint == WsEndpoint::echo ? k_echo_path : k_topic_prefix, m_protocol_name);
    if (endpoint == WsEndpoint::pubsub) {
        for (const auto& route : m_options.routes) {
            m_lws.add_mount(route.first, m_protocol_name); // exact: no trailing '/'
        }
        m_lws.add_mount(k_signal_prefix, m_protocol_name);
        m_lws.add_mount(k_webrtc_prefix, m_protocol_name);
    }
    m_lws.add_busy_check([this] { return !m_connections.empty(); });
    if (m_options.ping_interval.count() > 0) {
        m_ping_timer.start(
            m_options.ping_interval, [this] { on_ping_timer(); }, m_options.ping_interval);
    }
    m_take_over_hook = m_loop.add_before_poll_hook([this] { take_over_pending(); });
}

WsListener::~WsListener() {
    m_loop.remove_before_poll_hook(m_take_over_hook);
}

std::string WsListener::name() const {
    return m_endpoint == WsEndpoint::echo ? "ws-echo" : "ws";
}

std::string WsListener::url() const {
    return fmt::format("{}://{}{}", m_lws.secure() ? "wss" : "ws", m_lws.bound().authority(),
                       m_endpoint == WsEndpoint::echo ? "/echo" : "/ws/{topic}");
}

void WsListener::shutdown() {
    m_shutting_down = true;
    m_ping_timer.stop();
    for (auto& [wsi, connection] : m_connections) {
        connection->subscription.reset();
        begin_close(*connection, ws_close::going_away, "going away", false);
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
        if (core::log_level() >= core::LogLevel::debug) {
            char peer[64] = "";
            lws_get_peer_simple(wsi, peer, sizeof peer);
            core::log_debug("ws: connection from {}{}", peer,
                            connection->topic.empty() ? std::string(" to /echo")
                            : connection->signal      ? " to /signal/" + connection->topic
                                                      : " to /ws/" + connection->topic);
        }
        // Not now: bytes that came in the same read as the upgrade request are in lws's
        // buffer, parsed after this callback. The framing is ours from the loop's next
        // before-poll hook, when lws is done with that read and before any later one.
        m_taking_over.push_back(wsi);
        if (connection->webrtc) {
            // rtx serve's peer is the one already in the room: the client makes the offer.
            signal_to(*connection, nlohmann::json{{"type", "welcome"},
                                                  {"room", "webrtc/" + connection->topic},
                                                  {"peers", 1}}
                                       .dump());
        } else if (connection->signal) {
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
        return 0;
    case LWS_CALLBACK_RECEIVE:
    case LWS_CALLBACK_RECEIVE_PONG:
        // lws parsed a frame before take_over(): the client sent it before it could have
        // read our 101 response (RFC 6455 section 4.1: it must wait for it). Its frames can
        // no longer be split between lws and us: the session fails it with 1002 at once.
        if (connection != nullptr) {
            connection->early_frames = true;
        }
        return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        // The same early client, and its close: lws answers it and hangs up.
        if (connection != nullptr) {
            connection->lws_closing = true;
        }
        return 0;
    case LWS_CALLBACK_TIMER:
        // LwsContext's request deadline, which the upgrade request disarmed: nothing to do.
        return 0;
    case LWS_CALLBACK_CLOSED:
        // The connection counts (for shutdown's busy check too) until lws destroys it.
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
    bool read_only = false;
    if (m_endpoint == WsEndpoint::pubsub || !m_options.access.publish_only) {
        char buffer[512];
        const char* token = lws_get_urlarg_by_name(wsi, "access_token=", buffer, sizeof buffer);
        const std::optional<std::string_view> query =
            token != nullptr ? std::optional<std::string_view>(token) : std::nullopt;
        const auto header = http::request_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
        if (!authorized(m_options.access, header, query)) {
            if (!m_options.access.publish_only) {
                core::log_verbose("ws: refused an upgrade without valid credentials (401)");
                return refuse(wsi, 401, "unauthorized: credentials needed (--auth)",
                              www_authenticate(m_options.access));
            }
            read_only = true;
        }
    }
    if (m_count->open >= m_options.max_connections) {
        return refuse(wsi, 503,
                      fmt::format("too many WebSocket connections: the limit is {} "
                                  "(--ws-max-conns)",
                                  m_options.max_connections));
    }
    auto connection = std::make_unique<Connection>(*this, wsi);
    connection->read_only = read_only;
    if (m_options.compression) {
        // Kept for take_over(): lws frees the request headers once the upgrade is done.
        connection->deflate_offers = http::request_header(wsi, WSI_TOKEN_EXTENSIONS).value_or("");
    }
    const std::string path = http::request_header(wsi, WSI_TOKEN_GET_URI).value_or("");
    if (m_endpoint == WsEndpoint::pubsub && path.starts_with(k_webrtc_prefix)) {
        const std::string target = path.substr(k_webrtc_prefix.size());
        if (m_peers == nullptr) {
            return refuse(wsi, 404, "not found: rtx serve's WebRTC peers are off");
        }
        if (target.empty() || !core::is_valid_utf8(target)) {
            return refuse(wsi, 400, "bad request: use /webrtc/echo or /webrtc/{topic}");
        }
        connection->webrtc = true;
        connection->topic = target;
    } else if (m_endpoint == WsEndpoint::pubsub && path.starts_with(k_signal_prefix)) {
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
        std::string_view topic =
            std::string_view(path).substr(std::min(path.size(), k_topic_prefix.size()));
        for (const auto& route : m_options.routes) {
            if (route.first == path) {
                topic = route.second; // --route PATH=ws:TOPIC
            }
        }
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
    if (m_options.faults != nullptr && !connection->signal && !connection->webrtc) {
        open_faults(*connection);
    }
    m_connections.emplace(wsi, std::move(connection));
    ++m_count->open;
    return 0;
}

void WsListener::open_faults(Connection& connection) {
    connection.faults = m_options.faults->open(fault::Protocol::ws);
    if (connection.faults->refused()) {
        // RFC 6455 section 7.4.1: 1013, try again later, once the handshake is done.
        connection.subscription.reset();
        connection.early_close.emplace(ws_close::try_again_later,
                                       "try again later (--fault refuse)");
        return;
    }
    connection.faults->on_drop([this, conn = &connection] {
        conn->subscription.reset();
        if (conn->session) {
            conn->session->abort(); // no close frame: the connection is lost
        }
    });
}

void WsListener::take_over_pending() {
    if (m_taking_over.empty()) {
        return;
    }
    std::vector<lws*> pending = std::exchange(m_taking_over, {});
    for (lws* wsi : pending) {
        auto it = m_connections.find(wsi);
        if (it != m_connections.end() && !it->second->lws_closing) {
            take_over(*it->second);
        }
    }
}

void WsListener::take_over(Connection& connection) {
    connection.session = take_over_session(m_loop, connection.wsi, connection.deflate_offers,
                                           m_options.max_message, connection);
    if (!connection.session) {
        connection.released = true;
        lws_set_timeout(connection.wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return;
    }
    if (connection.early_frames) {
        core::log_verbose("ws: a client sent frames before the handshake response");
        connection.session->fail({1002, "frames sent before the handshake response"});
        return;
    }
    for (auto& message : std::exchange(connection.early, {})) {
        connection.session->send(std::move(message));
    }
    connection.early_bytes = 0;
    if (connection.early_close) {
        auto [code, reason] = *std::exchange(connection.early_close, std::nullopt);
        begin_close(connection, code, reason, code != ws_close::going_away);
    }
}

void WsListener::on_message(Connection& connection, bool binary, std::string_view payload) {
    if (connection.read_only) {
        core::log_verbose("ws: a client without credentials tried to publish: closing (1008)");
        begin_close(connection, ws_close::policy_violation, "publishing needs credentials (--auth)",
                    true);
        return;
    }
    if (connection.webrtc) {
        webrtc_message(connection, binary, payload);
        return;
    }
    if (connection.signal) {
        // Relayed as it came, once it is known to be a JSON object with a "type" (offer,
        // answer, candidate, or anything the peers agree on).
        const auto json = nlohmann::json::parse(payload, nullptr, false);
        if (binary || !json.is_object() || !json.contains("type") || !json["type"].is_string()) {
            core::log_verbose("ws: /signal/{}: not a JSON object with a \"type\": closing",
                              connection.topic);
            begin_close(connection, binary ? ws_close::unsupported_data : ws_close::invalid_payload,
                        "signalling messages are JSON objects with a \"type\"", true);
            return;
        }
        auto message = std::make_shared<HubMessage>();
        message->payload.assign(payload);
        message->source = "signal";
        signal_others(connection, message);
        return;
    }
    if (m_endpoint == WsEndpoint::echo) {
        if (!connection.faults) {
            connection.session->echo(binary, payload);
        } else if (connection.faults->shapes()) {
            auto message = std::make_shared<HubMessage>();
            message->payload.assign(payload);
            message->binary = binary;
            connection.faults->send(payload.size(), [conn = &connection, message] {
                if (conn->session) {
                    conn->session->send(message);
                }
            });
        } else {
            connection.faults->send(payload.size(), [&connection, binary, payload] {
                connection.session->echo(binary, payload);
            });
        }
        return;
    }
    PublishOptions options;
    options.binary = binary;
    options.source = "ws";
    // The sender is a subscriber of the topic too: its own message comes back to it through
    // the hub, in order with everyone else's.
    auto published = m_hub.publish(connection.topic, std::string(payload), std::move(options));
    if (!published) {
        core::log_verbose("ws: publish to '{}': {}", connection.topic, published.error().message);
        begin_close(connection, ws_close::internal_error, published.error().message.substr(0, 120),
                    true);
    }
}

void WsListener::enqueue(Connection& connection, std::shared_ptr<const HubMessage> message) {
    if (connection.released || (connection.session && connection.session->closing())) {
        return;
    }
    // A subscriber that does not read falls behind; past two of the largest messages (and at
    // least 16 MiB) it is dropped rather than let its queue grow without bound.
    const std::size_t limit = std::max<std::size_t>(2 * m_options.max_message, 16 * 1024 * 1024);
    if (connection.queued_bytes() + message->payload.size() > limit) {
        core::log_verbose("ws: dropping a subscriber of '{}' that does not keep up",
                          connection.topic);
        connection.subscription.reset();
        begin_close(connection, ws_close::policy_violation, "too slow: messages dropped", true);
        return;
    }
    if (!connection.session) {
        connection.early_bytes += message->payload.size();
        connection.early.push_back(std::move(message));
        return;
    }
    if (connection.faults) {
        const std::size_t bytes = message->payload.size();
        connection.faults->send(bytes, [conn = &connection, message = std::move(message)] {
            if (conn->session && !conn->released) {
                conn->session->send(message);
            }
        });
        return;
    }
    connection.session->send(std::move(message));
}

void WsListener::begin_close(Connection& connection, int code, std::string reason,
                             bool drop_queued) {
    if (connection.released) {
        return;
    }
    if (!connection.session) {
        connection.early_close.emplace(code, std::move(reason));
        return;
    }
    // A peer that reads nothing never lets the close frame out: the linger bounds the wait.
    connection.session->close(code, reason, drop_queued, k_close_linger);
}

void WsListener::release(Connection& connection) {
    // The session stopped watching the socket; shutting it down makes lws see the end on its
    // next read and close the connection through its usual path (CLOSED, WSI_DESTROY),
    // without a close frame of its own (the socket is unusable by then).
    connection.released = true;
    connection.subscription.reset();
    if (const lws_sockfd_type fd = lws_get_socket_fd(connection.wsi); fd >= 0) {
        ::shutdown(fd, SHUT_RDWR);
    }
    lws_rx_flow_control(connection.wsi, 1);
    lws_set_timeout(connection.wsi, PENDING_TIMEOUT_USER_OK, 1); // a backstop only
}

void WsListener::on_ping_timer() {
    for (auto& [wsi, connection] : m_connections) {
        WsSession* session = connection->session.get();
        if (session == nullptr || session->closing() || session->ended()) {
            continue;
        }
        if (connection->heard) {
            connection->heard = false;
            connection->ping_outstanding = false;
        } else if (connection->ping_outstanding) {
            core::log_verbose("ws: dropping a connection that did not answer a ping");
            begin_close(*connection, ws_close::going_away, "ping timeout", true);
        } else {
            connection->ping_outstanding = true;
            session->ping("rtx");
        }
    }
}

void WsListener::webrtc_message(Connection& connection, bool binary, std::string_view payload) {
    const auto json = nlohmann::json::parse(payload, nullptr, false);
    if (binary || !json.is_object() || !json.contains("type") || !json["type"].is_string()) {
        begin_close(connection, binary ? ws_close::unsupported_data : ws_close::invalid_payload,
                    "signalling messages are JSON objects with a \"type\"", true);
        return;
    }
    const std::string type = json["type"].get<std::string>();
    if (type == "candidate" && !connection.peer_id.empty()) {
        m_peers->add_candidate(connection.peer_id, transport::webrtc::candidate_from_message(json));
        return;
    }
    if (type != "offer" || !connection.peer_id.empty()) {
        core::log_verbose("ws: /webrtc/{}: {} ignored", connection.topic, type);
        return;
    }
    if (!json.contains("sdp") || !json["sdp"].is_string()) {
        begin_close(connection, ws_close::invalid_payload, "the offer has no \"sdp\" string", true);
        return;
    }
    std::weak_ptr<bool> alive = connection.alive;
    Connection* target = &connection;
    webrtc::PeerCallbacks callbacks;
    callbacks.on_answer = [this, alive, target](const std::string& sdp) {
        if (alive.lock()) {
            signal_to(*target, nlohmann::json{{"type", "answer"}, {"sdp", sdp}}.dump());
        }
    };
    callbacks.on_candidate = [this, alive,
                              target](const transport::webrtc::TrickledCandidate& candidate) {
        if (alive.lock()) {
            signal_to(*target, transport::webrtc::candidate_message(candidate));
        }
    };
    callbacks.on_end = [this, alive, target](const std::string& reason) {
        if (alive.lock()) {
            begin_close(*target, ws_close::internal_error, reason.substr(0, 120), false);
        }
    };
    auto created = m_peers->create(connection.topic, json["sdp"].get<std::string>(),
                                   std::move(callbacks), true);
    if (created.id.empty()) {
        begin_close(connection,
                    created.status == 503 ? ws_close::try_again_later : ws_close::policy_violation,
                    created.error.substr(0, 120), true);
        return;
    }
    connection.peer_id = created.id;
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
    m_taking_over.erase(std::remove(m_taking_over.begin(), m_taking_over.end(), wsi),
                        m_taking_over.end());
    auto it = m_connections.find(wsi);
    if (it == m_connections.end()) {
        return;
    }
    leave_room(*it->second);
    if (m_peers != nullptr && !it->second->peer_id.empty()) {
        m_peers->forget_callbacks(it->second->peer_id);
    }
    m_connections.erase(it);
    --m_count->open;
    if (m_shutting_down) {
        m_lws.notify_idle();
    }
}

} // namespace rtx::serve::ws
