#include "serve/ws/ws_session.hpp"

#include "core/log.hpp"
#include "transport/ws/lws_support.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

namespace rtx::serve::ws {

namespace {

/// Messages shorter than this go out uncompressed even with permessage-deflate (RFC 7692
/// allows either per message): deflating a few bytes costs more CPU than it saves bytes.
/// node's ws uses the same threshold.
constexpr std::size_t k_compress_threshold = 1024;

/// A hub message up to this size is copied into the outgoing buffer (one write with its
/// neighbours); a larger one is written from the shared message itself.
constexpr std::size_t k_copy_limit = 4 * 1024;

/// How long to wait for the peer to hang up after our close frame went when it broke the
/// protocol or we answered its close (RFC 6455 section 7.1.1: the server closes first).
constexpr auto k_close_linger = std::chrono::seconds(1);

/// Reads per readable event: bounded so that one busy peer cannot hold the loop.
constexpr int k_reads_per_turn = 16;

proto::WsReaderOptions reader_options(const WsSessionSettings& settings) {
    proto::WsReaderOptions options;
    options.max_message = settings.max_message;
    options.deflate = settings.deflate;
    // Our inflater keeps its window whatever the client does: a client that resets its
    // compressor per message (client_no_context_takeover) just never refers back to it.
    options.peer_no_context_takeover = false;
    options.masked = true;
    return options;
}

} // namespace

WsSession::WsSession(core::Loop& loop, int fd, SSL* ssl, WsSessionSettings settings,
                     WsSessionEvents& events)
    : m_loop(loop)
    , m_fd(fd)
    , m_ssl(ssl)
    , m_settings(settings)
    , m_events(events)
    , m_reader(reader_options(settings))
    , m_linger(loop) {
    if (m_settings.deflate && m_settings.deflate_window_bits >= 9) {
        m_deflater = std::make_unique<proto::WsDeflater>(m_settings.deflate_window_bits,
                                                         m_settings.deflate_no_context_takeover);
    }
}

WsSession::~WsSession() {
    if (m_poll != nullptr) {
        uv_poll_stop(m_poll);
        core::close_and_delete(m_poll);
    }
    if (m_owns_fd && m_fd >= 0) {
        ::close(m_fd);
    }
}

bool WsSession::start() {
    // lws stopped watching the socket (no reading, nothing to write): libuv lets one poll
    // handle watch a descriptor at a time, and this one is ours until end(). A second
    // descriptor per connection would halve how many connections fit under the open-files
    // limit. If lws still watches it (a write of its own pending), a duplicate it is.
    auto* poll = new uv_poll_t{};
    if (uv_poll_init_socket(m_loop.native(), poll, m_fd) != 0) {
        const int copy = ::fcntl(m_fd, F_DUPFD_CLOEXEC, 0);
        if (copy < 0 || uv_poll_init_socket(m_loop.native(), poll, copy) != 0) {
            core::log_verbose("ws: dropping a connection: {}", std::strerror(errno));
            if (copy >= 0) {
                ::close(copy);
            }
            delete poll; // not initialized: nothing for libuv to close
            m_fd = -1;
            m_ended = true;
            return false;
        }
        m_fd = copy;
        m_owns_fd = true;
    }
    m_poll = poll;
    m_poll->data = this;
    update_poll();
    if (m_ssl != nullptr) {
        // lws's TLS session may already hold decrypted records: read them on the loop's next
        // turn, not now. A message read now would reach the caller's events before the caller
        // holds this session (rtx serve crashed in echo() under load over wss).
        m_loop.post([this, alive = std::weak_ptr<int>(m_alive)] {
            if (!alive.expired() && !m_ended) {
                read();
            }
        });
    }
    return true;
}

// --- sending ---------------------------------------------------------------------------------

std::string& WsSession::owned_tail() {
    if (m_out.empty() || m_out.back().body) {
        m_out.emplace_back();
    }
    return m_out.back().head;
}

void WsSession::send(std::shared_ptr<const HubMessage> message) {
    if (m_close_queued || m_ended) {
        return;
    }
    // With bytes waiting, POLLOUT is armed and writes this too; else try the socket now.
    const bool was_idle = m_out.empty();
    const std::string& payload = message->payload;
    if ((m_deflater && payload.size() >= k_compress_threshold) || payload.size() <= k_copy_limit) {
        queue_data(message->binary, payload);
    } else {
        Chunk chunk;
        proto::append_ws_server_frame_header(
            chunk.head, message->binary ? proto::ws_opcode::binary : proto::ws_opcode::text,
            payload.size(), true, false);
        m_queued_bytes += chunk.head.size() + payload.size();
        chunk.body = std::move(message);
        m_out.emplace_back(std::move(chunk));
    }
    if (was_idle) {
        flush();
    }
}

void WsSession::echo(bool binary, std::string_view payload) {
    if (m_close_queued || m_ended) {
        return;
    }
    queue_data(binary, payload); // flushed at the end of the read that brought the message
}

void WsSession::queue_data(bool binary, std::string_view payload) {
    const int opcode = binary ? proto::ws_opcode::binary : proto::ws_opcode::text;
    bool compressed = false;
    if (m_deflater && payload.size() >= k_compress_threshold) {
        payload = m_deflater->compress(payload);
        compressed = true;
    }
    std::string& out = owned_tail();
    const std::size_t before = out.size();
    proto::append_ws_server_frame_header(out, opcode, payload.size(), true, compressed);
    out.append(payload);
    m_queued_bytes += out.size() - before;
}

void WsSession::queue_control(int opcode, std::string_view payload) {
    std::string& out = owned_tail();
    const std::size_t before = out.size();
    proto::append_ws_server_frame_header(out, opcode, payload.size(), true, false);
    out.append(payload);
    m_queued_bytes += out.size() - before;
}

void WsSession::ping(std::string_view payload) {
    if (m_close_queued || m_ended) {
        return;
    }
    queue_control(proto::ws_opcode::ping, payload.substr(0, 125));
    flush();
}

void WsSession::queue_close_frame(std::optional<int> code, std::string_view reason) {
    std::string payload;
    if (code) {
        payload.push_back(static_cast<char>((*code >> 8) & 0xFF));
        payload.push_back(static_cast<char>(*code & 0xFF));
        payload.append(reason.substr(0, 123)); // RFC 6455 section 5.5: 125 bytes in all
    }
    queue_control(proto::ws_opcode::close, payload);
    m_close_queued = true;
}

void WsSession::close(int code, std::string_view reason, bool drop_queued, core::Duration linger) {
    if (m_close_queued || m_ended) {
        return;
    }
    if (drop_queued) {
        // Keep the chunk being written (the peer would see half a frame); drop the rest.
        while (m_out.size() > (m_out.empty() || m_out.front().offset == 0 ? 0U : 1U)) {
            m_queued_bytes -= m_out.back().size() - m_out.back().offset;
            m_out.pop_back();
        }
    }
    queue_close_frame(code, reason);
    m_linger.start(linger, [this] { end(); });
    flush();
}

void WsSession::hold_reading(bool held) {
    if (m_reading_held == held || m_ended) {
        return;
    }
    m_reading_held = held;
    update_poll();
}

void WsSession::flush() {
    if (m_ended) {
        return;
    }
    if (!write_some()) {
        return;
    }
    if (m_out.empty()) {
        if (m_reading_paused) {
            m_reading_paused = false; // everything went: the peer reads; so do we again
        }
        if (m_close_queued && !m_write_shut) {
            // Our close frame is out: nothing more will be sent. The FIN tells the peer so
            // (RFC 6455 section 7.1.1: the server closes the TCP connection first); what it
            // still sends is read and dropped until its end, so the socket closes cleanly.
            m_write_shut = true;
            ::shutdown(m_fd, SHUT_WR);
            if (m_peer_closed || m_reader_stopped || !m_linger.active()) {
                m_linger.start(k_close_linger, [this] { end(); });
            }
        }
    } else {
        m_drain_due = true; // the socket is full: say so when the queue has gone
    }
    update_poll();
    if (m_drain_due && m_out.empty() && !m_ended) {
        m_drain_due = false;
        m_events.on_session_drained(); // last: it may queue more (a nested flush)
    }
}

bool WsSession::write_some() {
    while (!m_out.empty()) {
        constexpr int k_max_pieces = 64;
        iovec pieces[k_max_pieces];
        int count = 0;
        for (const Chunk& chunk : m_out) {
            if (count + 2 > k_max_pieces) {
                break;
            }
            std::size_t offset = chunk.offset;
            if (offset < chunk.head.size()) {
                pieces[count++] = {const_cast<char*>(chunk.head.data()) + offset,
                                   chunk.head.size() - offset};
                offset = chunk.head.size();
            }
            if (chunk.body) {
                const std::string& payload = chunk.body->payload;
                const std::size_t from = offset - chunk.head.size();
                if (from < payload.size()) {
                    pieces[count++] = {const_cast<char*>(payload.data()) + from,
                                       payload.size() - from};
                }
            }
        }
        std::size_t wrote = 0;
        if (m_ssl != nullptr) {
            for (int i = 0; i < count; ++i) {
                ERR_clear_error();
                const int n = SSL_write(m_ssl, pieces[i].iov_base,
                                        static_cast<int>(std::min<std::size_t>(
                                            pieces[i].iov_len, std::size_t{1} << 30)));
                if (n <= 0) {
                    const int error = SSL_get_error(m_ssl, n);
                    if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) {
                        break;
                    }
                    end();
                    return false;
                }
                wrote += static_cast<std::size_t>(n);
                if (static_cast<std::size_t>(n) < pieces[i].iov_len) {
                    break;
                }
            }
            if (wrote == 0) {
                return true; // the socket is full: POLLOUT brings us back
            }
        } else {
            msghdr message{};
            message.msg_iov = pieces;
            message.msg_iovlen = static_cast<std::size_t>(count);
            const ssize_t n = ::sendmsg(m_fd, &message, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                return true;
            }
            if (n < 0) {
                core::log_debug("ws: send: {}", std::strerror(errno));
                end();
                return false;
            }
            wrote = static_cast<std::size_t>(n);
        }
        m_queued_bytes -= wrote;
        while (wrote > 0) {
            Chunk& front = m_out.front();
            const std::size_t left = front.size() - front.offset;
            if (wrote < left) {
                front.offset += wrote;
                break;
            }
            wrote -= left;
            m_out.pop_front();
        }
    }
    return true;
}

