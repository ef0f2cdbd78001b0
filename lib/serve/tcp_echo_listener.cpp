#include "serve/tcp_echo_listener.hpp"

#include "core/log.hpp"
#include "serve/fault/injector.hpp"
#include "serve/server_stream.hpp"

#include <fmt/format.h>

namespace rtx::serve {

namespace {
constexpr std::size_t k_echo_high_water = 1 << 20;
}

/// One accepted connection. Owned by the listener's map; removes itself when it ends.
class TcpEchoListener::Session final : private transport::StreamHandler {
public:
    Session(TcpEchoListener& listener, uv_loop_t* loop)
        : m_listener(listener)
        , m_stream(loop, *this, listener.m_tls) {}
    ServerStream& stream() { return m_stream; }
    void start() { m_stream.start_reading(); }
    /// --fault: each chunk read is a message; a drop resets the connection.
    void set_faults(std::unique_ptr<fault::ConnectionFaults> faults) {
        m_faults = std::move(faults);
        m_faults->on_drop([this] {
            fault::reset_on_close(reinterpret_cast<uv_handle_t*>(m_stream.stream()));
            m_listener.remove(this);
        });
    }
    /// Graceful close at shutdown: flush queued echo, then FIN.
    void finish() {
        m_finishing = true;
        m_stream.stop_reading();
        if (m_stream.buffered() == 0) {
            m_listener.remove(this); // closing the socket sends the FIN
            return;
        }
        m_stream.shutdown(); // FIN after the queued echo; on_stream_drain removes us
    }

private:
    void on_stream_data(std::string_view bytes) override {
        if (!m_faults) {
            echo(bytes);
        } else if (m_faults->shapes()) {
            m_faults->send(bytes.size(), [this, held = std::string(bytes)] { echo(held); });
        } else {
            m_faults->send(bytes.size(), [this, bytes] { echo(bytes); });
        }
    }
    void echo(std::string_view bytes) {
        m_stream.write(bytes);
        if (m_stream.buffered() > k_echo_high_water) {
            m_stream.stop_reading(); // the client is not reading its echo: stop reading too
            m_reading_paused = true;
        }
    }
    void on_stream_drain() override {
        if (m_finishing || m_peer_done) {
            m_listener.remove(this);
            return;
        }
        if (m_reading_paused) {
            m_reading_paused = false;
            m_stream.start_reading();
        }
    }
    void on_stream_end(int status) override {
        if (status == UV_EOF && m_stream.buffered() > 0) {
            m_peer_done = true; // echo the rest, then close (on_stream_drain)
            m_stream.shutdown();
            return;
        }
        m_listener.remove(this);
    }

    TcpEchoListener& m_listener;
    ServerStream m_stream;
    std::unique_ptr<fault::ConnectionFaults> m_faults;
    bool m_reading_paused = false;
    bool m_finishing = false;
    bool m_peer_done = false;
};

TcpEchoListener::TcpEchoListener(core::Loop& loop)
    : m_loop(loop)
    , m_server(new uv_tcp_t) {
    uv_tcp_init(loop.native(), m_server);
    m_server->data = this;
}

TcpEchoListener::~TcpEchoListener() {
    m_sessions.clear();
    core::close_and_delete(m_server);
}

core::Result<std::unique_ptr<TcpEchoListener>> TcpEchoListener::create(core::Loop& loop,
                                                                       const SocketAddress& address,
                                                                       const TlsServerContext* tls,
                                                                       fault::Injector* faults) {
    std::unique_ptr<TcpEchoListener> listener(new TcpEchoListener(loop));
    listener->m_tls = tls;
    listener->m_faults = faults;
    auto port = bind_and_listen(listener->m_server, address, [](uv_stream_t* server, int status) {
        static_cast<TcpEchoListener*>(server->data)->on_connection(status);
    });
    if (!port) {
        return port.error();
    }
    listener->m_bound = address;
    listener->m_bound.port = port.value();
    return listener;
}

std::string TcpEchoListener::url() const {
    return (m_tls != nullptr ? "tls://" : "tcp://") + m_bound.authority();
}

void TcpEchoListener::on_connection(int status) {
    if (status != 0) {
        core::log_verbose("tcp-echo: accept: {}", uv_strerror(status));
        return;
    }
    auto session = std::make_unique<Session>(*this, m_loop.native());
    if (uv_accept(reinterpret_cast<uv_stream_t*>(m_server), session->stream().stream()) != 0) {
        return;
    }
    core::log_debug("tcp-echo: connection from {}", session->stream().peer_name());
    if (m_faults != nullptr) {
        auto faults = m_faults->open(fault::Protocol::tcp);
        if (faults->refused()) {
            fault::reset_on_close(reinterpret_cast<uv_handle_t*>(session->stream().stream()));
            return; // the session's destructor closes the socket: a reset
        }
        session->set_faults(std::move(faults));
    }
    session->start();
    Session* key = session.get();
    m_sessions.emplace(key, std::move(session));
}

void TcpEchoListener::remove(Session* session) {
    m_sessions.erase(session);
}

void TcpEchoListener::shutdown() {
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(m_server))) {
        uv_close(reinterpret_cast<uv_handle_t*>(m_server),
                 [](uv_handle_t* handle) { delete reinterpret_cast<uv_tcp_t*>(handle); });
    }
    m_server = nullptr;
    std::vector<Session*> open;
    open.reserve(m_sessions.size());
    for (auto& entry : m_sessions) {
        open.push_back(entry.first);
    }
    for (Session* session : open) {
        session->finish();
    }
}

} // namespace rtx::serve
