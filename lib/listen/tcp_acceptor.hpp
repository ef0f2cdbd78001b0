#pragma once

#include "core/error.hpp"
#include "core/loop.hpp"
#include "listen/acceptor.hpp"
#include "serve/socket_address.hpp"
#include "transport/connection.hpp"
#include "transport/tcp/tcp_stream.hpp"

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

namespace rtx::listen {

/// `rtx tcp -l`: accepts TCP (or Unix domain socket) connections (TLS when options.tls.enabled: the
/// certificate and key of options.tls, the handshake within options.connect_timeout) as
/// TcpConnections that frame their bytes with options.framing. Loop thread only.
class TcpAcceptor final : public Acceptor {
public:
    /// Binds and listens; ExitCode::bind_failed when the address is taken, usage when it is
    /// not an IP address, tls_failed when the certificate or key cannot be loaded.
    static core::Result<std::unique_ptr<TcpAcceptor>> create(core::Loop& loop,
                                                             const serve::SocketAddress& address,
                                                             transport::ConnectOptions options);
    /// The same on a Unix domain socket at `path` (`unix:/path`), which is removed again when
    /// the acceptor stops; ExitCode::bind_failed when the path exists or cannot be made.
    static core::Result<std::unique_ptr<TcpAcceptor>>
    create_unix(core::Loop& loop, const std::string& path, transport::ConnectOptions options);
    ~TcpAcceptor() override;

    void start(transport::Handler& handler, OnAccept on_accept) override;
    void stop() override;
    std::string url() const override;

private:
    TcpAcceptor(core::Loop& loop, transport::ConnectOptions options, transport::StreamKind kind);
    static core::Result<bool> check_tls(const transport::ConnectOptions& options);
    void on_connection(int status);

    core::Loop& m_loop;
    transport::ConnectOptions m_options;
    transport::StreamKind m_kind;
    uv_stream_t* m_server = nullptr; ///< A uv_tcp_t, or a uv_pipe_t for a Unix socket.
    serve::SocketAddress m_bound;
    std::string m_unix_path; ///< The socket file we made; removed at stop().
    transport::Handler* m_handler = nullptr;
    OnAccept m_on_accept;
    std::uint64_t m_next_id = 1;
};

} // namespace rtx::listen