// --- receiving -------------------------------------------------------------------------------

void WsSession::read() {
    static thread_local char buffer[64 * 1024];
    for (int reads = 0;
         reads < k_reads_per_turn && !m_ended && !m_reading_paused && !m_reading_held; ++reads) {
        const transport::ws::SocketRead got =
            transport::ws::read_socket(m_fd, m_ssl, buffer, sizeof buffer);
        if (got.status == transport::ws::SocketRead::would_block) {
            break;
        }
        if (got.status == transport::ws::SocketRead::end) {
            end(); // the peer hung up (or the socket failed): nothing more can come
            return;
        }
        m_events.on_session_heard();
        if (!m_reader_stopped && !m_reader.closed()) {
            if (auto violation = m_reader.feed(std::string_view(buffer, got.size), *this)) {
                fail(*violation);
            }
        }
        // After a violation or the peer's close, bytes are read only to reach the end.
        if (m_ssl == nullptr && got.size < sizeof buffer) {
            break; // the socket is empty for now
        }
    }
    flush(); // this read's echoes and pongs, in one write
}

void WsSession::on_ws_message(bool binary, std::string_view payload) {
    if (m_close_queued || m_ended) {
        return; // we are closing: RFC 6455 section 5.5.1, no more data frames from us
    }
    m_events.on_session_message(binary, payload);
    if (m_queued_bytes > m_settings.max_queued) {
        m_reading_paused = true; // resumes once the queue is empty (flush)
    }
}

