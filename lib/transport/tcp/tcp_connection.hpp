#pragma once

#include "core/loop.hpp"
#include "core/timer.hpp"
#include "core/url.hpp"
#include "proto/framing.hpp"
#include "transport/connection.hpp"
#include "transport/tcp/tcp_stream.hpp"
#include "transport/tcp/tls_session.hpp"

#include <memory>
#include <optional>
#include <vector>

namespace rtx::transport {

/// A raw TCP (optionally TLS) client connection: resolve, try each address in turn, connect,
/// handshake, then frame the byte stream into Messages (ConnectOptions::framing) both ways.
/// A "unix" URL connects to the Unix domain socket at its path instead; accept() makes the
/// server side of a connection a listener accepted.
/// Loop thread only.
class TcpConnection final : public Connection, private StreamHandler {
public:
    TcpConnection(core::Loop& loop, core::Url url, ConnectOptions options, Handler& handler,
                  std::uint64_t id);
    ~TcpConnection() override;

    /// The server side: takes the next pending connection of `server` (a listening uv_tcp_t,
    /// or a uv_pipe_t for `kind` unix_socket); null when uv_accept fails. With `tls`, the peer's
    /// handshake is answered (within options.connect_timeout) before on_open. start() then opens
    /// it.
    static std::unique_ptr<TcpConnection> accept(core::Loop& loop, uv_stream_t* server,
                                                 StreamKind kind, ConnectOptions options,
                                                 std::unique_ptr<TlsSession> tls, Handler& handler,
                                                 std::uint64_t id);
    /// "ip:port" of the peer ("?" before the connection is made).
    std::string peer_name() const { return m_stream ? m_stream->peer_name() : "?"; }

    /// Starts resolving and connecting on the next loop turn; the Handler then hears on_open
    /// or on_close (never from inside start()).
    void start();

    bool send(const Message& message) override;
    void finish_sending() override;
    void close() override;
    bool is_open() const override { return m_state == State::open; }
    std::size_t buffered_bytes() const override;
    void pause_receiving(bool paused) override;
    const ConnectionStats& stats() const override { return m_stats; }
    std::uint64_t id() const override { return m_id; }

private:
    enum class State { idle, resolving, connecting, handshaking, open, closed };
    struct Resolve;
    /// Marks a stream callback in progress. The Handler may call close() from inside
    /// on_message; on_close (after which the owner may destroy us) is then deferred until
    /// the outermost callback unwinds, so nothing touches a destroyed connection.
    class DispatchGuard {
    public:
        explicit DispatchGuard(TcpConnection& connection);
        ~DispatchGuard();
        DispatchGuard(const DispatchGuard&) = delete;
        DispatchGuard& operator=(const DispatchGuard&) = delete;

    private:
        TcpConnection& m_connection;
    };

    void begin();
    void begin_accepted();
    /// The peer for messages: "host:port", or "unix:/path" for a Unix domain socket.
    std::string name() const;
    void on_resolved(int status, addrinfo* result);
    void connect_next();
    void on_stream_connected(int status) override;
    void on_stream_data(std::string_view bytes) override;
    void on_stream_end(int status) override;
    void on_stream_drain() override;
    void on_stream_shutdown(int status) override;
    void become_open();
    void deliver(std::string_view plaintext);
    void write_plain(std::string_view bytes);
    void finish(core::ExitCode code, bool by_peer, std::string reason);

    core::Loop& m_loop;
    core::Url m_url;
    ConnectOptions m_options;
    Handler& m_handler;
    std::uint64_t m_id;
    State m_state = State::idle;
    std::unique_ptr<TcpStream> m_stream;
    std::unique_ptr<TlsSession> m_tls;
    Resolve* m_resolve = nullptr;
    std::vector<sockaddr_storage> m_addresses;
    std::optional<sockaddr_storage> m_source; ///< ConnectOptions::source_ip, parsed.
    std::size_t m_next_address = 0;
    std::string m_last_connect_error;
    core::Timer m_connect_timer;
    proto::Framer m_framer;
    std::string m_scratch_plain;  ///< Reused: decrypted bytes of one read.
    std::string m_scratch_cipher; ///< Reused: TLS records to send.
    std::string m_frame;          ///< Reused: payload + delimiter of one send.
    bool m_sending_finished = false;
    bool m_peer_finished = false; ///< The peer's FIN came and the handler kept us open.
    bool m_accepted = false;      ///< Server side: made by accept().
    int m_dispatch_depth = 0;
    bool m_close_deferred = false;
    CloseInfo m_close_info; ///< Held while on_close is deferred.
    std::uint64_t m_started_ms = 0;
    ConnectionStats m_stats;
};

} // namespace rtx::transport
