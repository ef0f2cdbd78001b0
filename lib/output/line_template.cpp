#include "output/line_template.hpp"

#include "core/encoding.hpp"

#include <fmt/format.h>

#include <string_view>

namespace rtx::output {

namespace {
constexpr std::string_view k_placeholders = "tpqrlxbPjIUi";
} // namespace

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

void LineTemplate::append(std::string& out, const Record& record) const {
    for (const auto& piece : m_pieces) {
        switch (piece.placeholder) {
        case 0:
            out.append(piece.text);
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
}

} // namespace rtx::output
