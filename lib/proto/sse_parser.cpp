#include "proto/sse_parser.hpp"

#include <limits>
#include <utility>

namespace rtx::proto {

namespace {

constexpr std::string_view k_bom = "\xEF\xBB\xBF";
constexpr std::string_view k_replacement = "\xEF\xBF\xBD"; // U+FFFD

struct Utf8Step {
    std::size_t length; // bytes consumed
    bool valid;         // false: they decode to one U+FFFD
};

// One step of the WHATWG Encoding "UTF-8 decoder": a well-formed sequence, or a maximal
// ill-formed subpart (which the decoder turns into one U+FFFD). Lines and field values are
// cut at ASCII bytes, which never continue a sequence, so decoding each value on its own gives
// the same text as decoding the whole stream.
Utf8Step utf8_step(std::string_view s, std::size_t i) {
    const auto lead = static_cast<unsigned char>(s[i]);
    if (lead < 0x80) {
        return {1, true};
    }
    std::size_t needed = 0;
    unsigned char lower = 0x80;
    unsigned char upper = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
        needed = 1;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        needed = 2;
        lower = lead == 0xE0 ? 0xA0 : lower; // no overlongs
        upper = lead == 0xED ? 0x9F : upper; // no surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        needed = 3;
        lower = lead == 0xF0 ? 0x90 : lower; // no overlongs
        upper = lead == 0xF4 ? 0x8F : upper; // nothing past U+10FFFF
    } else {
        return {1, false};
    }
    for (std::size_t k = 1; k <= needed; ++k) {
        if (i + k >= s.size()) {
            return {k, false};
        }
        const auto c = static_cast<unsigned char>(s[i + k]);
        if (c < lower || c > upper) {
            return {k, false};
        }
        lower = 0x80;
        upper = 0xBF;
    }
    return {needed + 1, true};
}

// `bytes` itself when well-formed UTF-8 (no copy), else the repaired text in `scratch`.
std::string_view decode_utf8(std::string_view bytes, std::string& scratch) {
    std::size_t i = 0;
    while (i < bytes.size()) {
        Utf8Step step = utf8_step(bytes, i);
        if (!step.valid) {
            break;
        }
        i += step.length;
    }
    if (i == bytes.size()) {
        return bytes;
    }
    scratch.assign(bytes.substr(0, i));
    while (i < bytes.size()) {
        Utf8Step step = utf8_step(bytes, i);
        scratch.append(step.valid ? bytes.substr(i, step.length) : k_replacement);
        i += step.length;
    }
    return scratch;
}

// 9.2.6 "retry": only ASCII digits, read in base ten. An empty value is not a number and a
// value past 64 bits is not a usable delay; both are ignored like any other bad value.
std::optional<std::uint64_t> parse_retry(std::string_view value) {
    if (value.empty()) {
        return std::nullopt;
    }
    constexpr std::uint64_t k_max = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t ms = 0;
    for (char c : value) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (ms > (k_max - digit) / 10) {
            return std::nullopt;
        }
        ms = ms * 10 + digit;
    }
    return ms;
}

} // namespace

struct SseParser::Callbacks {
    const OnEvent& on_event;
    const OnRetry& on_retry;
    const OnComment& on_comment;
};

SseParser::SseParser(std::size_t max_event)
    : m_max_event(max_event) {}

void SseParser::set_last_event_id(std::string id) {
    m_id_buffer = id;
    m_last_event_id = std::move(id);
}

std::size_t SseParser::buffered() const {
    const std::size_t bom = m_bom_checked ? 0 : m_bom_seen;
    const std::size_t data = m_data_view ? m_data_view->size() + 1 : m_data.size();
    return bom + m_partial.size() + data + m_type.size();
}

bool SseParser::feed(std::string_view bytes, const OnEvent& on_event, const OnRetry& on_retry,
                     const OnComment& on_comment) {
    if (m_spent) {
        return false;
    }
    const Callbacks callbacks{on_event, on_retry, on_comment};
    bytes = strip_bom(bytes);
    std::size_t start = 0;
    if (m_after_cr && !bytes.empty()) {
        m_after_cr = false;
        if (bytes.front() == '\n') {
            start = 1; // the LF of a CRLF split across feeds: that line has ended already
        }
    }
    bool ok = true;
    for (;;) {
        std::size_t end = bytes.find_first_of("\r\n", start);
        if (end == std::string_view::npos) {
            break;
        }
        std::string_view piece = bytes.substr(start, end - start);
        if (m_partial.empty()) {
            ok = process_line(piece, true, callbacks);
        } else if (m_partial.size() + piece.size() > m_max_event) {
            ok = false;
        } else {
            m_partial.append(piece);
            ok = process_line(m_partial, false, callbacks);
            m_partial.clear();
        }
        if (!ok) {
            break;
        }
        if (bytes[end] == '\r') {
            if (end + 1 == bytes.size()) {
                m_after_cr = true;
            } else if (bytes[end + 1] == '\n') {
                ++end;
            }
        }
        start = end + 1;
    }
    std::string_view rest = bytes.substr(start);
    if (ok && m_partial.size() + rest.size() > m_max_event) {
        ok = false;
    }
    if (!ok) {
        m_spent = true;
        discard_pending();
        return false;
    }
    m_partial.append(rest);
    own_data(); // the borrowed data line is about to go away with `bytes`
    return true;
}

