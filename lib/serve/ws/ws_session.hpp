#pragma once

#include "core/lazy_deque.hpp"
#include "core/loop.hpp"
#include "core/timer.hpp"
#include "proto/ws_codec.hpp"
#include "serve/hub.hpp"

#include <uv.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

typedef struct ssl_st SSL;

namespace rtx::serve::ws {

/// What a WsSession tells the endpoint that owns it.
class WsSessionEvents {
public:
    virtual ~WsSessionEvents() = default;
    /// A whole message from the peer (fragments joined, inflated, UTF-8 checked); the view
    /// is valid during the call.
    virtual void on_session_message(bool binary, std::string_view payload) = 0;
    /// Bytes came from the peer (keepalive: it is alive).
    virtual void on_session_heard() = 0;
    /// The peer's close frame came, with its code (none when it had no body) and reason.
    virtual void on_session_close(std::optional<int> code, std::string_view reason) {
        (void)code;
        (void)reason;
    }
    /// Everything queued went to the socket (a producer that waited may go on).
    virtual void on_session_drained() {}
    /// The session is over (close handshake done, linger expired, EOF or a socket error);
    /// nothing more is called. The owner hands the socket back to lws to close.
    virtual void on_session_end() = 0;
};

/// How a session frames its messages; from the handshake lws made.
struct WsSessionSettings {
    /// The largest message received, after reassembly and inflation (else close 1009).
    std::size_t max_message = 64 * 1024 * 1024;
    /// permessage-deflate was negotiated (RFC 7692).
    bool deflate = false;
    /// Our compressor's window (server_max_window_bits); 0: the peer asked for a window
    /// zlib cannot honour (8 bits), so messages go out uncompressed, as RFC 7692 allows.
    int deflate_window_bits = 15;
    /// server_no_context_takeover was asked: the compressor starts over per message.
    bool deflate_no_context_takeover = false;
    /// Reading stops while more than this many bytes of messages wait to go out, and
    /// resumes once everything went (a peer that sends faster than it reads).
    std::size_t max_queued = 64 * 1024 * 1024;
};

/// One WebSocket connection of `rtx serve` after lws made the handshake: the frames both
/// ways are ours (RFC 6455, RFC 7692), read and written on lws's socket while lws leaves it
/// alone, as `rtx ws` does on the client side (docs/ARCHITECTURE.md). lws 4.1's own framing answers
/// a burst of pings with one pong and waits 5 s for the answer to a close it sent; this answers
/// every ping in order, ignores what follows the peer's close, and hangs up as soon as the close
/// handshake is done or a short linger ends.
///
/// Outgoing frames wait in one queue, in order; a hub message's payload is written from the
/// shared message itself (writev), never copied per subscriber. Loop thread only.
class WsSession final : proto::WsReaderEvents {
public:
    /// `fd` is lws's socket, `ssl` lws's TLS session on it or null; lws must have stopped
    /// reading it (lws_rx_flow_control). Reading starts with start().
    WsSession(core::Loop& loop, int fd, SSL* ssl, WsSessionSettings settings,
              WsSessionEvents& events);
    ~WsSession() override;
    WsSession(const WsSession&) = delete;
    WsSession& operator=(const WsSession&) = delete;

    /// Starts watching the socket; false (nothing started, the caller drops the
    /// connection) when it cannot.
    bool start();
    /// Sends a data message (compressed when it pays, see k_compress_threshold).
    void send(std::shared_ptr<const HubMessage> message);
    /// Queues the echo of a message received (from on_session_message): it leaves with the
    /// pongs and echoes of the same read, in one write at the end of that read.
    void echo(bool binary, std::string_view payload);
    void ping(std::string_view payload);
    /// Starts the close handshake from our side: after what is queued, or at once dropping
    /// the messages not yet begun (`drop_queued`); then waits for the peer's close up to
    /// `linger` and hangs up. Idempotent.
    void close(int code, std::string_view reason, bool drop_queued, core::Duration linger);
    /// Fails the connection as for a protocol violation of the peer: close with its code,
    /// what the peer sends from then on is not parsed, a short linger.
    void fail(const proto::WsViolation& violation);
    /// Hangs up at once, without a close frame (--fault drop); on_session_end follows. Not
    /// from inside a callback of this session.
    void abort() { end(); }
    /// Stops (true) or restarts (false) reading the peer, whatever the queue says (the
    /// owner has nowhere to put what it would send: `rtx ws -l --bridge` while the backend
    /// connects).
    void hold_reading(bool held);
    /// Bytes of data messages not yet written.
    std::size_t queued_bytes() const { return m_queued_bytes; }
    /// A close frame was queued (ours or our answer to the peer's): nothing more is sent.
    bool closing() const { return m_close_queued; }
    bool ended() const { return m_ended; }

private:
    /// Some bytes to write: `head` (owned) then `body`'s payload (shared), from `offset`.
    struct Chunk {
        std::string head;
        std::shared_ptr<const HubMessage> body;
        std::size_t offset = 0;
        std::size_t size() const { return head.size() + (body ? body->payload.size() : 0); }
    };

    void on_ws_message(bool binary, std::string_view payload) override;
    void on_ws_ping(std::string_view payload) override;
    void on_ws_pong(std::string_view payload) override;
    void on_ws_close(std::optional<int> code, std::string_view reason) override;

    /// The string to append an owned frame to: the last chunk's when it carries no body.
    std::string& owned_tail();
    void queue_data(bool binary, std::string_view payload);
    void queue_control(int opcode, std::string_view payload);
    void queue_close_frame(std::optional<int> code, std::string_view reason);
    void read();
    void flush();
    /// Writes what it can of the queue; false when the socket failed (the session ended).
    bool write_some();
    void update_poll();
    void end();

    core::Loop& m_loop;
    int m_fd;
    bool m_owns_fd = false; ///< m_fd is a duplicate of lws's, closed at the end.
    SSL* m_ssl;
    WsSessionSettings m_settings;
    WsSessionEvents& m_events;
    proto::WsReader m_reader;
    std::unique_ptr<proto::WsDeflater> m_deflater;
    uv_poll_t* m_poll = nullptr;
    int m_poll_events = 0;
    core::LazyDeque<Chunk> m_out; ///< Made on first use: most idle sessions never queue.
    std::size_t m_queued_bytes = 0;
    bool m_reading_paused = false;
    bool m_reading_held = false;   ///< hold_reading().
    bool m_drain_due = false;      ///< The queue waited on the socket: on_session_drained.
    bool m_close_queued = false;   ///< Our close frame (or answer) is in m_out.
    bool m_peer_closed = false;    ///< The peer's close frame came.
    bool m_reader_stopped = false; ///< A violation: the peer's bytes are no longer parsed.
    bool m_write_shut = false;     ///< Everything incl. our close went; FIN sent.
    bool m_ended = false;
    /// Expires with this session: a task posted to the loop checks it before it runs.
    std::shared_ptr<int> m_alive = std::make_shared<int>(0);
    core::Timer m_linger;
};

} // namespace rtx::serve::ws
