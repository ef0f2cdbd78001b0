#pragma once

#include "core/duration.hpp"
#include "core/loop.hpp"
#include "core/timer.hpp"
#include "serve/fault/injector.hpp"
#include "serve/http/exchange.hpp"
#include "serve/hub.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace rtx::serve::http {

/// Bounds on one poll answer: at most this many messages, and no more once this many payload
/// bytes are in (one message always goes, whatever its size). The client asks again at once
/// with the new cursor for the rest.
inline constexpr std::size_t k_poll_max_messages = 1000;
inline constexpr std::size_t k_poll_max_bytes = 1024 * 1024;

/// The poll answer for messages already in the hub's history: {"cursor", "messages"} and the
/// X-Cursor header. `messages` is capped in place to the bounds above.
Response poll_answer(std::vector<std::shared_ptr<const HubMessage>>& messages,
                     std::uint64_t cursor_if_empty, bool gap);

/// GET /poll/{topic} with nothing newer than the cursor yet: the request is held, subscribed
/// to the topic, until a message arrives (answered with it, 200) or the hold time passes
/// (204 with the unchanged cursor in X-Cursor). Loop thread only.
class PollExchange final : public Exchange, private Subscriber {
public:
    /// `cursor`: the client's position (answers carry the id of the last message sent);
    /// `gap`: messages after the cursor were already lost when the hold began.
    /// `faults` (--fault; may be null) drops, delays and throttles the answer with messages.
    PollExchange(lws* wsi, core::Loop& loop, std::uint64_t cursor, bool gap,
                 std::unique_ptr<fault::ConnectionFaults> faults = nullptr);
    ~PollExchange() override;

    /// Subscribes and starts the hold timer. Errors: the hub's (too many subscribers).
    core::Result<bool> hold(Hub& hub, std::string_view topic, core::Duration hold_time);

    Next on_writeable() override;
    void begin_shutdown() override;

private:
    void on_hub_message(const std::shared_ptr<const HubMessage>& message) override;
    void answer_soon();

    std::uint64_t m_cursor;
    bool m_gap;
    Subscription m_subscription;
    core::Timer m_timer;
    std::vector<std::shared_ptr<const HubMessage>> m_messages;
    std::size_t m_bytes = 0;
    bool m_answering = false; ///< Waiting for on_writeable to write the answer.
    bool m_finishing = false;
    std::unique_ptr<fault::ConnectionFaults> m_faults;
    bool m_offered = false; ///< The answer went to the faults (it comes back delayed).
    bool m_dropped = false; ///< --fault dropped the connection: close it unanswered.
};

} // namespace rtx::serve::http