void SseParser::finish() {
    discard_pending();
}

void SseParser::reset_for_reconnect() {
    discard_pending();
    m_spent = false;
    m_bom_seen = 0;
    m_bom_checked = false;
}

void SseParser::discard_pending() {
    if (!m_bom_checked) {
        m_bom_checked = true; // what was held could have been a BOM; it goes with the rest
        m_bom_seen = 0;
    }
    m_after_cr = false;
    m_partial.clear();
    m_data.clear();
    m_data_view.reset();
    m_type.clear();
    // An "id" of a block that never ended does not count. Starting the buffer from the last
    // event ID string (rather than empty, as 9.2.6 initializes a new stream's buffers) keeps
    // the ID across a reconnection, as browsers do.
    m_id_buffer = m_last_event_id;
}

// 9.2.6 via Encoding "UTF-8 decode": one leading BOM is dropped. Its bytes may come one per
// feed; until they differ from the BOM they are held in m_bom_seen.
std::string_view SseParser::strip_bom(std::string_view bytes) {
    if (m_bom_checked) {
        return bytes;
    }
    while (m_bom_seen < k_bom.size() && !bytes.empty() && bytes.front() == k_bom[m_bom_seen]) {
        ++m_bom_seen;
        bytes.remove_prefix(1);
    }
    if (m_bom_seen == k_bom.size()) {
        m_bom_checked = true;
    } else if (!bytes.empty()) {
        m_bom_checked = true;
        m_partial.assign(k_bom.substr(0, m_bom_seen)); // not a BOM after all: line content
    }
    return bytes;
}

// `borrowed`: the line is a view into the bytes of the current feed().
bool SseParser::process_line(std::string_view line, bool borrowed, const Callbacks& callbacks) {
    if (line.size() > m_max_event) {
        return false;
    }
    if (line.empty()) {
        dispatch(callbacks);
        return true;
    }
    if (line.front() == ':') {
        if (callbacks.on_comment) {
            callbacks.on_comment(decode_utf8(line.substr(1), m_scratch));
        }
        return true;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
        return process_field(line, {}, borrowed, callbacks);
    }
    std::string_view value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') {
        value.remove_prefix(1);
    }
    return process_field(line.substr(0, colon), value, borrowed, callbacks);
}

// 9.2.6 "process the field". Names are compared byte for byte: no case folding.
bool SseParser::process_field(std::string_view name, std::string_view value, bool borrowed,
                              const Callbacks& callbacks) {
    if (name == "event") {
        m_type.assign(decode_utf8(value, m_scratch));
    } else if (name == "data") {
        return append_data(value, borrowed);
    } else if (name == "id") {
        if (value.find('\0') == std::string_view::npos) {
            m_id_buffer.assign(decode_utf8(value, m_scratch));
        }
    } else if (name == "retry") {
        std::optional<std::uint64_t> ms = parse_retry(value);
        if (ms && callbacks.on_retry) {
            callbacks.on_retry(*ms);
        }
    }
    return true;
}

// Appends value + LF to the data buffer. The first data line of an event, when it is a view
// into the current feed, is only referenced: most events have one data line, and this passes
// it to the callback without a copy.
bool SseParser::append_data(std::string_view value, bool borrowed) {
    std::string_view text = decode_utf8(value, m_scratch);
    const std::size_t held = m_data_view ? m_data_view->size() + 1 : m_data.size();
    if (held + text.size() + 1 > m_max_event) {
        return false;
    }
    if (borrowed && text.data() == value.data() && held == 0) {
        m_data_view = text;
        return true;
    }
    own_data();
    m_data.append(text);
    m_data.push_back('\n');
    return true;
}

void SseParser::own_data() {
    if (m_data_view) {
        m_data.assign(*m_data_view);
        m_data.push_back('\n');
        m_data_view.reset();
    }
}

// 9.2.6 "dispatch the event", steps 1-7 (step 8, queueing a task, is the caller's business).
void SseParser::dispatch(const Callbacks& callbacks) {
    m_last_event_id = m_id_buffer; // step 1: even when no event follows
    if (!m_data_view && m_data.empty()) {
        m_type.clear(); // step 2
        return;
    }
    // Step 3: the buffer always ends with the LF its last data line appended.
    std::string_view data =
        m_data_view ? *m_data_view : std::string_view(m_data).substr(0, m_data.size() - 1);
    if (callbacks.on_event) {
        std::string_view type = m_type.empty() ? std::string_view("message") : m_type;
        callbacks.on_event(SseEvent{type, data, m_last_event_id});
    }
    m_data.clear(); // step 7
    m_data_view.reset();
    m_type.clear();
}

} // namespace rtx::proto
