#include "transport/http/poll_connection.hpp"

#include "core/log.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace rtx::transport::http {

using core::ExitCode;

namespace {

std::string url_escape(std::string_view text) {
    std::string out;
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
            out.push_back(c);
        } else {
            out += fmt::format("%{:02X}", u);
        }
    }
    return out;
}

} // namespace

PollConnection::PollConnection(CurlMulti& multi, HttpRequest request, PollOptions options,
                               std::shared_ptr<PollState> state, Handler& handler, std::uint64_t id)
    : HttpReceiveConnection(multi, handler, id)
    , m_request(std::move(request))
    , m_options(std::move(options))
    , m_state(std::move(state)) {
    // The client must outwait the server's hold, or every held request would time out.
    if (m_request.timeout.count() == 0) {
        m_request.timeout = m_options.hold + std::chrono::seconds(15);
    }
}

PollConnection::~PollConnection() = default;

void PollConnection::start() {
    m_timer.start(core::Duration{0}, [this] { request(); });
}

void PollConnection::request() {
    HttpRequest request = m_request;
    if (!m_state->cursor.empty()) {
        char separator = request.url.find('?') == std::string::npos ? '?' : '&';
        request.url +=
            fmt::format("{}{}={}", separator, m_options.cursor_param, url_escape(m_state->cursor));
    }
    if (!m_state->etag.empty()) {
        request.headers.push_back("If-None-Match: " + m_state->etag);
    }
    if (!m_state->last_modified.empty()) {
        request.headers.push_back("If-Modified-Since: " + m_state->last_modified);
    }
    m_head = HttpResponseHead{};
    m_body.clear();
    m_request_started_ms = m_multi.loop().now_ms();
    m_transfer =
        std::make_unique<HttpTransfer>(m_multi, request, static_cast<HttpTransferHandler&>(*this));
    m_transfer->start();
}

bool PollConnection::on_response_head(const HttpResponseHead& head) {
    show_head(head);
    m_head = head;
    if (!m_open && (head.status / 100 == 2 || head.status == 304)) {
        open();
    }
    return !m_finished;
}

bool PollConnection::on_body(std::string_view bytes) {
    if (m_body.size() + bytes.size() > (64u << 20)) {
        CloseInfo info;
        info.exit_code = ExitCode::protocol_error;
        info.by_peer = true;
        info.reason = fmt::format("{}: response larger than 64 MiB", m_request.url);
        finish(std::move(info));
        return false;
    }
    m_body.append(bytes);
    return !m_finished;
}

void PollConnection::handle_body() {
    if (auto etag = m_head.header("etag"); !etag.empty()) {
        m_state->etag = std::string(etag);
    }
    if (auto modified = m_head.header("last-modified"); !modified.empty()) {
        m_state->last_modified = std::string(modified);
    }
    if (auto cursor = m_head.header("x-cursor"); !cursor.empty()) {
        m_state->cursor = std::string(cursor);
    }
    bool wants_json = !m_options.cursor_pointer.empty() || !m_options.items_pointer.empty();
    nlohmann::json document;
    if (wants_json) {
        document = nlohmann::json::parse(m_body, nullptr, false);
        if (document.is_discarded()) {
            CloseInfo info;
            info.exit_code = ExitCode::protocol_error;
            info.by_peer = true;
            info.reason = fmt::format("{}: response is not JSON", m_request.url);
            finish(std::move(info));
            return;
        }
    }
    if (!m_options.cursor_pointer.empty()) {
        try {
            const auto& value = document.at(nlohmann::json::json_pointer(m_options.cursor_pointer));
            m_state->cursor = value.is_string() ? value.get<std::string>() : value.dump();
        } catch (const nlohmann::json::exception&) {
            core::log_verbose("{}: no cursor at {}", m_request.url, m_options.cursor_pointer);
        }
    }
    if (!m_options.items_pointer.empty()) {
        const nlohmann::json* items = nullptr;
        try {
            items = &document.at(nlohmann::json::json_pointer(m_options.items_pointer));
        } catch (const nlohmann::json::exception&) {
            items = nullptr;
        }
        if (items == nullptr || !items->is_array()) {
            CloseInfo info;
            info.exit_code = ExitCode::protocol_error;
            info.by_peer = true;
            info.reason = fmt::format("{}: no array at {}", m_request.url, m_options.items_pointer);
            finish(std::move(info));
            return;
        }
        for (const auto& item : *items) {
            deliver(Message{item.is_string() ? item.get_ref<const std::string&>() : item.dump()});
        }
        return;
    }
    if (m_options.lines) {
        std::string_view rest = m_body;
        while (!rest.empty()) {
            auto end = rest.find('\n');
            std::string_view line = rest.substr(0, end);
            if (!line.empty() && line.back() == '\r') {
                line.remove_suffix(1);
            }
            deliver(Message{line});
            rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
        }
        return;
    }
    std::string_view body = m_body;
    if (!body.empty() && body.back() == '\n') {
        body.remove_suffix(1); // the sink adds the line end back
    }
    if (!body.empty()) {
        deliver(Message{body});
    }
}

void PollConnection::on_done(const HttpResult& result) {
    if (m_finished) {
        return;
    }
    if (!result.ok) {
        CloseInfo info;
        info.exit_code = result.exit_code;
        info.by_peer = true;
        info.reason = result.error;
        finish(std::move(info));
        return;
    }
    long status = m_head.status;
    if (status == 429 || status == 503) {
        CloseInfo info;
        info.exit_code = ExitCode::http_status;
        info.protocol_code = static_cast<int>(status);
        info.by_peer = true;
        info.retry_after = m_head.retry_after();
        info.reason = fmt::format("{}: HTTP {} {}", m_request.url, status, m_head.reason);
        add_error_body(info, m_body);
        finish(std::move(info));
        return;
    }
    if (status == 204 || status == 304) {
        core::log_debug("{}: HTTP {}: nothing new", m_request.url, status);
        if (auto cursor = m_head.header("x-cursor"); !cursor.empty()) {
            m_state->cursor = std::string(cursor);
        }
    } else if (status / 100 == 2) {
        handle_body();
        if (m_finished) {
            return;
        }
    } else {
        CloseInfo info;
        info.exit_code = ExitCode::http_status;
        info.protocol_code = static_cast<int>(status);
        info.by_peer = true;
        info.reason = fmt::format("{}: HTTP {} {}", m_request.url, status, m_head.reason);
        add_error_body(info, m_body);
        finish(std::move(info));
        return;
    }
    // Ask again at once, or once `interval` has passed since the last request started.
    auto elapsed = std::chrono::milliseconds(m_multi.loop().now_ms() - m_request_started_ms);
    auto wait = m_options.interval > elapsed ? m_options.interval - elapsed : core::Duration{0};
    m_timer.start(wait, [this] {
        m_transfer.reset();
        request();
    });
}

} // namespace rtx::transport::http
