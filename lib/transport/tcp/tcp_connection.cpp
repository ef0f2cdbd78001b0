#include "transport/tcp/tcp_connection.hpp"

#include "core/log.hpp"

#include <fmt/format.h>

#include <cstring>

namespace rtx::transport {

using core::ExitCode;

/// The getaddrinfo request outlives the connection if it is destroyed mid-resolve.
struct TcpConnection::Resolve {
    uv_getaddrinfo_t req{};
    TcpConnection* owner = nullptr;
};

namespace {

ExitCode exit_code_for_uv_error(int status) {
    switch (status) {
    case UV_ETIMEDOUT:
        return ExitCode::timeout;
    case UV_ECONNRESET:
    case UV_EPIPE:
    case UV_ECONNABORTED:
        return ExitCode::connection_lost;
    default:
        return ExitCode::connect_failed;
    }
}

/// getaddrinfo's failures as a user reads them: libuv says "unknown node or service" for a
/// name that does not exist, which reads like a bug report; curl and ssh say "unknown host"
/// or "could not resolve host".
std::string resolve_error_text(int status) {
    switch (status) {
    case UV_EAI_NONAME:
    case UV_EAI_NODATA:
        return "unknown host";
    default:
        return uv_strerror(status);
    }
}

} // namespace

TcpConnection::TcpConnection(core::Loop& loop, core::Url url, ConnectOptions options,
                             Handler& handler, std::uint64_t id)
    : m_loop(loop)
    , m_url(std::move(url))
    , m_options(std::move(options))
    , m_handler(handler)
    , m_id(id)
    , m_connect_timer(loop)
    , m_framer(m_options.framing) {}

TcpConnection::DispatchGuard::DispatchGuard(TcpConnection& connection)
    : m_connection(connection) {
    ++m_connection.m_dispatch_depth;
}

TcpConnection::DispatchGuard::~DispatchGuard() {
    if (--m_connection.m_dispatch_depth == 0 && m_connection.m_close_deferred) {
        m_connection.m_close_deferred = false;
        CloseInfo info = std::move(m_connection.m_close_info);
        m_connection.m_handler.on_close(m_connection, info); // last: may destroy the connection
    }
}

TcpConnection::~TcpConnection() {
    if (m_resolve != nullptr) {
        m_resolve->owner = nullptr; // the callback frees it
        uv_cancel(reinterpret_cast<uv_req_t*>(&m_resolve->req));
    }
}

void TcpConnection::start() {
    // The work starts on the next loop turn, so that on_close never runs inside start(): the
    // caller has not even stored the connection yet.
    m_started_ms = m_loop.now_ms();
    m_connect_timer.start(core::Duration{0}, [this] { begin(); });
}

std::unique_ptr<TcpConnection> TcpConnection::accept(core::Loop& loop, uv_stream_t* server,
                                                     StreamKind kind, ConnectOptions options,
                                                     std::unique_ptr<TlsSession> tls,
                                                     Handler& handler, std::uint64_t id) {
    auto connection =
        std::make_unique<TcpConnection>(loop, core::Url{}, std::move(options), handler, id);
    connection->m_stream =
        std::make_unique<TcpStream>(loop.native(), static_cast<StreamHandler&>(*connection), kind);
    if (kind == StreamKind::unix_socket) {
        connection->m_url.scheme = "unix";
    }
    if (uv_accept(server, connection->m_stream->stream()) != 0) {
        return nullptr;
    }
    // Messages name the peer as a client's name the server: "connection to HOST:PORT".
    const std::string peer = connection->m_stream->peer_name();
    const std::size_t colon = peer.rfind(':');
    if (kind == StreamKind::tcp && colon != std::string::npos) {
        std::string host = peer.substr(0, colon);
        if (host.size() > 1 && host.front() == '[') {
            host = host.substr(1, host.size() - 2);
        }
        connection->m_url.host = host;
        connection->m_url.port = static_cast<std::uint16_t>(std::stoi(peer.substr(colon + 1)));
    }
    connection->m_tls = std::move(tls);
    connection->m_accepted = true;
    return connection;
}

std::string TcpConnection::name() const {
    if (m_url.scheme == "unix") {
        return m_url.path.empty() ? "unix" : "unix:" + m_url.path;
    }
    return m_url.authority();
}

void TcpConnection::begin_accepted() {
    DispatchGuard guard(*this); // the handler may close us from inside on_open
    m_stream->start_reading();
    if (!m_tls) {
        become_open();
        return;
    }
    m_state = State::handshaking;
    m_connect_timer.start(m_options.connect_timeout, [this] {
        finish(ExitCode::timeout, false,
               fmt::format("TLS: {} did not finish its handshake in {}", name(),
                           core::format_duration(m_options.connect_timeout)));
    });
}

void TcpConnection::begin() {
    if (m_accepted) {
        begin_accepted();
        return;
    }
    m_connect_timer.start(m_options.connect_timeout, [this] {
        finish(ExitCode::timeout, false,
               fmt::format("connect to {}: timed out after {}", name(),
                           core::format_duration(m_options.connect_timeout)));
    });
    if (m_options.tls.enabled) {
        auto tls = TlsSession::create(m_options.tls, m_url.host);
        if (!tls) {
            finish(tls.error().code, false, tls.error().message);
            return;
        }
        m_tls = std::move(tls.value());
    }
    if (m_url.scheme == "unix") {
        m_state = State::connecting;
        m_stream = std::make_unique<TcpStream>(m_loop.native(), static_cast<StreamHandler&>(*this),
                                               StreamKind::unix_socket);
        m_stream->connect_unix(m_url.path);
        return;
    }
    if (!m_options.source_ip.empty()) {
        sockaddr_storage source{};
        if (uv_ip4_addr(m_options.source_ip.c_str(), 0, reinterpret_cast<sockaddr_in*>(&source)) !=
                0 &&
            uv_ip6_addr(m_options.source_ip.c_str(), 0, reinterpret_cast<sockaddr_in6*>(&source)) !=
                0) {
            finish(ExitCode::usage, false,
                   fmt::format("source address '{}': not an IP address", m_options.source_ip));
            return;
        }
        m_source = source;
    }
    // Literal addresses skip the resolver (and its thread pool round trip).
    sockaddr_storage literal{};
    std::string port = std::to_string(m_url.port);
    if (uv_ip4_addr(m_url.host.c_str(), m_url.port, reinterpret_cast<sockaddr_in*>(&literal)) ==
            0 ||
        uv_ip6_addr(m_url.host.c_str(), m_url.port, reinterpret_cast<sockaddr_in6*>(&literal)) ==
            0) {
        m_addresses.push_back(literal);
        connect_next();
        return;
    }
    m_state = State::resolving;
    m_resolve = new Resolve;
    m_resolve->owner = this;
    m_resolve->req.data = m_resolve;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = uv_getaddrinfo(
        m_loop.native(), &m_resolve->req,
        [](uv_getaddrinfo_t* req, int status, addrinfo* result) {
            auto* resolve = static_cast<Resolve*>(req->data);
            TcpConnection* owner = resolve->owner;
            delete resolve;
            if (owner == nullptr) {
                uv_freeaddrinfo(result);
                return;
            }
            owner->m_resolve = nullptr;
            owner->on_resolved(status, result);
        },
        m_url.host.c_str(), port.c_str(), &hints);
    if (rc != 0) {
        delete m_resolve;
        m_resolve = nullptr;
        finish(ExitCode::connect_failed, false,
               fmt::format("resolve {}: {}", m_url.host, resolve_error_text(rc)));
    }
}

void TcpConnection::on_resolved(int status, addrinfo* result) {
    if (status != 0) {
        uv_freeaddrinfo(result);
        finish(ExitCode::connect_failed, false,
               fmt::format("resolve {}: {}", m_url.host, resolve_error_text(status)));
        return;
    }
    for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) {
            sockaddr_storage address{};
            std::memcpy(&address, ai->ai_addr, ai->ai_addrlen);
            m_addresses.push_back(address);
        }
    }
    uv_freeaddrinfo(result);
    connect_next();
}

