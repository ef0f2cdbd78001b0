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
class LineTemplate {
public:
    /// Parses `text`; an unknown placeholder or escape, or a trailing lone % or \, is an
    /// Error with ExitCode::usage that names it.
    static core::Result<LineTemplate> parse(std::string_view text);

    /// Appends the expansion for one record (no delimiter).
    void append(std::string& out, const Record& record) const;

private:
    struct Piece {
        char placeholder = 0; ///< 0: literal text.
        std::string text;
    };
    std::vector<Piece> m_pieces;
};

} // namespace rtx::output
