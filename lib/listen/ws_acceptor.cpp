#include "listen/ws_acceptor.hpp"

#include "core/log.hpp"
#include "serve/http/exchange.hpp"
#include "serve/hub.hpp"
#include "serve/ws/ws_session.hpp"
#include "serve/ws/ws_take_over.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>

namespace rtx::listen {

using core::ExitCode;

namespace {

/// How long a close we start waits for the peer's close frame.
constexpr auto k_close_linger = std::chrono::seconds(2);

/// Answers a refused request and returns -1: lws closes the connection.
int refuse(lws* wsi, unsigned status, std::string_view message) {
    serve::http::Response response = serve::http::error_response(status, message);
    response.close = true;
    if (status == 426) {
        response.headers.emplace_back("upgrade", "websocket");
    }
    serve::http::write_response(wsi, response);
    return -1;
}

/// "ip:port" of a socket's peer.
std::string peer_of(int fd) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (fd < 0 || ::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        return "?";
    }
    if (address.ss_family == AF_UNIX) {
        return "unix";
    }
    char host[INET6_ADDRSTRLEN] = {};
    if (address.ss_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address);
        ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        return fmt::format("[{}]:{}", host, ntohs(in6->sin6_port));
    }
    const auto* in4 = reinterpret_cast<const sockaddr_in*>(&address);
    ::inet_ntop(AF_INET, &in4->sin_addr, host, sizeof host);
    return fmt::format("{}:{}", host, ntohs(in4->sin_port));
}

} // namespace

