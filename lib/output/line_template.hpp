#pragma once

#include "core/error.hpp"
#include "output/record.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace rtx::output {

/// A --format template, parsed once: literal text with placeholders, one output line per
/// received message (the caller adds the delimiter). Placeholders (mosquitto_sub's -F uses
/// the same letters where they overlap):
///   %t topic   %p payload   %q QoS   %r retain flag (0 or 1)   %l payload length in bytes
///   %x payload as hex   %b payload as base64   %P MQTT 5 properties as a JSON object
///   %j the whole NDJSON record (without its newline)   %I receive time, RFC 3339 UTC
///   %U receive time, Unix seconds with microseconds   %i message id   %%  a percent sign
/// Escapes: \n newline, \t tab, \\ backslash, \0 NUL.
/// Brace placeholders (every client's --format, and --pick, which is "{/a}\t{/b}"):
///   {/pointer}  that member of the payload parsed as JSON (RFC 6901): a string as its text,
///               anything else as compact JSON, a missing member as nothing
///   {name}      a key of the NDJSON record: time protocol connection event topic id payload
///               encoding size qos retain
/// A '{' that starts neither ("{\"a\":%p}") is literal text, so JSON-shaped templates work.
class LineTemplate {
public:
    /// Parses `text`; an unknown placeholder, record key or escape, a pointer that is not
    /// RFC 6901, or a trailing lone % or \, is an Error with ExitCode::usage that names it.
    static core::Result<LineTemplate> parse(std::string_view text);
    /// The --pick template: each pointer's value, a tab between them.
    static core::Result<LineTemplate> pick(const std::vector<std::string>& pointers);

    /// What append() did with one message.
    enum class Expansion {
        written,  ///< The line was appended.
        not_json, ///< The template has {/pointer}s and the payload is not JSON: nothing.
        missing,  ///< The payload is JSON but has none of the pointers: nothing appended.
    };
    /// Appends the expansion for one record (no delimiter), unless its {/pointer}s find
    /// nothing to show: a template with pointers skips a message that is not JSON (an SSE
    /// "[DONE]", a heartbeat) or has none of them, so a token stream prints only tokens.
    Expansion append(std::string& out, const Record& record) const;

private:
    struct Piece {
        char placeholder = 0; ///< 0: literal text; '{': record key; '/': JSON pointer.
        std::string text;     ///< Literal text, the key or the pointer.
    };
    std::vector<Piece> m_pieces;
    bool m_has_pointer = false;
};

} // namespace rtx::output
