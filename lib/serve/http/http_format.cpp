#include "serve/http/http_format.hpp"

#include "core/encoding.hpp"

#include <fmt/format.h>

#include <array>
#include <cassert>
#include <iterator>

namespace rtx::serve::http {

namespace {

struct Prefix {
    std::string_view text;
    Endpoint endpoint;
};

constexpr std::array k_prefixes{
    Prefix{"/sse/", Endpoint::sse},   Prefix{"/stream/", Endpoint::stream},
    Prefix{"/poll/", Endpoint::poll}, Prefix{"/publish/", Endpoint::publish},
    Prefix{"/push/", Endpoint::push}, Prefix{"/whip/", Endpoint::whip},
};

bool is_text(const HubMessage& message) {
    return !message.binary && core::is_valid_utf8(message.payload);
}

/// "payload":"..." (and "encoding":"base64" for bytes) with the leading comma.
void append_payload_fields(std::string& out, const HubMessage& message) {
    out.append(",\"payload\":");
    if (is_text(message)) {
        core::append_json_string(out, message.payload);
        return;
    }
    out.push_back('"');
    core::append_base64(out, message.payload);
    out.append("\",\"encoding\":\"base64\"");
}

void append_event_field(std::string& out, const HubMessage& message) {
    if (!message.event.empty() && core::is_valid_utf8(message.event)) {
        out.append(",\"event\":");
        core::append_json_string(out, message.event);
    }
}

} // namespace

Route route(std::string_view path) {
    if (path == "/") {
        return {Endpoint::index, {}};
    }
    if (path == "/eventsource.html") {
        return {Endpoint::eventsource_page, {}};
    }
    if (path == "/websocket.html") {
        return {Endpoint::websocket_page, {}};
    }
    if (path == "/push.html") {
        return {Endpoint::push_page, {}};
    }
    if (path == "/webrtc.html") {
        return {Endpoint::webrtc_page, {}};
    }
    for (const Prefix& prefix : k_prefixes) {
        if (path.starts_with(prefix.text)) {
            return {prefix.endpoint, path.substr(prefix.text.size())};
        }
        // "/sse" without the slash: the endpoint, with an empty topic.
        if (path == prefix.text.substr(0, prefix.text.size() - 1)) {
            return {prefix.endpoint, {}};
        }
    }
    return {};
}

std::string_view allowed_methods(Endpoint endpoint) {
    switch (endpoint) {
    case Endpoint::publish:
        return "POST, OPTIONS";
    case Endpoint::push:
        return "GET, POST, DELETE, OPTIONS";
    case Endpoint::whip:
        return "POST, DELETE, OPTIONS";
    case Endpoint::not_found:
        return "";
    default:
        return "GET, OPTIONS";
    }
}

std::optional<std::uint64_t> parse_id(std::string_view text) {
    if (text.empty() || text.size() > 20) {
        return std::nullopt;
    }
    std::uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        auto digit = static_cast<std::uint64_t>(c - '0');
        if (value > (UINT64_MAX - digit) / 10) {
            return std::nullopt;
        }
        value = value * 10 + digit;
    }
    return value;
}

void append_sse_event(std::string& out, const HubMessage& message) {
    fmt::format_to(std::back_inserter(out), "id: {}\n", message.id);
    // An event name is one line by construction (publish rejects CR and LF in it).
    if (!message.event.empty()) {
        out.append("event: ").append(message.event).push_back('\n');
    }
    if (!is_text(message)) {
        out.append("data: ");
        core::append_base64(out, message.payload);
        out.append("\n\n");
        return;
    }
    std::string_view rest = message.payload;
    while (true) {
        std::size_t end = rest.find_first_of("\r\n");
        out.append("data: ").append(rest.substr(0, end)).push_back('\n');
        if (end == std::string_view::npos) {
            break;
        }
        std::size_t next = end + 1;
        if (rest[end] == '\r' && next < rest.size() && rest[next] == '\n') {
            ++next; // CRLF is one line end
        }
        rest.remove_prefix(next);
    }
    out.push_back('\n');
}

void append_ndjson_message(std::string& out, const HubMessage& message) {
    fmt::format_to(std::back_inserter(out), "{{\"id\":{},\"topic\":", message.id);
    core::append_json_string(out, core::is_valid_utf8(message.topic) ? message.topic : "");
    append_event_field(out, message);
    append_payload_fields(out, message);
    out.append("}\n");
}

void append_json_message(std::string& out, const HubMessage& message) {
    fmt::format_to(std::back_inserter(out), "{{\"id\":{}", message.id);
    append_payload_fields(out, message);
    append_event_field(out, message);
    out.push_back('}');
}

std::string poll_body(std::uint64_t cursor,
                      std::span<const std::shared_ptr<const HubMessage>> messages, bool gap) {
    std::string out = fmt::format("{{\"cursor\":{}", cursor);
    if (gap) {
        out.append(",\"gap\":true");
    }
    out.append(",\"messages\":[");
    bool first = true;
    for (const auto& message : messages) {
        if (!first) {
            out.push_back(',');
        }
        first = false;
        append_json_message(out, *message);
    }
    out.append("]}\n");
    return out;
}

std::string publish_body(const HubMessage& message, std::size_t subscribers) {
    std::string out = fmt::format("{{\"id\":{},\"topic\":", message.id);
    core::append_json_string(out, core::is_valid_utf8(message.topic) ? message.topic : "");
    fmt::format_to(std::back_inserter(out), ",\"subscribers\":{}}}\n", subscribers);
    return out;
}

std::size_t frame_chunk(std::string& buffer, std::size_t data_offset) {
    assert(data_offset >= k_chunk_header_room && data_offset <= buffer.size());
    std::array<char, k_chunk_header_room> line{};
    auto end = fmt::format_to_n(line.data(), line.size(), "{:x}\r\n", buffer.size() - data_offset);
    const auto length = static_cast<std::size_t>(end.out - line.data());
    const std::size_t start = data_offset - length;
    buffer.replace(start, length, line.data(), length);
    buffer.append("\r\n");
    return start;
}

} // namespace rtx::serve::http
