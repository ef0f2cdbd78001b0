#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace rtx::bench {

/// One `--message` text, parsed once: literal text with placeholders {seq} (the
/// connection's message number, from 0), {conn} (the connection, from 1) and {time}
/// (milliseconds since 1970 at send time); every other brace is text (JSON needs no
/// escaping). Pure.
class MessageTemplate {
public:
    /// Never fails today (a Result so that stricter forms can say why).
    static core::Result<MessageTemplate> parse(std::string_view text);

    /// Replaces `out` with the message for these values.
    void render(std::string& out, std::uint64_t seq, std::uint64_t conn,
                std::int64_t time_ms) const;

private:
    enum class Kind { text, seq, conn, time };
    struct Piece {
        Kind kind = Kind::text;
        std::string text;
    };
    std::vector<Piece> m_pieces;
};

/// The user's own echo messages (`--message`, `--expect`): what each connection sends in
/// turn, and which reply completes a round trip. Read-only once made: shared by every
/// worker thread.
struct EchoMessages {
    std::vector<MessageTemplate> templates;   ///< Sent in turn; empty: rtx's stamped payload.
    std::shared_ptr<const std::regex> expect; ///< Null: any reply completes a round trip.
    bool active() const { return !templates.empty(); }
};

/// The templates of `--message TEXT` or `--message @FILE` (one per non-empty line).
/// `read_file` reads FILE. ExitCode::usage with a one-line reason on a bad template or an
/// empty file; messages carry no line break (lines frame tcp messages).
core::Result<std::vector<MessageTemplate>> parse_messages(std::string_view text,
                                                          const std::string& file_text);

} // namespace rtx::bench