void TcpConnection::connect_next() {
    if (m_next_address >= m_addresses.size()) {
        finish(ExitCode::connect_failed, false,
               fmt::format("connect to {}: {}", name(),
                           m_last_connect_error.empty() ? "no address" : m_last_connect_error));
        return;
    }
    const auto& address = m_addresses[m_next_address++];
    // A source of the other family cannot reach this address: skip it, as getaddrinfo's
    // list may hold both.
    if (m_source && m_source->ss_family != address.ss_family) {
        m_last_connect_error = "source address is of another family";
        connect_next();
        return;
    }
    m_state = State::connecting;
    m_stream = std::make_unique<TcpStream>(m_loop.native(), static_cast<StreamHandler&>(*this));
    m_stream->connect(reinterpret_cast<const sockaddr*>(&address),
                      m_source ? reinterpret_cast<const sockaddr*>(&*m_source) : nullptr);
}

void TcpConnection::on_stream_connected(int status) {
    DispatchGuard guard(*this);
    if (m_state != State::connecting) {
        return;
    }
    if (status != 0) {
        m_last_connect_error = uv_strerror(status);
        core::log_debug("connect attempt to {} failed: {}", name(), m_last_connect_error);
        m_stream.reset();
        connect_next();
        return;
    }
    m_stream->start_reading();
    if (m_tls) {
        m_state = State::handshaking;
        m_scratch_cipher.clear();
        m_tls->start(m_scratch_cipher);
        m_stream->write(m_scratch_cipher);
        return;
    }
    become_open();
}

