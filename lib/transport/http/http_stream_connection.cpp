#include "transport/http/http_stream_connection.hpp"

#include "core/log.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace rtx::transport::http {

using core::ExitCode;

HttpStreamConnection::HttpStreamConnection(CurlMulti& multi, HttpRequest request, BodyFormat format,
                                           std::shared_ptr<SseState> sse, Handler& handler,
                                           std::uint64_t id)
    : HttpReceiveConnection(multi, handler, id)
    , m_request(std::move(request))
    , m_format(format)
    , m_sse(std::move(sse)) {
    if (m_format == BodyFormat::sse) {
        // WHATWG HTML 9.2.4: ask for an event stream, bypass caches, resume after the last
        // event this client saw.
        m_request.headers.insert(m_request.headers.begin(), "Accept: text/event-stream");
        m_request.headers.push_back("Cache-Control: no-cache");
        if (m_sse && !m_sse->last_event_id.empty()) {
            m_request.headers.push_back("Last-Event-ID: " + m_sse->last_event_id);
            m_parser.set_last_event_id(m_sse->last_event_id);
        }
    }
}

HttpStreamConnection::~HttpStreamConnection() = default;

void HttpStreamConnection::start() {
    m_timer.start(core::Duration{0}, [this] { start_transfer(m_request); });
}

bool HttpStreamConnection::on_response_head(const HttpResponseHead& head) {
    show_head(head);
    m_status = head.status;
    CloseInfo info;
    info.protocol_code = static_cast<int>(head.status);
    if (m_format == BodyFormat::sse && head.status == 204) {
        // WHATWG HTML 9.2.3: 204 No Content means "stop reconnecting".
        info.final = true;
        info.by_peer = true;
        info.reason = "server answered 204 No Content: not reconnecting";
        finish(std::move(info));
        return false;
    }
    if (head.status < 200 || head.status > 299) {
        info.exit_code = ExitCode::http_status;
        info.by_peer = true;
        info.reason = fmt::format("{}: HTTP {} {}", m_request.url, head.status, head.reason);
        info.retry_after = head.retry_after();
        begin_error_body(std::move(info)); // the body says why, as curl shows it
        return true;
    }
    if (m_format == BodyFormat::sse) {
        std::string_view type = head.header("content-type");
        std::string media(type.substr(0, type.find(';')));
        while (!media.empty() && std::isspace(static_cast<unsigned char>(media.back()))) {
            media.pop_back();
        }
        std::transform(media.begin(), media.end(), media.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (media != "text/event-stream") {
            info.exit_code = ExitCode::http_status;
            info.by_peer = true;
            info.reason =
                fmt::format("{}: content type '{}' is not text/event-stream", m_request.url, type);
            finish(std::move(info));
            return false;
        }
    }
    core::log_verbose("{}: HTTP {} {}", m_request.url, head.status, head.reason);
    m_content_length = std::string(head.header("content-length"));
    open();
    return !m_finished;
}

bool HttpStreamConnection::on_body(std::string_view bytes) {
    if (collecting_error_body()) {
        if (!collect_error_body(bytes)) {
            finish_with_error_body();
            return false;
        }
        return true;
    }
    if (m_finished || !m_open) {
        return false;
    }
    switch (m_format) {
    case BodyFormat::chunks:
        deliver(Message{bytes});
        break;
    case BodyFormat::lines:
    case BodyFormat::ndjson:
        if (!m_framer.feed(bytes, [this](std::string_view line) {
                if (m_format == BodyFormat::ndjson && line.empty()) {
                    return; // NDJSON allows blank lines between records
                }
                deliver(Message{line});
            })) {
            CloseInfo info;
            info.exit_code = ExitCode::protocol_error;
            info.by_peer = true;
            info.reason = fmt::format("{}: line longer than {} bytes", m_request.url,
                                      proto::Framer::k_default_max_message);
            finish(std::move(info));
            return false;
        }
        break;
    case BodyFormat::sse: {
        bool fits = m_parser.feed(
            bytes,
            [this](const proto::SseEvent& event) {
                if (m_sse) {
                    m_sse->last_event_id = std::string(event.last_event_id);
                }
                Message message{event.data};
                message.topic = event.type;
                message.id = event.last_event_id;
                deliver(message);
            },
            [this](std::uint64_t ms) {
                if (m_sse) {
                    m_sse->reconnection_time = std::chrono::milliseconds(ms);
                }
                core::log_verbose("server asks to reconnect after {} ms", ms);
            },
            [](std::string_view comment) { core::log_debug("comment:{}", comment); });
        if (m_sse) {
            // An id in a block without data still moves the last event ID (9.2.6).
            m_sse->last_event_id = m_parser.last_event_id();
        }
        if (!fits) {
            CloseInfo info;
            info.exit_code = ExitCode::protocol_error;
            info.by_peer = true;
            info.reason = fmt::format("{}: event larger than {} bytes", m_request.url,
                                      proto::SseParser::k_default_max_event);
            finish(std::move(info));
            return false;
        }
        break;
    }
    }
    return !m_finished;
}

void HttpStreamConnection::on_done(const HttpResult& result) {
    if (collecting_error_body()) {
        finish_with_error_body();
        return;
    }
    if (m_finished) {
        return;
    }
    CloseInfo info;
    info.by_peer = true;
    info.protocol_code = static_cast<int>(m_status);
    if (!result.ok) {
        info.exit_code = result.exit_code;
        info.reason = result.error;
    } else {
        if (m_format == BodyFormat::lines || m_format == BodyFormat::ndjson) {
            m_framer.finish([this](std::string_view line) {
                if (!(m_format == BodyFormat::ndjson && line.empty())) {
                    deliver(Message{line});
                }
            });
        }
        info.reason = "server ended the response";
        if (m_format == BodyFormat::sse && !m_content_length.empty() && m_sse &&
            !m_sse->warned_content_length) {
            // An event stream is meant to stay open (WHATWG HTML 9.2); a Content-Length
            // ends it after that many bytes, and every reconnect starts it over.
            m_sse->warned_content_length = true;
            core::log_info("warning: {}: the event stream has a Content-Length ({} bytes), so "
                           "it ends after them and each reconnect starts it over; a server "
                           "that streams events sends no Content-Length",
                           m_request.url, m_content_length);
        }
    }
    finish(std::move(info));
}

void HttpStreamConnection::complete(CloseInfo& info) {
    if (m_sse) {
        info.reconnect_time = m_sse->reconnection_time; // outlives this connection (9.2.6)
    }
}

} // namespace rtx::transport::http