void WsSession::on_ws_ping(std::string_view payload) {
    // RFC 6455 section 5.5.2: each ping is answered, in order with what this read echoes.
    if (!m_close_queued) {
        queue_control(proto::ws_opcode::pong, payload);
    }
}

void WsSession::on_ws_pong(std::string_view) {}

void WsSession::on_ws_close(std::optional<int> code, std::string_view reason) {
    // The reader ignores everything after the close frame (section 5.5.1).
    m_peer_closed = true;
    m_events.on_session_close(code, reason);
    if (!m_close_queued) {
        // Section 5.5.1: answer with a close echoing the status code, after the messages
        // already queued (such as the echo of a message in the same read).
        queue_close_frame(code, {});
    } else if (m_write_shut) {
        m_linger.start(k_close_linger, [this] { end(); });
    }
}

void WsSession::fail(const proto::WsViolation& violation) {
    m_reader_stopped = true;
    core::log_verbose("ws: closing a connection with {}: the peer sent {}", violation.close_code,
                      violation.what);
    const char* reason = violation.close_code == 1009   ? "message too big"
                         : violation.close_code == 1007 ? "invalid payload data"
                                                        : "protocol error";
    if (!m_close_queued) {
        close(violation.close_code, reason, true, k_close_linger);
    }
}

void WsSession::update_poll() {
    if (m_poll == nullptr || m_ended) {
        return;
    }
    int events = m_reading_paused || m_reading_held ? 0 : UV_READABLE;
    if (!m_out.empty()) {
        events |= UV_WRITABLE;
    }
    if (events == m_poll_events) {
        return;
    }
    m_poll_events = events;
    if (events == 0) {
        uv_poll_stop(m_poll);
        return;
    }
    uv_poll_start(m_poll, events, [](uv_poll_t* poll, int status, int ready) {
        auto* self = static_cast<WsSession*>(poll->data);
        if (status < 0) {
            self->end();
            return;
        }
        if (ready & UV_WRITABLE) {
            self->flush();
        }
        if ((ready & UV_READABLE) && !self->m_ended) {
            self->read();
        }
    });
}

void WsSession::end() {
    if (m_ended) {
        return;
    }
    m_ended = true;
    m_linger.stop();
    if (m_poll != nullptr) {
        uv_poll_stop(m_poll);
        core::close_and_delete(m_poll);
        m_poll = nullptr;
    }
    if (m_owns_fd) {
        ::close(m_fd);
    }
    m_fd = -1;
    m_out.clear();
    m_queued_bytes = 0;
    m_events.on_session_end(); // last: the owner may let lws destroy us from here on
}

} // namespace rtx::serve::ws
