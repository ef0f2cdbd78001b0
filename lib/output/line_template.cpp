#include "output/line_template.hpp"

#include "core/encoding.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <string_view>

namespace rtx::output {

namespace {
constexpr std::string_view k_placeholders = "tpqrlxbPjIUi";
constexpr std::array<std::string_view, 11> k_record_keys = {
    "time",    "protocol", "connection", "event", "topic", "id",
    "payload", "encoding", "size",       "qos",   "retain"};

bool is_key_char(char c) {
    return (c >= 'a' && c <= 'z') || c == '_';
}

/// The RFC 6901 check: nlohmann's pointer parser rejects a missing leading '/' and an '~'
/// not followed by 0 or 1.
std::optional<std::string> pointer_error(const std::string& pointer) {
    try {
        nlohmann::json::json_pointer parsed(pointer);
        (void)parsed;
        return std::nullopt;
    } catch (const nlohmann::json::exception&) {
        return fmt::format("'{}' is not a JSON pointer (RFC 6901: /a/0/b, ~0 for ~, ~1 for /)",
                           pointer);
    }
}

/// A '{' at text[i]: a placeholder ('/' pointer or '{' record key, its length through the
/// '}'), literal text (nullopt, nullopt) or an error.
struct Brace {
    char kind = 0;
    std::string text;
    std::size_t length = 0;
};
core::Result<std::optional<Brace>> parse_brace(std::string_view text, std::size_t i) {
    std::string_view rest = text.substr(i + 1);
    if (!rest.empty() && rest.front() == '/') {
        std::size_t close = rest.find('}');
        if (close == std::string_view::npos) {
            return core::Error{core::ExitCode::usage,
                               fmt::format("--format: '{{{}' has no closing '}}'", rest)};
        }
        std::string pointer(rest.substr(0, close));
        if (auto error = pointer_error(pointer)) {
            return core::Error{core::ExitCode::usage, "--format: " + *error};
        }
        return std::optional<Brace>(Brace{'/', pointer, close + 2});
    }
    std::size_t n = 0;
    while (n < rest.size() && is_key_char(rest[n])) {
        ++n;
    }
    if (n == 0 || n == rest.size() || rest[n] != '}') {
        return std::optional<Brace>(); // literal: "{\"a\":1}"
    }
    std::string_view key = rest.substr(0, n);
    if (std::find(k_record_keys.begin(), k_record_keys.end(), key) == k_record_keys.end()) {
        return core::Error{core::ExitCode::usage,
                           fmt::format("--format: unknown record key '{{{}}}' (see --help)", key)};
    }
    return std::optional<Brace>(Brace{'{', std::string(key), n + 2});
}

void append_record_key(std::string& out, std::string_view key, const Record& record) {
    if (key == "time") {
        append_timestamp(out, record.time);
    } else if (key == "protocol") {
        out.append(record.protocol);
    } else if (key == "connection") {
        fmt::format_to(std::back_inserter(out), "{}", record.connection);
    } else if (key == "event") {
        out.append(record.event);
    } else if (key == "topic") {
        out.append(record.topic);
    } else if (key == "id") {
        out.append(record.id);
    } else if (key == "payload") {
        out.append(record.payload);
    } else if (key == "encoding") {
        out.append(!record.binary && core::is_valid_utf8(record.payload) ? "utf8" : "base64");
    } else if (key == "size") {
        fmt::format_to(std::back_inserter(out), "{}", record.payload.size());
    } else if (key == "qos") {
        fmt::format_to(std::back_inserter(out), "{}", record.qos.value_or(0));
    } else if (key == "retain") {
        out.append(record.retain ? "true" : "false");
    }
}

/// The value at `pointer`, as --pick prints it; nullopt when the document has no such member.
std::optional<std::string> picked(const nlohmann::json& doc, const std::string& pointer) {
    try {
        const nlohmann::json& value = doc.at(nlohmann::json::json_pointer(pointer));
        if (value.is_string()) {
            return value.get<std::string>();
        }
        return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } catch (const nlohmann::json::exception&) {
        return std::nullopt; // no such member, or an array index that is not a number
    }
}
} // namespace

core::Result<LineTemplate> LineTemplate::pick(const std::vector<std::string>& pointers) {
    LineTemplate result;
    for (const auto& pointer : pointers) {
        if (auto error = pointer_error(pointer)) {
            return core::Error{core::ExitCode::usage, "--pick: " + *error};
        }
        if (!result.m_pieces.empty()) {
            result.m_pieces.push_back(Piece{0, "\t"});
        }
        result.m_pieces.push_back(Piece{'/', pointer});
    }
    result.m_has_pointer = !pointers.empty();
    return result;
}

core::Result<LineTemplate> LineTemplate::parse(std::string_view text) {
    LineTemplate result;
    std::string literal;
    auto flush_literal = [&] {
        if (!literal.empty()) {
            result.m_pieces.push_back(Piece{0, std::move(literal)});
            literal.clear();
        }
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '{') {
            auto brace = parse_brace(text, i);
            if (!brace) {
                return brace.error();
            }
            if (brace.value()) {
                flush_literal();
                result.m_has_pointer = result.m_has_pointer || brace.value()->kind == '/';
                result.m_pieces.push_back(Piece{brace.value()->kind, brace.value()->text});
                i += brace.value()->length - 1;
                continue;
            }
        }
        if (c != '%' && c != '\\') {
            literal.push_back(c);
            continue;
        }
        if (i + 1 == text.size()) {
            return core::Error{core::ExitCode::usage,
                               fmt::format("--format: a lone '{}' at the end", c)};
        }
        char next = text[++i];
        if (c == '\\') {
            switch (next) {
            case 'n':
                literal.push_back('\n');
                break;
            case 't':
                literal.push_back('\t');
                break;
            case '\\':
                literal.push_back('\\');
                break;
            case '0':
                literal.push_back('\0');
                break;
            default:
                return core::Error{core::ExitCode::usage,
                                   fmt::format("--format: unknown escape '\\{}'", next)};
            }
            continue;
        }
        if (next == '%') {
            literal.push_back('%');
            continue;
        }
        if (k_placeholders.find(next) == std::string_view::npos) {
            return core::Error{
                core::ExitCode::usage,
                fmt::format("--format: unknown placeholder '%{}' (see --help)", next)};
        }
        flush_literal();
        result.m_pieces.push_back(Piece{next, {}});
    }
    flush_literal();
    return result;
}

