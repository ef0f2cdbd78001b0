#pragma once

#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/loop.hpp"
#include "core/url.hpp"
#include "transport/connection.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace rtx::transport {

/// WebSocket close codes rtx names (RFC 6455 section 7.4.1).
namespace ws_close {
inline constexpr int normal = 1000;
inline constexpr int going_away = 1001;
inline constexpr int protocol_error = 1002;
inline constexpr int no_status = 1005; ///< The close frame carried no code.
inline constexpr int abnormal = 1006;  ///< No close frame at all (never sent on the wire).
inline constexpr int invalid_payload = 1007;
inline constexpr int message_too_big = 1009;
} // namespace ws_close

/// What one `rtx ws` connection asks of the handshake and the session (the command line's
/// -H, --origin, --subprotocol, --no-compress, --max-message, --ping-*, --close-code).
struct WsOptions {
    std::vector<std::string> subprotocols; ///< Offered in Sec-WebSocket-Protocol, in order.
    std::vector<std::pair<std::string, std::string>> headers; ///< Extra handshake headers.
    std::string origin;                                       ///< Origin header; empty: none.
    bool compress = true; ///< Offer permessage-deflate (RFC 7692).
    /// A received message larger than this closes the connection with 1009.
    std::size_t max_message = 64 * 1024 * 1024;
    core::Duration ping_interval{0}; ///< Send a ping this often; 0: never.
    /// Close (ExitCode::timeout) when a ping is not answered this soon; 0: no check.
    core::Duration ping_timeout{0};
    int close_code = ws_close::normal; ///< The code of our close frame.
    std::string close_reason;          ///< Its reason text (at most 123 bytes).
    /// After our close frame, how long to wait for the server's before dropping the socket.
    core::Duration linger = std::chrono::seconds(5);
    /// Once the handshake is done, rtx reads and writes the frames itself (proto::WsReader)
    /// instead of lws's parser, which cannot follow RFC 6455's rules for failing a
    /// connection (docs/ARCHITECTURE.md). `rtx ws` sets it; bench, holding thousands of
    /// connections, keeps lws's framing (this needs a second descriptor per connection).
    bool own_framing = false;

    bool operator==(const WsOptions&) const = default;
};

/// The client side of libwebsockets on one core::Loop: one lws context (TLS trust and
/// client certificate, HTTP proxy) that every WebSocket connection made through it shares.
/// `rtx ws` makes one; each bench worker thread makes one for its loop (Debian's lws is
/// built with LWS_MAX_SMP 1: one context per loop). Loop thread only.
///
/// Lifetime: every Connection from connect() must be destroyed before the WsClient. The
/// destructor frees the lws context by running the loop (UV_RUN_NOWAIT) until lws has
/// closed its handles, so it must not run inside a loop callback.
class WsClient {
public:
    static constexpr std::size_t k_default_rx_buffer = 64 * 1024;

    /// `tls` applies to every wss:// connection (CA file, client certificate, --insecure is
    /// per connection). `proxy` is an HTTP CONNECT proxy "host:port"; empty: none.
    /// `rx_buffer` is the size of the receive buffer lws allocates for every connection when
    /// it opens, which is also the largest piece of a message handed over at once (larger
    /// messages are joined from pieces): `rtx ws` takes big pieces, `rtx bench` holding
    /// thousands of connections a small buffer (most of an idle connection's memory).
    WsClient(core::Loop& loop, TlsOptions tls, std::string proxy = {},
             std::size_t rx_buffer = k_default_rx_buffer);
    ~WsClient();
    WsClient(const WsClient&) = delete;
    WsClient& operator=(const WsClient&) = delete;

    /// Creates the lws context. ExitCode::tls_failed when a certificate or key file cannot
    /// be loaded, ExitCode::failure when lws cannot run on the loop.
    core::Result<bool> init();

    /// Starts connecting to a ws:// or wss:// URL; the handler hears on_open or on_close
    /// (never from inside this call). Precondition: init() succeeded.
    std::unique_ptr<Connection> connect(const core::Url& url, const ConnectOptions& connect,
                                        const WsOptions& options, Handler& handler,
                                        std::uint64_t id);

    struct Impl;

private:
    std::unique_ptr<Impl> m_impl;
};

/// "1000 (normal closure)", "1008 (policy violation)", "4001": a close code for messages.
std::string describe_close_code(int code);

} // namespace rtx::transport