/// One accepted WebSocket connection as a transport::Connection. Owned by the handler's
/// side (ListenSession); the acceptor knows it by its lws connection until either goes.
class WsAcceptor::Connection final : public transport::Connection,
                                     private serve::ws::WsSessionEvents {
public:
    Connection(WsAcceptor& owner, lws* wsi, std::string deflate_offers, std::uint64_t id)
        : m_owner(owner)
        , m_wsi(wsi)
        , m_deflate_offers(std::move(deflate_offers))
        , m_id(id) {}

    ~Connection() override {
        m_session.reset();
        if (m_wsi != nullptr) {
            release();
        }
        m_owner.forget(*this);
    }

    lws* wsi() const { return m_wsi; }
    bool reported() const { return m_reported; }

    /// lws is done with the handshake's read: the frames are ours from here on.
    void take_over() {
        if (m_ended || m_wsi == nullptr) {
            return;
        }
        if (m_lws_closing) {
            return; // lws answers the close that came before: WSI_DESTROY ends it
        }
        m_session = serve::ws::take_over_session(m_owner.m_loop, m_wsi, m_deflate_offers,
                                                 m_owner.m_options.max_message, *this);
        m_deflate_offers.clear();
        if (!m_session) {
            end_now(ExitCode::connection_lost, true, "the connection failed at its start");
            return;
        }
        if (m_early_frames) {
            m_session->fail({1002, "frames sent before the handshake response"});
            return;
        }
        m_open = true;
        m_owner.m_handler->on_open(*this);
        if (m_early_close && m_session && !m_ended) {
            auto [code, reason] = *std::exchange(m_early_close, std::nullopt);
            m_session->close(code, reason, false, k_close_linger);
        }
    }
    void on_early_frames() { m_early_frames = true; }
    void on_lws_closing() { m_lws_closing = true; }
    /// lws destroyed the connection (before we took it over, or after we released it).
    void on_wsi_destroyed() {
        m_wsi = nullptr;
        if (!m_ended) {
            end_now(ExitCode::connection_lost, true, "connection lost");
        }
    }
    /// The end is reported to the handler (outside of the session's own calls).
    void report() {
        m_reported = true;
        transport::CloseInfo info;
        info.was_open = m_open;
        info.by_peer = m_by_peer;
        info.exit_code = m_exit;
        info.reason = m_reason;
        info.protocol_code = m_peer_code.value_or(0);
        m_open = false;
        m_owner.m_handler->on_close(*this, info); // last: may destroy us
    }

    bool send(const transport::Message& message) override {
        if (!is_open() || m_sending_finished || m_session->closing()) {
            return false;
        }
        auto hub_message = std::make_shared<serve::HubMessage>();
        hub_message->payload.assign(message.payload);
        hub_message->binary = message.kind == transport::PayloadKind::binary;
        ++m_stats.messages_out;
        m_stats.bytes_out += message.payload.size();
        m_session->send(std::move(hub_message));
        return true;
    }
    /// WebSocket has no half-close: the close frame says we are done (RFC 6455 section 7),
    /// and the peer's messages until its close still arrive.
    void finish_sending() override {
        if (m_sending_finished) {
            return;
        }
        m_sending_finished = true;
        close_with(1000, "");
    }
    void close() override { close_with(1000, ""); }
    void close_with(int code, const std::string& reason) override {
        if (m_ended) {
            return;
        }
        if (!m_session) {
            m_early_close.emplace(code, reason);
            return;
        }
        m_session->close(code, reason, false, k_close_linger);
    }
    bool is_open() const override { return m_open && !m_ended && m_session; }
    std::size_t buffered_bytes() const override {
        return m_session ? m_session->queued_bytes() : 0;
    }
    const transport::ConnectionStats& stats() const override { return m_stats; }
    std::uint64_t id() const override { return m_id; }
    void pause_receiving(bool paused) override {
        if (m_session && !m_ended) {
            m_session->hold_reading(paused);
        }
    }
    bool send_ping(std::string_view payload) override {
        if (!is_open()) {
            return false;
        }
        m_session->ping(payload);
        return true;
    }

private:
    void on_session_message(bool binary, std::string_view payload) override {
        if (!m_open) {
            return;
        }
        ++m_stats.messages_in;
        m_stats.bytes_in += payload.size();
        m_owner.m_handler->on_message(
            *this, transport::Message{payload, binary ? transport::PayloadKind::binary
                                                      : transport::PayloadKind::text});
    }
    void on_session_heard() override {}
    void on_session_drained() override {
        if (m_open && !m_ended) {
            m_owner.m_handler->on_drain(*this);
        }
    }
    void on_session_close(std::optional<int> code, std::string_view reason) override {
        m_peer_code = code;
        m_peer_closed = true;
        m_reason = code ? fmt::format("closed by peer with {}{}{}", *code,
                                      reason.empty() ? "" : ": ", reason)
                        : "closed by peer";
    }
    void on_session_end() override {
        if (m_peer_closed) {
            const bool clean = !m_peer_code || *m_peer_code == 1000 || *m_peer_code == 1001;
            end_now(clean ? ExitCode::ok : ExitCode::closed_abnormally, true, m_reason);
        } else if (m_session && m_session->closing()) {
            end_now(ExitCode::ok, false, "closed");
        } else {
            end_now(ExitCode::connection_lost, true, "connection lost without a close frame");
        }
        release();
    }
    /// Records the end and has the acceptor report it on its next before-poll hook.
    void end_now(ExitCode code, bool by_peer, std::string reason) {
        if (m_ended) {
            return;
        }
        m_ended = true;
        m_exit = code;
        m_by_peer = by_peer;
        m_reason = std::move(reason);
        m_owner.m_ended.push_back(this);
    }
    /// The session no longer watches the socket: lws closes it through its usual path.
    void release() {
        if (m_wsi == nullptr || m_released) {
            return;
        }
        m_released = true;
        if (const lws_sockfd_type fd = lws_get_socket_fd(m_wsi); fd >= 0) {
            ::shutdown(fd, SHUT_RDWR);
        }
        lws_rx_flow_control(m_wsi, 1);
        lws_set_timeout(m_wsi, PENDING_TIMEOUT_USER_OK, 1);
    }

    WsAcceptor& m_owner;
    lws* m_wsi;
    std::string m_deflate_offers;
    std::uint64_t m_id;
    std::unique_ptr<serve::ws::WsSession> m_session;
    transport::ConnectionStats m_stats;
    std::optional<std::pair<int, std::string>> m_early_close;
    std::optional<int> m_peer_code;
    std::string m_reason;
    ExitCode m_exit = ExitCode::ok;
    bool m_open = false;
    bool m_ended = false;
    bool m_reported = false;
    bool m_by_peer = false;
    bool m_peer_closed = false;
    bool m_sending_finished = false;
    bool m_early_frames = false;
    bool m_lws_closing = false;
    bool m_released = false;
};

