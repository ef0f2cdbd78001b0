#include "transport/reconnecting_connection.hpp"

#include "core/log.hpp"

#include <fmt/format.h>

namespace rtx::transport {

ReconnectingConnection::ReconnectingConnection(core::Loop& loop, Factory factory,
                                               ReconnectOptions options, Handler& user,
                                               std::uint64_t id)
    : m_factory(std::move(factory))
    , m_options(std::move(options))
    , m_backoff(m_options.backoff)
    , m_user(user)
    , m_id(id)
    , m_retry_timer(loop) {}

void ReconnectingConnection::start() {
    attempt();
}

void ReconnectingConnection::attempt() {
    ++m_attempt_count;
    m_inner = m_factory(*this);
}

void ReconnectingConnection::on_open(Connection& inner) {
    m_backoff.connected();
    if (m_attempt_count > 1) {
        core::log_info("reconnected (attempt {})", m_attempt_count);
    }
    for (const auto& line : m_options.preamble) {
        inner.send(Message{line});
    }
    while (!m_queue.empty() && inner.is_open()) {
        Queued& queued = m_queue.front();
        inner.send(Message{queued.payload, queued.kind});
        m_queued_bytes -= queued.payload.size();
        m_queue.pop_front();
    }
    if (m_sending_finished) {
        inner.finish_sending();
    }
    m_user.on_open(*this);
    m_user.on_drain(*this); // the held messages went out: a paused producer may resume
}

void ReconnectingConnection::on_message(Connection&, const Message& message) {
    m_user.on_message(*this, message);
}

void ReconnectingConnection::on_drain(Connection&) {
    m_user.on_drain(*this);
}

void ReconnectingConnection::on_head_text(Connection&, std::string_view text) {
    m_user.on_head_text(*this, text);
}

bool ReconnectingConnection::on_peer_finished(Connection&) {
    // With --reconnect the peer's FIN is a connection that dropped: it closes, and a new one
    // is made (with the preamble), rather than sending the rest of stdin to a half-close.
    if (m_options.enabled) {
        return false;
    }
    return m_user.on_peer_finished(*this);
}

void ReconnectingConnection::add_stats(const ConnectionStats& inner) {
    m_stats.messages_in += inner.messages_in;
    m_stats.messages_out += inner.messages_out;
    m_stats.bytes_in += inner.bytes_in;
    m_stats.bytes_out += inner.bytes_out;
    m_stats.connect_time = inner.connect_time;
}

const ConnectionStats& ReconnectingConnection::stats() const {
    m_total = m_stats;
    if (m_inner) {
        const auto& live = m_inner->stats();
        m_total.messages_in += live.messages_in;
        m_total.messages_out += live.messages_out;
        m_total.bytes_in += live.bytes_in;
        m_total.bytes_out += live.bytes_out;
        m_total.connect_time = live.connect_time;
    }
    return m_total;
}

void ReconnectingConnection::on_close(Connection& inner, const CloseInfo& info) {
    add_stats(inner.stats());
    // Destroying the attempt here is allowed: on_close is the last thing it does.
    std::unique_ptr<Connection> finished = std::move(m_inner);
    if (info.was_open || info.protocol_code != 0) {
        m_ever_reached = true; // the server answered: later failures are worth retrying
    }
    bool natural_end = m_closing || info.final ||
                       (m_sending_finished && info.by_peer && info.was_open &&
                        info.exit_code == core::ExitCode::ok);
    bool first_connect_failed = !m_ever_reached && !m_options.retry_first_connect;
    // A bad certificate, CA file or option does not heal by waiting, nor does a peer that
    // breaks the protocol, nor a refused session (MQTT bad credentials), nor an HTTP status other
    // than 408, 429 and 5xx (a 404 stays a 404): no retry.
    bool retryable_status =
        info.protocol_code == 408 || info.protocol_code == 429 || info.protocol_code >= 500;
    bool will_not_heal = info.exit_code == core::ExitCode::tls_failed ||
                         info.exit_code == core::ExitCode::usage ||
                         info.exit_code == core::ExitCode::refused ||
                         info.exit_code == core::ExitCode::protocol_error ||
                         (info.exit_code == core::ExitCode::http_status && !retryable_status);
    if (natural_end || !m_options.enabled || will_not_heal || first_connect_failed) {
        end(info);
        return;
    }
    if (info.was_open) {
        m_backoff.disconnected();
    }
    if (info.reconnect_time) {
        m_backoff.set_reconnection_time(*info.reconnect_time); // SSE retry: (WHATWG HTML 9.2.6)
    }
    unsigned in_a_row = m_backoff.attempts() + 1;
    // An SSE response that worked and ended normally is not a failure: wait the reconnection
    // time, no backoff (WHATWG HTML 9.2.3). Back-off is for failures.
    bool ended_cleanly = info.reconnect_time && info.was_open && info.by_peer &&
                         info.exit_code == core::ExitCode::ok;
    auto delay =
        ended_cleanly ? std::optional(m_backoff.delay_after_clean_end()) : m_backoff.next_delay();
    if (delay && info.retry_after && *info.retry_after > *delay) {
        delay = info.retry_after; // Retry-After is the server's floor (RFC 9110 10.2.3)
    }
    if (!delay) {
        CloseInfo gave_up = info;
        gave_up.exit_code = core::ExitCode::reconnect_exhausted;
        gave_up.reason = fmt::format("gave up after {} attempt{} in a row: {}", in_a_row,
                                     in_a_row == 1 ? "" : "s", info.reason);
        end(gave_up);
        return;
    }
    core::log_info("{}; reconnecting in {}", info.reason, core::format_duration(*delay));
    m_retry_timer.start(*delay, [this] { attempt(); });
}

void ReconnectingConnection::end(const CloseInfo& info) {
    if (m_ended) {
        return;
    }
    m_ended = true;
    m_retry_timer.stop();
    m_user.on_close(*this, info); // last: the user may destroy us
}

bool ReconnectingConnection::send(const Message& message) {
    if (m_ended || m_closing || m_sending_finished) {
        return false;
    }
    if (m_inner && m_inner->is_open()) {
        return m_inner->send(message);
    }
    m_queued_bytes += message.payload.size();
    m_queue.push_back(Queued{std::string(message.payload), message.kind});
    return true;
}

void ReconnectingConnection::finish_sending() {
    if (m_sending_finished) {
        return;
    }
    m_sending_finished = true;
    if (m_inner && m_inner->is_open()) {
        m_inner->finish_sending();
    }
}

void ReconnectingConnection::close() {
    if (m_ended || m_closing) {
        return;
    }
    m_closing = true;
    m_retry_timer.stop();
    if (m_inner) {
        m_inner->close(); // its on_close ends us
        return;
    }
    CloseInfo info;
    info.reason = "closed";
    end(info);
}

bool ReconnectingConnection::send_ping(std::string_view payload) {
    return !m_ended && !m_closing && m_inner && m_inner->is_open() && m_inner->send_ping(payload);
}

void ReconnectingConnection::close_with(int code, const std::string& reason) {
    if (m_ended || m_closing) {
        return;
    }
    if (!m_inner || !m_inner->is_open()) {
        close();
        return;
    }
    m_closing = true;
    m_retry_timer.stop();
    m_inner->close_with(code, reason); // its on_close ends us
}

std::size_t ReconnectingConnection::buffered_bytes() const {
    return m_queued_bytes + (m_inner ? m_inner->buffered_bytes() : 0);
}

} // namespace rtx::transport
