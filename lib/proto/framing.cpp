#include "proto/framing.hpp"

namespace rtx::proto {

std::optional<Framing> parse_framing(std::string_view name) {
    if (name == "lines" || name == "line") {
        return Framing::lines;
    }
    if (name == "raw") {
        return Framing::raw;
    }
    if (name == "nul" || name == "null") {
        return Framing::nul;
    }
    return std::nullopt;
}

std::string_view framing_name(Framing framing) {
    switch (framing) {
    case Framing::lines:
        return "lines";
    case Framing::raw:
        return "raw";
    case Framing::nul:
        return "nul";
    }
    return "lines";
}

std::string_view framing_delimiter(Framing framing) {
    switch (framing) {
    case Framing::lines:
        return "\n";
    case Framing::raw:
        return "";
    case Framing::nul:
        return std::string_view("\0", 1);
    }
    return "";
}

Framer::Framer(Framing framing, std::size_t max_message)
    : m_framing(framing)
    , m_max_message(max_message) {}

void Framer::emit_line(std::string_view message, const Emit& emit) const {
    if (m_framing == Framing::lines && !message.empty() && message.back() == '\r') {
        message.remove_suffix(1); // CRLF line ends, as sent by telnet-style peers
    }
    emit(message);
}

bool Framer::feed(std::string_view bytes, const Emit& emit) {
    if (m_failed) {
        return false;
    }
    if (m_framing == Framing::raw) {
        if (!bytes.empty()) {
            emit(bytes);
        }
        return true;
    }
    const char delimiter = m_framing == Framing::lines ? '\n' : '\0';
    std::size_t start = 0;
    for (;;) {
        std::size_t end = bytes.find(delimiter, start);
        if (end == std::string_view::npos) {
            break;
        }
        std::string_view piece = bytes.substr(start, end - start);
        if (m_partial.empty()) {
            emit_line(piece, emit);
        } else {
            m_partial.append(piece);
            emit_line(m_partial, emit);
            m_partial.clear();
        }
        start = end + 1;
    }
    std::string_view rest = bytes.substr(start);
    if (m_partial.size() + rest.size() > m_max_message) {
        m_failed = true;
        m_partial.clear();
        return false;
    }
    m_partial.append(rest);
    return true;
}

void Framer::finish(const Emit& emit) {
    if (m_framing == Framing::raw || m_failed || m_partial.empty()) {
        m_partial.clear();
        return;
    }
    emit_line(m_partial, emit);
    m_partial.clear();
}

} // namespace rtx::proto
