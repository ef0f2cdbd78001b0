#pragma once

#include "core/duration.hpp"
#include "core/exit_code.hpp"
#include "proto/framing.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rtx::transport {

/// Whether a payload is text or bytes (WebSocket opcode, MQTT payload format, ...).
enum class PayloadKind { text, binary };

/// One message in either direction, for every protocol. A non-owning view: the bytes are
/// valid only for the duration of the call that receives the Message (no copy on receive).
struct Message {
    Message() = default;
    explicit Message(std::string_view bytes, PayloadKind payload_kind = PayloadKind::text)
        : payload(bytes)
        , kind(payload_kind) {}

    std::string_view payload;
    PayloadKind kind = PayloadKind::text;
    std::string_view topic; ///< Hub or MQTT topic, SSE event name; empty when none.
    std::string_view id;    ///< SSE id, hub sequence number; empty when none.
    int qos = 0;            ///< MQTT QoS 0..2.
    bool retain = false;    ///< MQTT retain flag.
    /// MQTT 5 properties of a received message as one JSON object; empty when none.
    std::string_view properties_json;
};

/// Why a connection ended. exit_code is ExitCode::ok for a normal end (closed by us, or a
/// clean close by the peer).
struct CloseInfo {
    core::ExitCode exit_code = core::ExitCode::ok;
    bool by_peer = false;  ///< The peer ended it (EOF, close frame, reset).
    bool was_open = false; ///< The connection had opened (false: connect/handshake failed).
    int protocol_code = 0; ///< WebSocket close code, HTTP status, MQTT reason code; 0: none.
    std::string reason;    ///< One line for the user, e.g. "connect to 127.0.0.1:1: refused".
    /// HTTP Retry-After: the next attempt waits at least this long (no jitter, no cap).
    std::optional<core::Duration> retry_after;
    /// SSE reconnection time (`retry:` or the default): the wait after a clean end, and the
    /// base and floor of the backoff after a failure.
    std::optional<core::Duration> reconnect_time;
    /// The server said not to come back (SSE: HTTP 204): no reconnect, whatever the policy.
    bool final = false;
};

/// Counters every connection keeps; merged by bench, shown by -v.
struct ConnectionStats {
    std::uint64_t messages_in = 0;
    std::uint64_t messages_out = 0;
    std::uint64_t bytes_in = 0;     ///< Payload bytes, after framing/TLS.
    std::uint64_t bytes_out = 0;    ///< Payload bytes, before framing/TLS.
    core::Duration connect_time{0}; ///< From connect() to open (TCP + TLS + handshakes).
};

class Connection;

/// What a protocol reports to its user. Callbacks run on the connection's loop thread.
/// Re-entrancy rules every adapter keeps: close() may be called from inside any callback,
/// and on_close then arrives after that callback has returned; on_close never runs inside
/// connect()/start(); a Connection may be destroyed from inside on_close (nothing touches it
/// after that call).
class Handler {
public:
    virtual ~Handler() = default;
    /// The connection is ready for send() (TCP connected, TLS and protocol handshakes done).
    virtual void on_open(Connection& connection) { (void)connection; }
    /// A message arrived. `message` and its views are valid only during the call.
    virtual void on_message(Connection& connection, const Message& message) = 0;
    /// The connection ended (or never opened). Called exactly once per connection.
    virtual void on_close(Connection& connection, const CloseInfo& info) = 0;
    /// Everything queued with send() has been handed to the kernel (resume producing).
    virtual void on_drain(Connection& connection) { (void)connection; }
    /// Raw TCP: the peer finished sending (FIN; over TLS its close_notify, client side only)
    /// while our side is still open, so it may still read. Return true to keep the connection
    /// open for sending: it then ends when the handler calls finish_sending() (once the queued
    /// bytes and our FIN went; on_close with by_peer) or close(). false (the default): it
    /// closes now, as a protocol without a half-close does.
    virtual bool on_peer_finished(Connection& connection) {
        (void)connection;
        return false;
    }
    /// HTTP clients with -i: a response head as received (status line, header lines, blank
    /// line), before the body it heads.
    virtual void on_head_text(Connection& connection, std::string_view text) {
        (void)connection;
        (void)text;
    }
};

/// One live connection of any protocol. Loop thread only; owned by whoever connected it.
class Connection {
public:
    virtual ~Connection() = default;
    /// Queues a message; false if the connection is not open or sending was finished.
    /// Never blocks: check buffered_bytes() and wait for Handler::on_drain to bound memory.
    virtual bool send(const Message& message) = 0;
    /// No more sends: flushes what is queued, then half-closes where the protocol can (TCP
    /// FIN, WebSocket close frame). Receiving goes on until the peer ends.
    virtual void finish_sending() = 0;
    /// Ends the connection gracefully now; on_close follows (by_peer = false).
    virtual void close() = 0;
    /// True between on_open and on_close.
    virtual bool is_open() const = 0;
    /// Bytes queued by send() and not yet written to the socket.
    virtual std::size_t buffered_bytes() const = 0;
    virtual const ConnectionStats& stats() const = 0;
    /// A small number that names this connection in logs and NDJSON records.
    virtual std::uint64_t id() const = 0;
    /// Stops (true) or restarts (false) reading what the peer sends, where the protocol can
    /// (raw TCP, an accepted WebSocket): the peer then waits on flow control, and nothing
    /// it sends piles up here. Elsewhere a no-op.
    virtual void pause_receiving(bool paused) { (void)paused; }
    /// Sends a ping now, where the protocol has one (WebSocket); false where it has not or
    /// the connection is not open.
    virtual bool send_ping(std::string_view payload) {
        (void)payload;
        return false;
    }
    /// close() with a protocol close code and reason of the user's (WebSocket); protocols
    /// without one close as close() does.
    virtual void close_with(int code, const std::string& reason) {
        (void)code;
        (void)reason;
        close();
    }
};

/// TLS settings shared by every client (`--tls`, `--cacert`, `--insecure`, `--cert`).
struct TlsOptions {
    bool enabled = false;
    bool insecure = false;   ///< Skip certificate and host name verification.
    std::string ca_file;     ///< PEM bundle to trust instead of the system store.
    std::string cert_file;   ///< Client certificate (PEM), optional.
    std::string key_file;    ///< Client key (PEM), optional.
    std::string server_name; ///< SNI and verification name; default: the URL host.
};

/// Options that apply to every transport; protocol adapters read the parts they need.
struct ConnectOptions {
    core::Duration connect_timeout{std::chrono::seconds(10)};
    TlsOptions tls;
    proto::Framing framing = proto::Framing::lines; ///< Raw TCP: how bytes become messages.
    /// Local address to bind before connecting ("127.0.0.2"); empty: the kernel picks. The
    /// port is left to connect() (IP_BIND_ADDRESS_NO_PORT), so spreading connections over
    /// several loopback sources gives one destination more than one address's ~28k
    /// ephemeral ports (`rtx bench --source-ip`).
    std::string source_ip;
    /// WebSocket: connect to this Unix domain socket instead of the URL's host and port (the
    /// URL still gives the Host header and the path; `rtx ws --unix-socket`); empty: TCP.
    std::string unix_socket;
};

} // namespace rtx::transport
