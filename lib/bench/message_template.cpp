#include "bench/message_template.hpp"

#include <fmt/format.h>

namespace rtx::bench {

namespace {

core::Error bad(std::string_view text, std::string_view why) {
    return core::Error{core::ExitCode::usage, fmt::format("--message '{}': {}", text, why)};
}

} // namespace

core::Result<MessageTemplate> MessageTemplate::parse(std::string_view text) {
    // Only the three names are placeholders: any other brace is text, so JSON messages
    // ({"id":{seq}}) need no escaping.
    MessageTemplate out;
    std::string literal;
    for (std::size_t i = 0; i < text.size(); ++i) {
        Kind kind = Kind::text;
        std::size_t length = 0;
        for (auto [name, named] : {std::pair{std::string_view("{seq}"), Kind::seq},
                                   std::pair{std::string_view("{conn}"), Kind::conn},
                                   std::pair{std::string_view("{time}"), Kind::time}}) {
            if (text.substr(i).starts_with(name)) {
                kind = named;
                length = name.size();
            }
        }
        if (kind == Kind::text) {
            literal += text[i];
            continue;
        }
        if (!literal.empty()) {
            out.m_pieces.push_back(Piece{Kind::text, std::move(literal)});
            literal.clear();
        }
        out.m_pieces.push_back(Piece{kind, {}});
        i += length - 1;
    }
    if (!literal.empty()) {
        out.m_pieces.push_back(Piece{Kind::text, std::move(literal)});
    }
    return out;
}

void MessageTemplate::render(std::string& out, std::uint64_t seq, std::uint64_t conn,
                             std::int64_t time_ms) const {
    out.clear();
    for (const Piece& piece : m_pieces) {
        switch (piece.kind) {
        case Kind::text:
            out += piece.text;
            break;
        case Kind::seq:
            fmt::format_to(std::back_inserter(out), "{}", seq);
            break;
        case Kind::conn:
            fmt::format_to(std::back_inserter(out), "{}", conn);
            break;
        case Kind::time:
            fmt::format_to(std::back_inserter(out), "{}", time_ms);
            break;
        }
    }
}

core::Result<std::vector<MessageTemplate>> parse_messages(std::string_view text,
                                                          const std::string& file_text) {
    std::vector<MessageTemplate> templates;
    const bool from_file = text.starts_with("@");
    std::string_view rest = from_file ? std::string_view(file_text) : text;
    if (!from_file && rest.find_first_of("\r\n") != std::string_view::npos) {
        return bad(text, "one line (messages are framed by line breaks)");
    }
    while (!rest.empty()) {
        const auto newline = rest.find('\n');
        std::string_view line = rest.substr(0, newline);
        rest = newline == std::string_view::npos ? std::string_view{} : rest.substr(newline + 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.empty()) {
            continue;
        }
        auto parsed = MessageTemplate::parse(line);
        if (!parsed) {
            return parsed.error();
        }
        templates.push_back(std::move(parsed.value()));
    }
    if (templates.empty()) {
        return bad(text, from_file ? "the file has no message (one per line)" : "empty");
    }
    return templates;
}

} // namespace rtx::bench
