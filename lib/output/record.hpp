#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtx::output {

/// The one record shape every protocol writes (NDJSON with --json). Views are borrowed for
/// the duration of the write.
struct Record {
    std::chrono::system_clock::time_point time; ///< When rtx received it.
    std::string_view protocol;                  ///< "tcp", "ws", "sse", "mqtt", ...
    std::uint64_t connection = 0;               ///< Which connection (1 for a client).
    std::string_view event = "message";         ///< "message", "open", "close", SSE event.
    /// True for connection events (open, close): written only as NDJSON, never counted.
    /// False for received messages, whatever their event name (an SSE "update" is data).
    bool lifecycle = false;
    std::string_view topic; ///< Hub/MQTT topic; empty: null.
    std::string_view id;    ///< SSE id, sequence; empty: null.
    std::string_view payload;
    bool binary = false; ///< Binary payloads (and text that is not UTF-8) are base64.
    /// MQTT only: the QoS the message was delivered with. When set, the NDJSON record gets
    /// three more keys after "size": "qos", "retain" and "properties".
    std::optional<int> qos;
    bool retain = false; ///< MQTT retain flag (written only when qos is set).
    /// MQTT 5 properties as one JSON object text ("{}" when none), written verbatim.
    std::string_view properties_json;
    /// Protocol-specific members, already JSON ("\"opcode\":\"text\"", a close event's
    /// "\"code\":1000"), written after "size"; empty: none. The common keys never change.
    std::string_view extra_json;
};

/// Which records a client writes: `rtx sse --event` and the HTTP clients' --no-lifecycle.
struct RecordFilter {
    /// Only records whose "event" is one of these, open and close records included (`--event
    /// update` writes only update events); empty: every event.
    std::vector<std::string> events;
    bool lifecycle = true; ///< false: no open and close records, only messages.
    bool accepts(const Record& record) const;
};

/// Appends the record as one NDJSON line (with the trailing LF):
/// {"time":"2026-11-28T15:51:06.123456Z","protocol":"tcp","connection":1,"event":"message",
///  "topic":null,"id":null,"payload":"hello","encoding":"utf8","size":5}
/// The first nine keys and their order are the same for every protocol; "encoding" is "utf8"
/// or "base64". Protocol keys follow "size" (man/rtx.1, "NDJSON records"): MQTT messages add
/// ,"qos":1,"retain":false,"properties":{...}, then extra_json (WebSocket "opcode", a close
/// record's "code" and "by_peer").
void append_ndjson(std::string& out, const Record& record);

/// Appends an RFC 3339 UTC timestamp with microseconds: 2026-11-28T15:51:06.123456Z.
void append_timestamp(std::string& out, std::chrono::system_clock::time_point time);

} // namespace rtx::output
