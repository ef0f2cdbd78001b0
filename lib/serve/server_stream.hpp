#pragma once

#include "serve/tls_config.hpp"
#include "transport/tcp/tcp_stream.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace rtx::serve {

/// An accepted connection of a listener that runs its own socket (MQTT, TCP echo): a
/// TcpStream, with TLS in between when the listener has a TlsServerContext. The surface is
/// TcpStream's, so a listener does not care which; the handler sees plaintext. A TLS
/// failure (no handshake, a bad client certificate) ends the stream as a socket error
/// would (on_stream_end with UV_EPROTO), and the peer's close_notify as EOF would. Like
/// TcpStream it may be destroyed from inside its own callbacks. Loop thread only.
class ServerStream final : private transport::StreamHandler {
public:
    /// `tls` (may be null: plain TCP) must outlive the stream.
    ServerStream(uv_loop_t* loop, transport::StreamHandler& handler, const TlsServerContext* tls);
    ~ServerStream() override;
    ServerStream(const ServerStream&) = delete;
    ServerStream& operator=(const ServerStream&) = delete;

    uv_stream_t* stream() { return m_tcp.stream(); }
    void start_reading() { m_tcp.start_reading(); }
    void stop_reading() { m_tcp.stop_reading(); }
    /// Queues plaintext; never blocks.
    void write(std::string_view bytes);
    /// close_notify (TLS) and FIN once queued bytes are written.
    void shutdown();
    /// close_notify (TLS), then as TcpStream::close.
    void close();
    bool closed() const { return m_tcp.closed(); }
    /// Bytes queued or in flight (ciphertext with TLS).
    std::size_t buffered() const { return m_tcp.buffered(); }
    std::string peer_name() const { return m_tcp.peer_name(); }

private:
    void on_stream_data(std::string_view bytes) override;
    void on_stream_end(int status) override;
    void on_stream_drain() override { m_handler.on_stream_drain(); }

    transport::StreamHandler& m_handler;
    transport::TcpStream m_tcp;
    std::unique_ptr<TlsServerSession> m_tls;
    /// Expires with this object: a callback learns whether its handler destroyed it.
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
    bool m_ended = false; ///< on_stream_end was passed on.
};

} // namespace rtx::serve
