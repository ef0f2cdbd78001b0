#pragma once

#include "serve/fault/injector.hpp"
#include "serve/http/exchange.hpp"
#include "serve/hub.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

namespace rtx::serve::http {

/// GET /sse/{topic} and GET /stream/{topic}: a chunked response that stays open and carries
/// every message published to the topic from now on (after a replay from the hub's history,
/// when asked for one). Messages wait in a queue of shared HubMessages and are formatted
/// when the socket can take them, at most k_write_budget bytes per write. A subscriber that
/// does not read is not allowed to grow the queue without bound: past `max_queued` payload
/// bytes its connection is closed (an SSE client then resumes with Last-Event-ID).
/// Loop thread only.
class StreamExchange final : public Exchange, private Subscriber {
public:
    enum class Format {
        sse,    ///< text/event-stream: retry hint, ids, event names, heartbeat comments.
        text,   ///< text/plain: each payload and LF.
        ndjson, ///< application/x-ndjson: one JSON object per message.
    };

    /// `faults` (--fault; may be null) drops, delays and throttles the messages, and
    /// answers an SSE reconnect with a gap or a duplicate.
    StreamExchange(lws* wsi, Format format, std::size_t max_queued,
                   std::unique_ptr<fault::ConnectionFaults> faults = nullptr);
    ~StreamExchange() override;

    /// Subscribes to `topic`, queues the history after `replay_after` (if given) and writes
    /// the response head. Errors: the hub's (too many subscribers or topics). Call once,
    /// from the request callback.
    core::Result<bool> start(Hub& hub, std::string_view topic,
                             std::optional<std::uint64_t> replay_after,
                             std::chrono::milliseconds retry);

    Next on_writeable() override;
    void begin_shutdown() override;
    void on_heartbeat() override;

private:
    void on_hub_message(const std::shared_ptr<const HubMessage>& message) override;
    /// Queues `message` through the faults, if any.
    void offer(std::shared_ptr<const HubMessage> message);
    void queue(std::shared_ptr<const HubMessage> message);
    void append(std::string& out, const HubMessage& message) const;
    void wake();

    Format m_format;
    std::size_t m_max_queued;
    Subscription m_subscription;
    std::deque<std::shared_ptr<const HubMessage>> m_queue;
    std::size_t m_queued_bytes = 0;
    std::string m_prelude;       ///< SSE retry hint, gap and heartbeat comments, not yet sent.
    bool m_wake_pending = false; ///< request_writeable() called, on_writeable not yet run.
    bool m_sent_data = false;    ///< An event went out since the last heartbeat tick.
    bool m_overflow = false;
    bool m_finishing = false;
    std::unique_ptr<fault::ConnectionFaults> m_faults;
    bool m_dropped = false; ///< --fault dropped the connection: close it.
};

/// Bytes formatted into one write; more waits for the next writeable callback.
inline constexpr std::size_t k_write_budget = 64 * 1024;

} // namespace rtx::serve::http
