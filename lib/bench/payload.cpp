#include "bench/payload.hpp"

#include <cstring>

namespace rtx::bench {

namespace {

constexpr char k_hex[] = "0123456789abcdef";

/// Field widths in hex digits, in stamp order.
constexpr std::size_t k_run_digits = 4;
constexpr std::size_t k_sender_digits = 6;
constexpr std::size_t k_sequence_digits = 10;
constexpr std::size_t k_time_digits = 13;

char* put_hex(char* out, std::uint64_t value, std::size_t digits) {
    for (std::size_t i = digits; i-- > 0;) {
        out[i] = k_hex[value & 0xf];
        value >>= 4;
    }
    return out + digits;
}

bool get_hex(const char*& in, std::size_t digits, std::uint64_t& value) {
    value = 0;
    for (std::size_t i = 0; i < digits; ++i) {
        char c = in[i];
        int nibble = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (nibble < 0) {
            return false;
        }
        value = (value << 4) | static_cast<std::uint64_t>(nibble);
    }
    in += digits;
    return true;
}

std::optional<Stamp> decode_at(const char* in) {
    Stamp stamp;
    std::uint64_t run = 0;
    std::uint64_t sender = 0;
    if (*in++ != '~' || !get_hex(in, k_run_digits, run) || *in++ != '.' ||
        !get_hex(in, k_sender_digits, sender) || *in++ != '.' ||
        !get_hex(in, k_sequence_digits, stamp.sequence) || *in++ != '.' ||
        !get_hex(in, k_time_digits, stamp.sent_ns) || *in != '~') {
        return std::nullopt;
    }
    stamp.run = static_cast<std::uint32_t>(run);
    stamp.sender = static_cast<std::uint32_t>(sender);
    return stamp;
}

} // namespace

void write_stamp(const Stamp& stamp, char* out) {
    *out++ = '~';
    out = put_hex(out, stamp.run, k_run_digits);
    *out++ = '.';
    out = put_hex(out, stamp.sender, k_sender_digits);
    *out++ = '.';
    out = put_hex(out, stamp.sequence, k_sequence_digits);
    *out++ = '.';
    out = put_hex(out, stamp.sent_ns, k_time_digits);
    *out = '~';
}

PayloadBuilder::PayloadBuilder(std::string_view text, std::size_t size)
    : m_text(text)
    , m_size(size < k_stamp_size ? k_stamp_size : size) {}

std::string_view PayloadBuilder::build(const Stamp& stamp) {
    if (m_buffer.empty()) {
        m_buffer.assign(m_size, 'x');
        if (!m_text.empty()) {
            for (std::size_t i = k_stamp_size; i < m_buffer.size(); ++i) {
                m_buffer[i] = m_text[(i - k_stamp_size) % m_text.size()];
            }
        }
    }
    write_stamp(stamp, m_buffer.data());
    return m_buffer;
}

std::optional<Stamp> find_stamp(std::string_view message) {
    std::size_t at = 0;
    while (message.size() - at >= k_stamp_size) {
        const void* found = std::memchr(message.data() + at, '~', message.size() - at);
        if (found == nullptr) {
            return std::nullopt;
        }
        at = static_cast<std::size_t>(static_cast<const char*>(found) - message.data());
        if (message.size() - at < k_stamp_size) {
            return std::nullopt;
        }
        if (auto stamp = decode_at(message.data() + at)) {
            return stamp;
        }
        ++at;
    }
    return std::nullopt;
}

} // namespace rtx::bench
