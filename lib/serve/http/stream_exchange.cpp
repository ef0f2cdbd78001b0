#include "serve/http/stream_exchange.hpp"

#include "core/log.hpp"
#include "serve/fault/reconnect.hpp"
#include "serve/http/http_format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

namespace rtx::serve::http {

namespace {

/// What a queued message costs besides its payload (shared_ptr, deque slot, framing).
constexpr std::size_t k_message_overhead = 64;

std::string_view content_type(StreamExchange::Format format) {
    switch (format) {
    case StreamExchange::Format::sse:
        return "text/event-stream; charset=utf-8";
    case StreamExchange::Format::ndjson:
        return "application/x-ndjson";
    case StreamExchange::Format::text:
        break;
    }
    return "text/plain; charset=utf-8";
}

} // namespace

StreamExchange::StreamExchange(lws* wsi, Format format, std::size_t max_queued,
                               std::unique_ptr<fault::ConnectionFaults> faults)
    : Exchange(wsi)
    , m_format(format)
    , m_max_queued(max_queued)
    , m_faults(std::move(faults)) {
    if (m_faults) {
        m_faults->on_drop([this] {
            m_dropped = true;
            m_subscription.reset();
            wake();
        });
    }
}

StreamExchange::~StreamExchange() = default;

core::Result<bool> StreamExchange::start(Hub& hub, std::string_view topic,
                                         std::optional<std::uint64_t> replay_after,
                                         std::chrono::milliseconds retry) {
    auto subscribed = hub.subscribe(topic, *this);
    if (!subscribed) {
        return subscribed.error();
    }
    m_subscription = std::move(subscribed.value());

    if (m_format == Format::sse) {
        // WHATWG HTML 9.2.6: "retry" sets the client's reconnection time.
        m_prelude = fmt::format("retry: {}\n\n", retry.count());
    }
    if (replay_after) {
        // Subscribed first, then read the history, in the same loop turn: nothing published
        // can fall between the two, and nothing is sent twice.
        HubReplay replay = hub.since(topic, *replay_after);
        if (replay.gap && m_format == Format::sse) {
            const std::uint64_t last = hub.last_id(topic);
            const std::uint64_t first_id = hub.limits().first_id;
            if (*replay_after != 0 && *replay_after < first_id) {
                fmt::format_to(std::back_inserter(m_prelude),
                               ": id {} is from an earlier run of the server: some events may "
                               "have been lost; replaying all kept events\n\n",
                               *replay_after);
            } else if (*replay_after > last) {
                fmt::format_to(std::back_inserter(m_prelude),
                               ": id {} is ahead of this topic (last id {}): some events were "
                               "lost; replaying all kept events\n\n",
                               *replay_after, last);
            } else {
                const std::uint64_t kept =
                    replay.messages.empty() ? last + 1 : replay.messages.front()->id;
                fmt::format_to(std::back_inserter(m_prelude),
                               ": some events were lost: ids {} to {} are no longer kept\n\n",
                               std::max(*replay_after + 1, first_id), kept - 1);
            }
        }
        if (m_faults && m_format == Format::sse) {
            fault::answer_reconnect(*m_faults, hub, topic, *replay_after, replay.messages);
        }
        for (auto& message : replay.messages) {
            offer(std::move(message));
        }
    }

    Response head;
    head.content_type = content_type(m_format);
    head.chunked = true;
    head.headers.emplace_back("cache-control", "no-cache");
    if (!write_response(wsi(), head)) {
        return core::Error{core::ExitCode::connection_lost, "write failed"};
    }
    // No lws timeout applies to the stream any more (what lws_http_mark_sse does on
    // HTTP/1.1, without its warning that the connection is not HTTP/2).
    lws_set_timeout(wsi(), NO_PENDING_TIMEOUT, 0);
    wake();
    return true;
}

void StreamExchange::on_hub_message(const std::shared_ptr<const HubMessage>& message) {
    if (m_finishing || m_overflow) {
        return;
    }
    offer(message);
    wake();
}

void StreamExchange::offer(std::shared_ptr<const HubMessage> message) {
    if (!m_faults) {
        queue(std::move(message));
        return;
    }
    const std::size_t bytes = message->payload.size();
    m_faults->send(bytes, [this, message = std::move(message)] {
        if (!m_finishing && !m_overflow) {
            queue(message);
            wake();
        }
    });
}

void StreamExchange::queue(std::shared_ptr<const HubMessage> message) {
    m_queued_bytes += message->payload.size() + k_message_overhead;
    m_queue.push_back(std::move(message));
    if (m_queued_bytes > m_max_queued) {
        core::log_verbose("http: closing a subscriber of '{}' that is {} bytes behind",
                          m_queue.back()->topic, m_queued_bytes);
        m_overflow = true;
        m_subscription.reset();
        m_queue.clear();
        m_queued_bytes = 0;
    }
}

void StreamExchange::wake() {
    if (!m_wake_pending) {
        m_wake_pending = true;
        request_writeable();
    }
}

void StreamExchange::append(std::string& out, const HubMessage& message) const {
    switch (m_format) {
    case Format::sse:
        append_sse_event(out, message);
        break;
    case Format::ndjson:
        append_ndjson_message(out, message);
        break;
    case Format::text:
        out.append(message.payload).push_back('\n');
        break;
    }
}

Next StreamExchange::on_writeable() {
    m_wake_pending = false;
    if (m_overflow) {
        return Next::close;
    }
    detach_headers(); // if HttpListener has not done it yet
    std::string& buffer = write_buffer();
    buffer.assign(LWS_PRE + k_chunk_header_room, '\0');
    const std::size_t data_offset = buffer.size();
    buffer.append(m_prelude);
    m_prelude.clear();
    while (!m_queue.empty() && buffer.size() - data_offset < k_write_budget) {
        append(buffer, *m_queue.front());
        m_queued_bytes -= m_queue.front()->payload.size() + k_message_overhead;
        m_queue.pop_front();
        m_sent_data = true;
    }
    // HTTP/2 frames the body itself: the chunks are HTTP/1.1's.
    const bool h2 = is_h2(wsi());
    std::size_t start = data_offset;
    if (buffer.size() > data_offset && !h2) {
        start = frame_chunk(buffer, data_offset);
    }
    const bool last = m_finishing && m_queue.empty();
    if (last && !h2) {
        buffer.append(k_last_chunk);
    }
    if (!write_body(wsi(), buffer, start, last)) {
        return Next::close;
    }
    // --fault drop: what was queued before it goes out, then the body is cut short.
    if (last || (m_dropped && m_queue.empty())) {
        return Next::close;
    }
    if (!m_queue.empty()) {
        wake();
    }
    return Next::wait;
}

void StreamExchange::begin_shutdown() {
    m_finishing = true;
    m_subscription.reset();
    wake();
}

void StreamExchange::on_heartbeat() {
    if (m_format != Format::sse) {
        return;
    }
    // Only a stream that carried no event for a whole period needs one.
    if (!m_sent_data && m_queue.empty()) {
        m_prelude.append(": heartbeat\n\n");
        wake();
    }
    m_sent_data = false;
}

} // namespace rtx::serve::http