void TcpConnection::become_open() {
    m_connect_timer.stop();
    m_state = State::open;
    m_stats.connect_time = std::chrono::milliseconds(m_loop.now_ms() - m_started_ms);
    std::string peer = m_stream->peer_name();
    core::log_verbose("{} {}{}{}", m_accepted ? "connection from" : "connected to", name(),
                      peer == name() ? std::string() : " (" + peer + ")",
                      m_tls ? ", " + m_tls->description() : std::string());
    m_handler.on_open(*this);
}

void TcpConnection::on_stream_data(std::string_view bytes) {
    DispatchGuard guard(*this);
    if (!m_tls) {
        deliver(bytes);
        return;
    }
    m_scratch_plain.clear();
    m_scratch_cipher.clear();
    auto result = m_tls->receive(bytes, m_scratch_plain, m_scratch_cipher);
    if (!m_scratch_cipher.empty()) {
        m_stream->write(m_scratch_cipher);
    }
    if (!result) {
        finish(result.error().code, true, result.error().message);
        return;
    }
    if (m_state == State::handshaking && m_tls->established()) {
        become_open();
    }
    if (!m_scratch_plain.empty()) {
        deliver(m_scratch_plain);
    }
    if (m_tls->peer_closed() && m_state == State::open) {
        on_stream_end(UV_EOF);
    }
}

void TcpConnection::deliver(std::string_view plaintext) {
    if (m_state != State::open) {
        return;
    }
    bool fits = m_framer.feed(plaintext, [this](std::string_view payload) {
        if (m_state != State::open) {
            return; // the handler closed us mid-batch
        }
        ++m_stats.messages_in;
        m_stats.bytes_in += payload.size();
        m_handler.on_message(*this, Message{payload});
    });
    if (!fits) {
        finish(ExitCode::protocol_error, true,
               fmt::format("message from {} longer than {} bytes without a delimiter", name(),
                           proto::Framer::k_default_max_message));
    }
}

