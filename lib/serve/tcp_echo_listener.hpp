#pragma once

#include "core/error.hpp"
#include "core/loop.hpp"
#include "serve/listener.hpp"
#include "serve/socket_address.hpp"
#include "serve/tls_config.hpp"

#include <cstdint>
#include <memory>
#include <unordered_map>

namespace rtx::serve {

namespace fault {
class Injector;
} // namespace fault

/// The raw TCP echo endpoint: every byte received is sent back unchanged. Stops reading a
/// connection while more than 1 MiB of echo waits for a slow reader; on the peer's FIN it
/// flushes and closes. Loop thread only.
class TcpEchoListener final : public Listener {
public:
    /// Binds and listens; ExitCode::bind_failed if the address is taken or invalid. With
    /// `tls` (which must outlive the listener) every connection speaks TLS (tls://).
    /// `faults` (--fault; may be null, else it must outlive the listener) refuses, drops,
    /// delays and throttles connections.
    static core::Result<std::unique_ptr<TcpEchoListener>>
    create(core::Loop& loop, const SocketAddress& address, const TlsServerContext* tls = nullptr,
           fault::Injector* faults = nullptr);
    ~TcpEchoListener() override;

    std::string name() const override { return "tcp-echo"; }
    std::string url() const override;
    void shutdown() override;
    std::size_t connections() const override { return m_sessions.size(); }

private:
    class Session;
    explicit TcpEchoListener(core::Loop& loop);
    void on_connection(int status);
    void remove(Session* session);

    core::Loop& m_loop;
    uv_tcp_t* m_server;
    const TlsServerContext* m_tls = nullptr;
    fault::Injector* m_faults = nullptr;
    SocketAddress m_bound;
    std::unordered_map<Session*, std::unique_ptr<Session>> m_sessions;
};

} // namespace rtx::serve
