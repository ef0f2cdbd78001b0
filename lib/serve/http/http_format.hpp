#pragma once

#include "serve/hub.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace rtx::serve::http {

/// The endpoints of the HTTP listener (man/rtx-serve.1, HTTP ENDPOINTS).
enum class Endpoint {
    not_found,
    index,            ///< GET /
    eventsource_page, ///< GET /eventsource.html
    websocket_page,   ///< GET /websocket.html
    push_page,        ///< GET /push.html
    webrtc_page,      ///< GET /webrtc.html
    sse,              ///< GET /sse/{topic}
    stream,           ///< GET /stream/{topic}
    poll,             ///< GET /poll/{topic}
    publish,          ///< POST /publish/{topic}
    push,             ///< /push/...: the mock Web Push service (push_service.hpp)
    whip,             ///< /whip/...: WHIP signalling with rtx serve's WebRTC peers
};

/// Where a request path leads.
struct Route {
    Endpoint endpoint = Endpoint::not_found;
    /// The rest of the path after the endpoint's prefix ("/sse/a/b" -> "a/b"); empty for a
    /// prefix with nothing after it, which is a bad request rather than an unknown path.
    std::string_view topic;
};

/// Maps a request path (already percent-decoded; no query) to its endpoint. Pure.
Route route(std::string_view path);

/// The methods an endpoint accepts, for the Allow header of a 405: "GET, OPTIONS".
std::string_view allowed_methods(Endpoint endpoint);

/// Parses a message id or cursor: decimal digits only, no sign, no overflow. Pure.
std::optional<std::uint64_t> parse_id(std::string_view text);

/// Appends one event in the text/event-stream format (WHATWG HTML section 9.2.6):
/// "id: N", "event: NAME" when the message has one, then one "data: " line per line of the
/// payload, then a blank line. CR, LF and CRLF all end a payload line, as they do for the
/// client's parser, so a multi-line payload arrives with LF between its lines. A binary
/// payload (or text that is not UTF-8) is sent as one base64 data line.
void append_sse_event(std::string& out, const HubMessage& message);

/// Appends one NDJSON line: {"id":N,"topic":"..","payload":".."}, plus "event" when the
/// message has one and "encoding":"base64" when the payload is binary (then base64).
void append_ndjson_message(std::string& out, const HubMessage& message);

/// Appends the message as it goes in a JSON array of messages (the poll body):
/// {"id":N,"payload":"..","event":".."}; "event" only when set, "encoding":"base64" as above.
void append_json_message(std::string& out, const HubMessage& message);

/// The body of a poll answer: {"cursor":N,"messages":[...]}, with "gap":true after the
/// cursor when messages between the client's cursor and the first one sent were lost.
std::string poll_body(std::uint64_t cursor,
                      std::span<const std::shared_ptr<const HubMessage>> messages, bool gap);

/// The body of a publish answer: {"id":N,"topic":"..","subscribers":K}.
std::string publish_body(const HubMessage& message, std::size_t subscribers);

/// Room to leave in front of a chunk's data for the size line frame_chunk() writes.
inline constexpr std::size_t k_chunk_header_room = 18; // 16 hex digits, CRLF

/// Frames buffer[data_offset, end) in place as one HTTP/1.1 chunk (RFC 9112 section 7.1):
/// writes the hex size line just before data_offset and appends CRLF. Returns the offset at
/// which the chunk starts. Needs data_offset >= k_chunk_header_room. Pure.
std::size_t frame_chunk(std::string& buffer, std::size_t data_offset);

/// The last chunk, which ends a chunked body (no trailers).
inline constexpr std::string_view k_last_chunk = "0\r\n\r\n";

} // namespace rtx::serve::http