WsAcceptor::WsAcceptor(core::Loop& loop, WsListenOptions options)
    : m_loop(loop)
    , m_options(std::move(options)) {}

WsAcceptor::~WsAcceptor() {
    m_loop.remove_before_poll_hook(m_hook);
    m_lws.reset(); // its callbacks come here meanwhile
}

core::Result<std::unique_ptr<WsAcceptor>> WsAcceptor::create(core::Loop& loop,
                                                             WsListenOptions options) {
    std::unique_ptr<WsAcceptor> acceptor(new WsAcceptor(loop, std::move(options)));
    acceptor->m_lws = std::make_unique<serve::http::LwsContext>(loop);
    lws_protocols protocol{};
    protocol.name = "rtx-ws-listen";
    protocol.callback = &WsAcceptor::callback;
    protocol.user = acceptor.get();
    protocol.rx_buffer_size = 64 * 1024;
    acceptor->m_lws->add_protocol(protocol);
    acceptor->m_lws->add_busy_check(
        [self = acceptor.get()] { return !self->m_connections.empty(); });
    serve::http::LwsSettings settings;
    settings.websocket_compression = acceptor->m_options.compression;
    settings.tls_cert_file = acceptor->m_options.tls_cert;
    settings.tls_key_file = acceptor->m_options.tls_key.empty() ? acceptor->m_options.tls_cert
                                                                : acceptor->m_options.tls_key;
    if (!acceptor->m_options.unix_path.empty()) {
        if (auto bound = acceptor->m_lws->listen_unix(acceptor->m_options.unix_path, settings);
            !bound) {
            return bound.error();
        }
    } else {
        auto port = acceptor->m_lws->listen(acceptor->m_options.address, settings);
        if (!port) {
            return port.error();
        }
        acceptor->m_options.address.port = port.value();
    }
    acceptor->m_hook =
        loop.add_before_poll_hook([self = acceptor.get()] { self->on_before_poll(); });
    return acceptor;
}

void WsAcceptor::start(transport::Handler& handler, OnAccept on_accept) {
    m_handler = &handler;
    m_on_accept = std::move(on_accept);
}

void WsAcceptor::stop() {
    m_stopped = true;
    if (m_lws) {
        m_lws->stop_accepting();
    }
}

std::string WsAcceptor::url() const {
    if (!m_options.unix_path.empty()) {
        return (m_options.tls_cert.empty() ? "unix:" : "tls+unix:") + m_options.unix_path;
    }
    return fmt::format("{}://{}{}", m_options.tls_cert.empty() ? "ws" : "wss",
                       m_lws->bound().authority(), m_options.path.empty() ? "/" : m_options.path);
}

