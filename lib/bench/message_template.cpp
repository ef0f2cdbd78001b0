#include "bench/message_template.hpp"

#include <fmt/format.h>

namespace rtx::bench {

namespace {

core::Error bad(std::string_view text, std::string_view why) {
    return core::Error{core::ExitCode::usage, fmt::format("--message '{}': {}", text, why)};
}

} // namespace

core::Result<MessageTemplate> MessageTemplate::parse(std::string_view text) {
    MessageTemplate out;
    std::string literal;
    auto flush = [&] {
        if (!literal.empty()) {
            out.m_pieces.push_back(Piece{Kind::text, std::move(literal)});
            literal.clear();
        }
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '}') {
            if (i + 1 < text.size() && text[i + 1] == '}') {
                literal += '}';
                ++i;
                continue;
            }
            return bad(text, "a lone '}' (write '}}' for a brace)");
        }
        if (c != '{') {
            literal += c;
            continue;
        }
        if (i + 1 < text.size() && text[i + 1] == '{') {
            literal += '{';
            ++i;
            continue;
        }
        const auto close = text.find('}', i);
        if (close == std::string_view::npos) {
            return bad(text, "a '{' without its '}' (write '{{' for a brace)");
        }
        const std::string_view name = text.substr(i + 1, close - i - 1);
        Kind kind;
        if (name == "seq") {
            kind = Kind::seq;
        } else if (name == "conn") {
            kind = Kind::conn;
        } else if (name == "time") {
            kind = Kind::time;
        } else {
            return bad(text, fmt::format("unknown placeholder {{{}}} (seq, conn, time)", name));
        }
        flush();
        out.m_pieces.push_back(Piece{kind, {}});
        i = close;
    }
    flush();
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
