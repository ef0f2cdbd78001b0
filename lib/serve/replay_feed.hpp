#pragma once

#include "core/duration.hpp"
#include "core/error.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtx::serve {

/// One message of a recording, as `rtx serve --replay` publishes it.
struct ReplayRecord {
    /// When to publish it, from the feed's first record (its "time" minus the first's).
    core::Duration at{0};
    std::string topic;   ///< The record's "topic", or the feed's default topic when null.
    std::string event;   ///< SSE event name; empty for "message".
    std::string payload; ///< Decoded bytes ("encoding":"base64" records are decoded).
    bool binary = false; ///< It was base64 in the recording: binary on WebSocket.
    bool retain = false; ///< MQTT recordings: the retain flag.
    std::uint8_t qos = 0;
};

/// The messages of one --replay file, in file order, with their spacing.
struct ReplayFeed {
    std::string file; ///< As given on the command line, for messages.
    std::vector<ReplayRecord> records;
    /// The records of one topic, their times measured from that topic's first record: what
    /// a POST route (an LLM-style request) plays to one client from its start.
    std::map<std::string, std::vector<ReplayRecord>, std::less<>> by_topic() const;
};

/// Parses an NDJSON recording: the records `rtx sse|stream|ws|mqtt|tcp --json` write (man
/// rtx(1), "NDJSON records"). Per line, one JSON object with "payload" (a string, required),
/// and optionally "time" (RFC 3339; absent: the previous record's time), "topic" (null or
/// absent: `default_topic`), "event" (records whose event is "open" or "close" are the
/// clients' connection records and are skipped; "message" is the plain event), "encoding"
/// ("utf8" or "base64"), "qos" and "retain". Blank lines are skipped; a record earlier than
/// the one before it follows it at once. Pure.
/// Errors (ExitCode::usage) name the place: "feed.ndjson:7: not a JSON object".
core::Result<ReplayFeed> parse_replay(std::string_view text, std::string_view file,
                                      std::string_view default_topic);

} // namespace rtx::serve