int WsAcceptor::callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                         std::size_t len) {
    // The vhost's default protocol: lws passes per-connection storage (none) as `user`, so
    // the acceptor is found through the protocol, as HttpListener finds itself.
    const lws_protocols* protocol = wsi != nullptr ? lws_get_protocol(wsi) : nullptr;
    auto* self = protocol != nullptr ? static_cast<WsAcceptor*>(protocol->user) : nullptr;
    if (self == nullptr) {
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
    try {
        return self->on_callback(wsi, reason, in, len);
    } catch (const std::exception& e) {
        core::log_verbose("ws: dropping a connection: {}", e.what());
        return -1;
    }
}

int WsAcceptor::on_callback(lws* wsi, lws_callback_reasons reason, void* in, std::size_t len) {
    auto it = m_connections.find(wsi);
    Connection* connection = it != m_connections.end() ? it->second : nullptr;
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return on_confirm_upgrade(wsi);
    case LWS_CALLBACK_HTTP:
        return refuse(wsi, 426, "upgrade required: this is a WebSocket endpoint");
    case LWS_CALLBACK_ESTABLISHED:
        on_established(wsi);
        return 0;
    case LWS_CALLBACK_RECEIVE:
    case LWS_CALLBACK_RECEIVE_PONG:
        // lws parsed a frame before the take-over: the client did not wait for our 101
        // (RFC 6455 section 4.1); the session fails it with 1002.
        if (connection != nullptr) {
            connection->on_early_frames();
        }
        return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (connection != nullptr) {
            connection->on_lws_closing();
        }
        return 0;
    case LWS_CALLBACK_TIMER:
        // LwsContext: no request headers in time (408); an upgraded connection has none.
        if (connection != nullptr) {
            return 0;
        }
        return serve::http::LwsContext::answer_header_timeout(wsi);
    case LWS_CALLBACK_WSI_DESTROY:
        m_upgrading.erase(wsi);
        if (connection != nullptr) {
            m_connections.erase(it);
            connection->on_wsi_destroyed();
        }
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, nullptr, in, len);
}

int WsAcceptor::on_confirm_upgrade(lws* wsi) {
    if (m_stopped || m_handler == nullptr) {
        return refuse(wsi, 503,
                      "not accepting connections (rtx ws -l takes one client "
                      "without --keep-open)");
    }
    const std::string path = serve::http::request_header(wsi, WSI_TOKEN_GET_URI).value_or("/");
    if (!m_options.path.empty() && path != m_options.path) {
        return refuse(wsi, 404,
                      fmt::format("not found: {} (the WebSocket endpoint is {})",
                                  path.substr(0, 200), m_options.path));
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL) > 0) {
        // lws would bind the upgrade to the protocol of that name, or refuse it.
        return refuse(wsi, 400,
                      "no WebSocket subprotocol is offered (send no Sec-WebSocket-Protocol)");
    }
    m_upgrading[wsi] = m_options.compression
                           ? serve::http::request_header(wsi, WSI_TOKEN_EXTENSIONS).value_or("")
                           : std::string();
    return 0;
}

void WsAcceptor::on_established(lws* wsi) {
    auto upgrading = m_upgrading.find(wsi);
    std::string offers;
    if (upgrading != m_upgrading.end()) {
        offers = std::move(upgrading->second);
        m_upgrading.erase(upgrading);
    }
    auto connection = std::make_unique<Connection>(*this, wsi, std::move(offers), m_next_id++);
    Connection* raw = connection.get();
    m_connections.emplace(wsi, raw);
    // Not now: bytes that came in the same read as the upgrade request are in lws's buffer,
    // parsed after this callback. The framing is ours from the next before-poll hook.
    m_taking_over.push_back(raw);
    m_on_accept(std::move(connection), peer_of(lws_get_socket_fd(wsi)));
}

void WsAcceptor::on_before_poll() {
    // One at a time: a connection the handler destroys meanwhile leaves the lists (forget).
    while (!m_taking_over.empty()) {
        Connection* connection = m_taking_over.front();
        m_taking_over.erase(m_taking_over.begin());
        connection->take_over();
    }
    while (!m_ended.empty()) {
        Connection* connection = m_ended.front();
        m_ended.erase(m_ended.begin());
        connection->report(); // may destroy it
    }
}

void WsAcceptor::forget(Connection& connection) {
    std::erase(m_taking_over, &connection);
    std::erase(m_ended, &connection);
    if (connection.wsi() != nullptr) {
        m_connections.erase(connection.wsi());
    }
    if (m_lws) {
        m_lws->notify_idle();
    }
}

} // namespace rtx::listen
