#include "serve/http/poll_exchange.hpp"

#include "serve/http/http_format.hpp"

namespace rtx::serve::http {

Response poll_answer(std::vector<std::shared_ptr<const HubMessage>>& messages,
                     std::uint64_t cursor_if_empty, bool gap) {
    std::size_t count = 0;
    std::size_t bytes = 0;
    while (count < messages.size() && count < k_poll_max_messages &&
           (count == 0 || bytes + messages[count]->payload.size() <= k_poll_max_bytes)) {
        bytes += messages[count]->payload.size();
        ++count;
    }
    messages.resize(count);
    const std::uint64_t cursor = messages.empty() ? cursor_if_empty : messages.back()->id;
    Response response;
    response.content_type = "application/json";
    response.body = poll_body(cursor, messages, gap);
    response.headers.emplace_back("x-cursor", std::to_string(cursor));
    response.headers.emplace_back("cache-control", "no-store");
    return response;
}

PollExchange::PollExchange(lws* wsi, core::Loop& loop, std::uint64_t cursor, bool gap,
                           std::unique_ptr<fault::ConnectionFaults> faults)
    : Exchange(wsi)
    , m_cursor(cursor)
    , m_gap(gap)
    , m_timer(loop)
    , m_faults(std::move(faults)) {
    if (m_faults) {
        m_faults->on_drop([this] {
            m_dropped = true;
            m_subscription.reset();
            m_timer.stop();
            request_writeable();
        });
    }
}

PollExchange::~PollExchange() = default;

core::Result<bool> PollExchange::hold(Hub& hub, std::string_view topic, core::Duration hold_time) {
    auto subscribed = hub.subscribe(topic, *this);
    if (!subscribed) {
        return subscribed.error();
    }
    m_subscription = std::move(subscribed.value());
    // The hold is ours to time, not lws's: no lws timeout may cut it short.
    lws_set_timeout(wsi(), NO_PENDING_TIMEOUT, 0);
    m_timer.start(hold_time, [this] { answer_soon(); });
    return true;
}

void PollExchange::on_hub_message(const std::shared_ptr<const HubMessage>& message) {
    // Keep collecting until the answer is written: a burst goes out in one answer.
    if (m_messages.size() < k_poll_max_messages &&
        (m_messages.empty() || m_bytes + message->payload.size() <= k_poll_max_bytes)) {
        m_bytes += message->payload.size();
        m_messages.push_back(message);
    } else {
        m_subscription.reset(); // full: the rest is for the next poll, from the history
    }
    if (m_faults) {
        // The answer is the message: it goes when the faults let it.
        if (!m_offered) {
            m_offered = true;
            m_timer.stop();
            m_faults->send(m_bytes, [this] { answer_soon(); });
        }
        return;
    }
    answer_soon();
}

void PollExchange::answer_soon() {
    m_timer.stop();
    if (!m_answering) {
        m_answering = true;
        request_writeable();
    }
}

Next PollExchange::on_writeable() {
    detach_headers(); // if HttpListener has not done it yet
    if (m_dropped) {
        return Next::close;
    }
    if (!m_answering) {
        return Next::wait;
    }
    m_subscription.reset();
    Response response;
    if (m_messages.empty()) {
        response.status = 204;
        response.headers.emplace_back("x-cursor", std::to_string(m_cursor));
        response.headers.emplace_back("cache-control", "no-store");
    } else {
        response = poll_answer(m_messages, m_cursor, m_gap);
    }
    response.close = m_finishing;
    if (!write_response(wsi(), response) || m_finishing) {
        return Next::close;
    }
    return Next::done;
}

void PollExchange::begin_shutdown() {
    m_finishing = true;
    answer_soon();
}

} // namespace rtx::serve::http
