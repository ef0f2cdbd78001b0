#include "listen/tcp_acceptor.hpp"

#include "core/log.hpp"
#include "transport/tcp/tcp_connection.hpp"
#include "transport/tcp/tls_session.hpp"

#include <fmt/format.h>

#include <unistd.h>

namespace rtx::listen {

TcpAcceptor::TcpAcceptor(core::Loop& loop, transport::ConnectOptions options,
                         transport::StreamKind kind)
    : m_loop(loop)
    , m_options(std::move(options))
    , m_kind(kind) {
    if (kind == transport::StreamKind::unix_socket) {
        auto* pipe = new uv_pipe_t;
        uv_pipe_init(loop.native(), pipe, 0);
        m_server = reinterpret_cast<uv_stream_t*>(pipe);
    } else {
        auto* tcp = new uv_tcp_t;
        uv_tcp_init(loop.native(), tcp);
        m_server = reinterpret_cast<uv_stream_t*>(tcp);
    }
    m_server->data = this;
}

TcpAcceptor::~TcpAcceptor() {
    stop();
}

core::Result<bool> TcpAcceptor::check_tls(const transport::ConnectOptions& options) {
    if (options.tls.enabled) {
        // Loaded once here so that a bad file is an error before anyone connects.
        auto probe = transport::TlsSession::create_server(options.tls);
        if (!probe) {
            return probe.error();
        }
    }
    return true;
}

core::Result<std::unique_ptr<TcpAcceptor>>
TcpAcceptor::create_unix(core::Loop& loop, const std::string& path,
                         transport::ConnectOptions options) {
    if (auto tls = check_tls(options); !tls) {
        return tls.error();
    }
    std::unique_ptr<TcpAcceptor> acceptor(
        new TcpAcceptor(loop, std::move(options), transport::StreamKind::unix_socket));
    auto* pipe = reinterpret_cast<uv_pipe_t*>(acceptor->m_server);
    int rc = uv_pipe_bind(pipe, path.c_str());
    if (rc == 0) {
        acceptor->m_unix_path = path; // ours from here on: removed at stop()
        rc = uv_listen(acceptor->m_server, serve::listen_backlog(),
                       [](uv_stream_t* server, int status) {
                           static_cast<TcpAcceptor*>(server->data)->on_connection(status);
                       });
    }
    if (rc != 0) {
        return core::Error{core::ExitCode::bind_failed,
                           fmt::format("listen on unix:{}: {}", path, uv_strerror(rc))};
    }
    return acceptor;
}

core::Result<std::unique_ptr<TcpAcceptor>> TcpAcceptor::create(core::Loop& loop,
                                                               const serve::SocketAddress& address,
                                                               transport::ConnectOptions options) {
    if (auto tls = check_tls(options); !tls) {
        return tls.error();
    }
    std::unique_ptr<TcpAcceptor> acceptor(
        new TcpAcceptor(loop, std::move(options), transport::StreamKind::tcp));
    auto port = bind_and_listen(reinterpret_cast<uv_tcp_t*>(acceptor->m_server), address,
                                [](uv_stream_t* server, int status) {
                                    static_cast<TcpAcceptor*>(server->data)->on_connection(status);
                                });
    if (!port) {
        return port.error();
    }
    acceptor->m_bound = address;
    acceptor->m_bound.port = port.value();
    return acceptor;
}

void TcpAcceptor::start(transport::Handler& handler, OnAccept on_accept) {
    m_handler = &handler;
    m_on_accept = std::move(on_accept);
}

void TcpAcceptor::stop() {
    if (m_server != nullptr) {
        if (m_kind == transport::StreamKind::unix_socket) {
            core::close_and_delete(reinterpret_cast<uv_pipe_t*>(m_server));
        } else {
            core::close_and_delete(reinterpret_cast<uv_tcp_t*>(m_server));
        }
        m_server = nullptr;
    }
    if (!m_unix_path.empty()) {
        ::unlink(m_unix_path.c_str());
        m_unix_path.clear();
    }
}

std::string TcpAcceptor::url() const {
    if (m_kind == transport::StreamKind::unix_socket) {
        return (m_options.tls.enabled ? "tls+unix:" : "unix:") + m_unix_path;
    }
    return (m_options.tls.enabled ? "tls://" : "tcp://") + m_bound.authority();
}

void TcpAcceptor::on_connection(int status) {
    if (status != 0) {
        core::log_verbose("accept: {}", uv_strerror(status));
        return;
    }
    if (m_handler == nullptr) {
        return; // not started yet: the connection waits in the backlog
    }
    std::unique_ptr<transport::TlsSession> tls;
    if (m_options.tls.enabled) {
        auto session = transport::TlsSession::create_server(m_options.tls);
        if (!session) {
            core::log_error("{}", session.error().message);
            return;
        }
        tls = std::move(session.value());
    }
    auto connection = transport::TcpConnection::accept(m_loop, m_server, m_kind, m_options,
                                                       std::move(tls), *m_handler, m_next_id);
    if (!connection) {
        return;
    }
    ++m_next_id;
    transport::TcpConnection& accepted = *connection;
    std::string peer = accepted.peer_name();
    m_on_accept(std::move(connection), std::move(peer)); // must not close it
    accepted.start();                                    // on_open follows on a later loop turn
}

} // namespace rtx::listen
