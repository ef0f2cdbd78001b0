#pragma once

#include "core/backoff.hpp"
#include "core/loop.hpp"
#include "core/timer.hpp"
#include "transport/connection.hpp"

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace rtx::transport {

/// What --reconnect and --preamble mean, for every protocol.
struct ReconnectOptions {
    bool enabled = false;
    /// Also retry when the very first connect fails. Off for protocols that reconnect by
    /// default (SSE, long-poll): `rtx sse URL` against a dead server exits 3 at once, like
    /// curl; an explicit --reconnect turns it on.
    bool retry_first_connect = true;
    core::BackoffPolicy backoff;
    std::vector<std::string> preamble; ///< Sent after every (re)connect, before anything else.
};

/// Wraps any protocol's connection: reconnects with backoff when it drops (or fails to
/// connect), replays the preamble after each open, and holds messages sent while
/// disconnected. Written once, above the adapters. The user Handler sees one long-lived
/// connection: on_open after every (re)connect, on_close once at the very end.
/// Loop thread only.
class ReconnectingConnection final : public Connection, private Handler {
public:
    /// Creates and starts one attempt whose events go to the given Handler.
    using Factory = std::function<std::unique_ptr<Connection>(Handler& handler)>;

    ReconnectingConnection(core::Loop& loop, Factory factory, ReconnectOptions options,
                           Handler& user, std::uint64_t id);
    ReconnectingConnection(ReconnectingConnection&&) = delete;

    /// Makes the first attempt.
    void start();

    bool send(const Message& message) override;
    void finish_sending() override;
    void close() override;
    bool send_ping(std::string_view payload) override;
    void close_with(int code, const std::string& reason) override;
    bool is_open() const override { return m_inner && m_inner->is_open(); }
    std::size_t buffered_bytes() const override;
    const ConnectionStats& stats() const override;
    std::uint64_t id() const override { return m_id; }
    /// Attempts made so far (1 after the first connect).
    unsigned attempts() const { return m_attempt_count; }

private:
    struct Queued {
        std::string payload;
        PayloadKind kind;
    };
    void on_open(Connection& inner) override;
    void on_message(Connection& inner, const Message& message) override;
    void on_close(Connection& inner, const CloseInfo& info) override;
    void on_drain(Connection& inner) override;
    void on_head_text(Connection& inner, std::string_view text) override;
    bool on_peer_finished(Connection& inner) override;
    void attempt();
    void end(const CloseInfo& info);
    void add_stats(const ConnectionStats& inner);

    Factory m_factory;
    ReconnectOptions m_options;
    core::Backoff m_backoff;
    Handler& m_user;
    std::uint64_t m_id;
    std::unique_ptr<Connection> m_inner;
    core::Timer m_retry_timer;
    std::deque<Queued> m_queue;
    std::size_t m_queued_bytes = 0;
    bool m_sending_finished = false;
    bool m_closing = false;
    bool m_ended = false;
    bool m_ever_reached = false; ///< Some attempt reached the server (opened or answered).
    unsigned m_attempt_count = 0;
    ConnectionStats m_stats; ///< Sum over finished attempts.
    mutable ConnectionStats m_total;
};

} // namespace rtx::transport
