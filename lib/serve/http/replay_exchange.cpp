#include "serve/http/replay_exchange.hpp"

#include "core/log.hpp"
#include "serve/http/http_format.hpp"
#include "serve/hub.hpp"

#include <fmt/format.h>

namespace rtx::serve::http {

ReplayExchange::ReplayExchange(lws* wsi, core::Loop& loop,
                               std::shared_ptr<const std::vector<ReplayRecord>> records,
                               double speed, Format format, std::size_t max_body)
    : Exchange(wsi)
    , m_format(format)
    , m_max_body(max_body)
    , m_player(
          loop, std::move(records), ReplayPace{speed, false},
          [this](const ReplayRecord& record) { emit(record); },
          [this] {
              m_finishing = true;
              wake();
          }) {}

bool ReplayExchange::start() {
    Response head;
    head.content_type = m_format == Format::sse      ? "text/event-stream; charset=utf-8"
                        : m_format == Format::ndjson ? "application/x-ndjson"
                                                     : "text/plain; charset=utf-8";
    head.chunked = true;
    head.headers.emplace_back("cache-control", "no-cache");
    if (!write_response(wsi(), head)) {
        return false;
    }
    lws_set_timeout(wsi(), NO_PENDING_TIMEOUT, 0);
    m_started = true;
    m_player.start();
    return true;
}

Next ReplayExchange::on_body(std::string_view bytes) {
    // The request (a prompt) does not change the answer: counted against --max-body, dropped.
    m_body_bytes += bytes.size();
    if (m_body_bytes > m_max_body) {
        Response response = error_response(
            413,
            fmt::format("request body too large: the limit is {} bytes (--max-body)", m_max_body));
        response.close = true;
        write_response(wsi(), response);
        return Next::close;
    }
    return Next::wait;
}

Next ReplayExchange::on_body_complete() {
    core::log_verbose("http: a {}-byte request answered with a replay", m_body_bytes);
    return start() ? Next::wait : Next::close;
}

void ReplayExchange::emit(const ReplayRecord& record) {
    HubMessage message;
    message.id = m_next_id++;
    message.topic = record.topic;
    message.payload = record.payload;
    message.binary = record.binary;
    message.event = record.event;
    switch (m_format) {
    case Format::sse:
        append_sse_event(m_pending, message);
        break;
    case Format::ndjson:
        append_ndjson_message(m_pending, message);
        break;
    case Format::text:
        m_pending.append(message.payload).push_back('\n');
        break;
    }
    wake();
}

void ReplayExchange::wake() {
    if (!m_wake_pending) {
        m_wake_pending = true;
        request_writeable();
    }
}

Next ReplayExchange::on_writeable() {
    m_wake_pending = false;
    detach_headers();
    std::string& buffer = write_buffer();
    buffer.assign(LWS_PRE + k_chunk_header_room, '\0');
    const std::size_t data_offset = buffer.size();
    buffer.append(m_pending);
    m_pending.clear();
    const bool h2 = is_h2(wsi());
    std::size_t start = data_offset;
    if (buffer.size() > data_offset && !h2) {
        start = frame_chunk(buffer, data_offset);
    }
    if (m_finishing && !h2) {
        buffer.append(k_last_chunk);
    }
    if (!write_body(wsi(), buffer, start, m_finishing)) {
        return Next::close;
    }
    return m_finishing ? Next::done : Next::wait;
}

void ReplayExchange::begin_shutdown() {
    if (!m_started) {
        return; // still reading the body: the listener closes the connection
    }
    m_finishing = true;
    wake();
}

} // namespace rtx::serve::http