void TcpConnection::on_stream_end(int status) {
    DispatchGuard guard(*this);
    if (m_state == State::closed) {
        return;
    }
    if (m_state == State::connecting) {
        on_stream_connected(status);
        return;
    }
    if (status == UV_EOF) {
        if (m_peer_finished) {
            return; // TLS: the TCP FIN after the close_notify that already said so
        }
        if (m_state == State::handshaking) {
            finish(ExitCode::tls_failed, true,
                   fmt::format("TLS: {} closed the connection during the handshake", name()));
            return;
        }
        m_framer.finish([this](std::string_view payload) {
            ++m_stats.messages_in;
            m_stats.bytes_in += payload.size();
            m_handler.on_message(*this, Message{payload});
        });
        // A half-close: the peer may still read what we have to send, if the handler has more.
        // Over TLS (close_notify) only on the client side: a TLS client such as socat takes
        // its close_notify as the end of the whole connection and waits for ours.
        if ((!m_tls || !m_accepted) && m_state == State::open && !m_sending_finished &&
            !m_peer_finished && m_handler.on_peer_finished(*this)) {
            if (m_state == State::open) {
                m_peer_finished = true;
                core::log_debug("{} finished sending; sending goes on", name());
            }
            return;
        }
        finish(ExitCode::ok, true, "closed by peer");
        return;
    }
    finish(exit_code_for_uv_error(status), true,
           fmt::format("connection to {}: {}", name(), uv_strerror(status)));
}

void TcpConnection::on_stream_drain() {
    DispatchGuard guard(*this);
    if (m_state == State::open) {
        m_handler.on_drain(*this);
    }
}

void TcpConnection::on_stream_shutdown(int status) {
    DispatchGuard guard(*this);
    if (m_state != State::open || !m_peer_finished) {
        return; // the peer's EOF ends the connection when it comes
    }
    if (status != 0) {
        finish(exit_code_for_uv_error(status), true,
               fmt::format("connection to {}: {}", name(), uv_strerror(status)));
        return;
    }
    finish(ExitCode::ok, true, "closed by peer"); // both sides are done
}

void TcpConnection::write_plain(std::string_view bytes) {
    if (!m_tls) {
        m_stream->write(bytes);
        return;
    }
    m_scratch_cipher.clear();
    m_tls->send(bytes, m_scratch_cipher);
    m_stream->write(m_scratch_cipher);
}

bool TcpConnection::send(const Message& message) {
    if (m_state != State::open || m_sending_finished) {
        return false;
    }
    ++m_stats.messages_out;
    m_stats.bytes_out += message.payload.size();
    std::string_view delimiter = proto::framing_delimiter(m_options.framing);
    if (delimiter.empty()) {
        write_plain(message.payload);
    } else {
        m_frame.assign(message.payload);
        m_frame.append(delimiter);
        write_plain(m_frame);
    }
    return true;
}

void TcpConnection::finish_sending() {
    if (m_state != State::open || m_sending_finished) {
        return;
    }
    m_sending_finished = true;
    if (m_tls) {
        // close_notify closes our write side only (RFC 8446 section 6.1); we keep reading
        // until the peer closes, as with a plain TCP half-close.
        m_scratch_cipher.clear();
        m_tls->shutdown(m_scratch_cipher);
        m_stream->write(m_scratch_cipher);
    }
    m_stream->shutdown();
}

void TcpConnection::close() {
    if (m_state == State::closed) {
        return;
    }
    finish(ExitCode::ok, false, "closed");
}

void TcpConnection::pause_receiving(bool paused) {
    if (m_state != State::open || m_peer_finished || !m_stream) {
        return; // nothing more comes once the peer finished
    }
    if (paused) {
        m_stream->stop_reading();
    } else {
        m_stream->start_reading();
    }
}

std::size_t TcpConnection::buffered_bytes() const {
    return m_stream ? m_stream->buffered() : 0;
}

void TcpConnection::finish(ExitCode code, bool by_peer, std::string reason) {
    if (m_state == State::closed) {
        return;
    }
    bool was_open = m_state == State::open;
    m_state = State::closed;
    m_connect_timer.stop();
    if (m_stream) {
        if (m_tls && was_open && !by_peer && !m_sending_finished) {
            m_scratch_cipher.clear();
            m_tls->shutdown(m_scratch_cipher);
            m_stream->write(m_scratch_cipher);
        }
        m_stream->close();
    }
    CloseInfo info;
    info.exit_code = code;
    info.by_peer = by_peer;
    info.was_open = was_open;
    info.reason = std::move(reason);
    if (m_dispatch_depth > 0) {
        m_close_info = std::move(info); // DispatchGuard delivers it when the callback unwinds
        m_close_deferred = true;
        return;
    }
    m_handler.on_close(*this, info); // last: the handler may destroy us
}

} // namespace rtx::transport