LineTemplate::Expansion LineTemplate::append(std::string& out, const Record& record) const {
    nlohmann::json doc;
    std::vector<std::optional<std::string>> values;
    if (m_has_pointer) {
        doc = nlohmann::json::parse(record.payload, nullptr, /*allow_exceptions=*/false);
        if (doc.is_discarded()) {
            return Expansion::not_json;
        }
        bool any = false;
        for (const auto& piece : m_pieces) {
            if (piece.placeholder == '/') {
                values.push_back(picked(doc, piece.text));
                any = any || values.back().has_value();
            }
        }
        if (!any) {
            return Expansion::missing;
        }
    }
    std::size_t next_value = 0;
    for (const auto& piece : m_pieces) {
        switch (piece.placeholder) {
        case 0:
            out.append(piece.text);
            break;
        case '/':
            if (const auto& value = values[next_value++]) {
                out.append(*value);
            }
            break;
        case '{':
            append_record_key(out, piece.text, record);
            break;
        case 't':
            out.append(record.topic);
            break;
        case 'p':
            out.append(record.payload);
            break;
        case 'q':
            fmt::format_to(std::back_inserter(out), "{}", record.qos.value_or(0));
            break;
        case 'r':
            out.push_back(record.retain ? '1' : '0');
            break;
        case 'l':
            fmt::format_to(std::back_inserter(out), "{}", record.payload.size());
            break;
        case 'x':
            core::append_hex(out, record.payload);
            break;
        case 'b':
            core::append_base64(out, record.payload);
            break;
        case 'P':
            out.append(record.properties_json.empty() ? "{}" : record.properties_json);
            break;
        case 'j': {
            std::size_t start = out.size();
            append_ndjson(out, record);
            if (out.size() > start && out.back() == '\n') {
                out.pop_back();
            }
            break;
        }
        case 'I':
            append_timestamp(out, record.time);
            break;
        case 'U': {
            auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                              record.time.time_since_epoch())
                              .count();
            fmt::format_to(std::back_inserter(out), "{}.{:06}", micros / 1'000'000,
                           micros % 1'000'000);
            break;
        }
        case 'i':
            out.append(record.id);
            break;
        default:
            break;
        }
    }
    return Expansion::written;
}

} // namespace rtx::output
