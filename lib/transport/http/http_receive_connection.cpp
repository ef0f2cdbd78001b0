#include "transport/http/http_receive_connection.hpp"

#include "core/encoding.hpp"
#include "core/log.hpp"

#include <fmt/format.h>

namespace rtx::transport::http {

HttpReceiveConnection::HttpReceiveConnection(CurlMulti& multi, Handler& handler, std::uint64_t id)
    : m_multi(multi)
    , m_handler(handler)
    , m_id(id)
    , m_timer(multi.loop())
    , m_error_body_timer(multi.loop())
    , m_started_ms(multi.loop().now_ms()) {}

HttpReceiveConnection::~HttpReceiveConnection() = default;

void HttpReceiveConnection::start_transfer(const HttpRequest& request) {
    m_transfer =
        std::make_unique<HttpTransfer>(m_multi, request, static_cast<HttpTransferHandler&>(*this));
    m_transfer->start();
}

void HttpReceiveConnection::open() {
    m_open = true;
    m_stats.connect_time = std::chrono::milliseconds(m_multi.loop().now_ms() - m_started_ms);
    m_handler.on_open(*this);
}

void HttpReceiveConnection::show_head(const HttpResponseHead& head) {
    if (!head.text.empty() && !m_finished) {
        m_handler.on_head_text(*this, head.text);
    }
}

void HttpReceiveConnection::deliver(const Message& message) {
    if (m_finished) {
        return; // the handler closed us earlier in this batch
    }
    ++m_stats.messages_in;
    m_stats.bytes_in += message.payload.size();
    m_handler.on_message(*this, message);
}

void HttpReceiveConnection::close() {
    CloseInfo info;
    info.reason = "closed";
    finish(std::move(info));
}

void HttpReceiveConnection::begin_error_body(CloseInfo info) {
    m_error_info = std::move(info);
    m_error_body.clear();
    m_error_body_timer.start(k_error_body_wait, [this] { finish_with_error_body(); });
}

bool HttpReceiveConnection::collect_error_body(std::string_view bytes) {
    // The excerpt needs only its first bytes; -v shows the whole body, within reason.
    const std::size_t keep = core::log_level() >= core::LogLevel::verbose
                                 ? std::size_t{1} << 20
                                 : k_error_excerpt_bytes * 4;
    m_error_body.append(bytes.substr(0, keep - std::min(keep, m_error_body.size())));
    return m_error_body.size() < keep;
}

void HttpReceiveConnection::finish_with_error_body() {
    if (!m_error_info) {
        return;
    }
    CloseInfo info = std::move(*m_error_info);
    m_error_info.reset();
    add_error_body(info, m_error_body);
    m_error_body.clear();
    finish(std::move(info));
}

void HttpReceiveConnection::add_error_body(CloseInfo& info, std::string_view body) {
    std::string excerpt = core::one_line_excerpt(body, k_error_excerpt_bytes);
    if (excerpt.empty()) {
        return;
    }
    if (core::log_level() >= core::LogLevel::verbose) {
        core::log_line(fmt::format("response body ({} bytes):", body.size()));
        while (!body.empty()) {
            auto end = body.find('\n');
            core::log_line(body.substr(0, end));
            body = end == std::string_view::npos ? std::string_view() : body.substr(end + 1);
        }
    }
    info.reason += ": " + excerpt;
}

void HttpReceiveConnection::finish(CloseInfo info) {
    if (m_finished) {
        return;
    }
    m_finished = true;
    m_error_body_timer.stop();
    info.was_open = m_open;
    complete(info);
    if (m_transfer) {
        m_transfer->abort();
    }
    m_timer.start(core::Duration{0}, [this, info = std::move(info)] {
        m_transfer.reset();
        m_handler.on_close(*this, info); // last: the owner may destroy us
    });
}

} // namespace rtx::transport::http
