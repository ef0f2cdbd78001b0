#include "proto/ws_codec.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>

namespace rtx::proto {

namespace {

/// The tail RFC 7692 section 7.2.2 has the receiver append to every compressed message.
constexpr unsigned char k_deflate_tail[] = {0x00, 0x00, 0xFF, 0xFF};

WsViolation violation(int code, std::string what) {
    return WsViolation{code, std::move(what)};
}

} // namespace

bool ws_close_code_allowed_on_wire(int code) {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

// --- Utf8Validator ---------------------------------------------------------------------------

bool Utf8Validator::feed(std::string_view bytes) {
    for (const char ch : bytes) {
        const auto byte = static_cast<unsigned char>(ch);
        if (m_needed > 0) {
            if (byte < m_lower || byte > m_upper) {
                return false;
            }
            m_lower = 0x80;
            m_upper = 0xBF;
            --m_needed;
            continue;
        }
        // RFC 3629 section 4: the first byte decides the length and, for E0, ED, F0 and F4,
        // a narrower range of the second byte (no overlongs, no surrogates, <= U+10FFFF).
        if (byte < 0x80) {
            continue;
        }
        if (byte >= 0xC2 && byte <= 0xDF) {
            m_needed = 1;
        } else if (byte >= 0xE0 && byte <= 0xEF) {
            m_needed = 2;
            if (byte == 0xE0) {
                m_lower = 0xA0;
            } else if (byte == 0xED) {
                m_upper = 0x9F;
            }
        } else if (byte >= 0xF0 && byte <= 0xF4) {
            m_needed = 3;
            if (byte == 0xF0) {
                m_lower = 0x90;
            } else if (byte == 0xF4) {
                m_upper = 0x8F;
            }
        } else {
            return false; // 80-C1 (continuation or overlong lead), F5-FF
        }
    }
    return true;
}

// --- WsReader --------------------------------------------------------------------------------

struct WsReader::Inflater {
    Inflater() { inflateInit2(&stream, -15); }
    ~Inflater() { inflateEnd(&stream); }
    Inflater(const Inflater&) = delete;
    Inflater& operator=(const Inflater&) = delete;
    z_stream stream{};
    unsigned char out[16 * 1024];
};

WsReader::WsReader(WsReaderOptions options)
    : m_options(options) {
    if (m_options.deflate) {
        m_inflater = std::make_unique<Inflater>();
    }
}

WsReader::~WsReader() = default;

std::optional<WsViolation> WsReader::feed(std::string_view bytes, WsReaderEvents& events) {
    while (!bytes.empty() && !m_closed) {
        if (!m_in_payload) {
            const std::size_t take = std::min(bytes.size(), m_header_needed - m_header_size);
            std::memcpy(m_header + m_header_size, bytes.data(), take);
            m_header_size += take;
            bytes.remove_prefix(take);
            if (m_header_size == 2) {
                const unsigned length7 = m_header[1] & 0x7F;
                const std::size_t length_bytes = length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
                const std::size_t mask_bytes = (m_header[1] & 0x80) ? 4 : 0;
                m_header_needed = 2 + length_bytes + mask_bytes;
                // The first two bytes say enough to refuse most violations at once.
                if (auto bad = on_header()) {
                    return bad;
                }
            }
            if (m_header_size < m_header_needed) {
                continue;
            }
            // The whole header: the length.
            const unsigned length7 = m_header[1] & 0x7F;
            if (length7 == 126) {
                m_payload_left = (std::uint64_t{m_header[2]} << 8) | m_header[3];
            } else if (length7 == 127) {
                m_payload_left = 0;
                for (int i = 0; i < 8; ++i) {
                    m_payload_left = (m_payload_left << 8) | m_header[2 + i];
                }
                if (m_header[2] & 0x80) {
                    // Section 5.2: "the most significant bit MUST be 0".
                    return violation(1002, "a frame length with its most significant bit set");
                }
            } else {
                m_payload_left = length7;
            }
            const bool control = (m_opcode & 0x8) != 0;
            if (!control) {
                // Section 10.4: refuse a message over the limit at the header, before its
                // payload is read or buffered. Compressed, the inflated size is checked too.
                const std::uint64_t so_far = m_message.size();
                if (m_payload_left > m_options.max_message ||
                    so_far + m_payload_left > m_options.max_message) {
                    return violation(1009, "a message over the size limit");
                }
            }
            if (m_options.masked) {
                std::memcpy(m_mask, m_header + m_header_needed - 4, 4);
                m_mask_offset = 0;
            }
            m_header_size = 0;
            m_header_needed = 2;
            m_in_payload = true;
            m_control.clear();
            if (m_payload_left == 0) {
                m_in_payload = false;
                if (auto bad = on_frame_end(events)) {
                    return bad;
                }
            }
            continue;
        }
        const std::size_t take =
            static_cast<std::size_t>(std::min<std::uint64_t>(bytes.size(), m_payload_left));
        const std::string_view piece = bytes.substr(0, take);
        if (auto bad = on_payload(m_options.masked ? unmask(piece) : piece, events)) {
            return bad;
        }
        bytes.remove_prefix(take);
        m_payload_left -= take;
        if (m_payload_left == 0) {
            m_in_payload = false;
            if (auto bad = on_frame_end(events)) {
                return bad;
            }
        }
    }
    return std::nullopt;
}

std::optional<WsViolation> WsReader::on_header() {
    const unsigned char first = m_header[0];
    m_fin = (first & 0x80) != 0;
    m_opcode = first & 0x0F;
    const bool rsv1 = (first & 0x40) != 0;
    if (first & 0x30) {
        return violation(1002, "reserved bits RSV2/RSV3 set (no extension defines them)");
    }
    const bool masked = (m_header[1] & 0x80) != 0;
    if (masked && !m_options.masked) {
        return violation(1002, "a masked frame (a server must not mask, RFC 6455 section 5.1)");
    }
    if (!masked && m_options.masked) {
        return violation(1002, "an unmasked frame (a client must mask, RFC 6455 section 5.1)");
    }
    switch (m_opcode) {
    case ws_opcode::continuation:
        if (!m_in_message) {
            return violation(1002, "a continuation frame with no message started");
        }
        if (rsv1) {
            return violation(1002, "reserved bit RSV1 set on a continuation frame");
        }
        break;
    case ws_opcode::text:
    case ws_opcode::binary:
        if (m_in_message) {
            return violation(1002, "a new message inside a fragmented one");
        }
        if (rsv1 && !m_options.deflate) {
            return violation(1002, "reserved bit RSV1 set without a negotiated extension");
        }
        m_in_message = true;
        m_message_binary = m_opcode == ws_opcode::binary;
        m_message_compressed = rsv1;
        m_message.clear();
        m_utf8.reset();
        break;
    case ws_opcode::close:
    case ws_opcode::ping:
    case ws_opcode::pong:
        if (rsv1) {
            return violation(1002, "reserved bit RSV1 set on a control frame");
        }
        if (!m_fin) {
            return violation(1002, "a fragmented control frame");
        }
        if ((m_header[1] & 0x7F) > 125) {
            return violation(1002, "a control frame longer than 125 bytes");
        }
        break;
    default:
        return violation(1002, "reserved opcode " + std::to_string(m_opcode));
    }
    return std::nullopt;
}

std::string_view WsReader::unmask(std::string_view piece) {
    m_unmasked.resize(piece.size());
    // Eight bytes at a time with the key rotated to this piece's offset in the frame.
    unsigned char key8[8];
    for (int i = 0; i < 8; ++i) {
        key8[i] = m_mask[(m_mask_offset + static_cast<std::uint64_t>(i)) & 3];
    }
    std::uint64_t key = 0;
    std::memcpy(&key, key8, 8);
    std::size_t i = 0;
    for (; i + 8 <= piece.size(); i += 8) {
        std::uint64_t word = 0;
        std::memcpy(&word, piece.data() + i, 8);
        word ^= key;
        std::memcpy(m_unmasked.data() + i, &word, 8);
    }
    for (; i < piece.size(); ++i) {
        m_unmasked[i] = static_cast<char>(static_cast<unsigned char>(piece[i]) ^ key8[i & 7]);
    }
    m_mask_offset += piece.size();
    return m_unmasked;
}

std::optional<WsViolation> WsReader::take_message_bytes(std::string_view bytes) {
    // The bytes within the limit are checked before the limit itself, so which violation a
    // message gets depends only on its bytes, never on how TCP or inflate cut them.
    const std::size_t room = m_options.max_message - m_message.size();
    if (!m_message_binary && !m_utf8.feed(bytes.substr(0, room))) {
        return violation(1007, "a text message that is not valid UTF-8");
    }
    if (bytes.size() > room) {
        return violation(1009, "a message over the size limit");
    }
    m_message.append(bytes);
    return std::nullopt;
}

std::optional<WsViolation> WsReader::on_payload(std::string_view piece, WsReaderEvents&) {
    if ((m_opcode & 0x8) != 0) {
        m_control.append(piece);
        return std::nullopt;
    }
    if (!m_message_compressed) {
        return take_message_bytes(piece);
    }
    z_stream& stream = m_inflater->stream;
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(piece.data()));
    stream.avail_in = static_cast<uInt>(piece.size());
    do {
        stream.next_out = m_inflater->out;
        stream.avail_out = sizeof m_inflater->out;
        const int status = inflate(&stream, Z_SYNC_FLUSH);
        // What inflate produced before an error is checked first, as it would have been had
        // the error arrived in a later read.
        const std::size_t produced = sizeof m_inflater->out - stream.avail_out;
        if (auto bad = take_message_bytes(
                std::string_view(reinterpret_cast<const char*>(m_inflater->out), produced))) {
            return bad;
        }
        if (status != Z_OK && status != Z_BUF_ERROR && status != Z_STREAM_END) {
            return violation(1007, "a compressed message that does not inflate");
        }
        if (produced == 0) {
            break;
        }
    } while (stream.avail_in > 0 || stream.avail_out == 0);
    return std::nullopt;
}

std::optional<WsViolation> WsReader::on_frame_end(WsReaderEvents& events) {
    switch (m_opcode) {
    case ws_opcode::ping:
        events.on_ws_ping(m_control);
        return std::nullopt;
    case ws_opcode::pong:
        events.on_ws_pong(m_control);
        return std::nullopt;
    case ws_opcode::close: {
        if (m_control.empty()) {
            m_closed = true;
            events.on_ws_close(std::nullopt, {});
            return std::nullopt;
        }
        if (m_control.size() == 1) {
            return violation(1002, "a close frame with a one-byte payload");
        }
        const int code = (static_cast<unsigned char>(m_control[0]) << 8) |
                         static_cast<unsigned char>(m_control[1]);
        if (!ws_close_code_allowed_on_wire(code)) {
            return violation(1002,
                             "close code " + std::to_string(code) + " (not one a peer may send)");
        }
        const std::string_view reason = std::string_view(m_control).substr(2);
        Utf8Validator utf8;
        if (!utf8.feed(reason) || !utf8.complete()) {
            return violation(1007, "a close reason that is not valid UTF-8");
        }
        m_closed = true;
        events.on_ws_close(code, reason);
        return std::nullopt;
    }
    default:
        break;
    }
    if (!m_fin) {
        return std::nullopt;
    }
    if (m_message_compressed) {
        // RFC 7692 section 7.2.2: the message ends with an empty stored block the sender
        // removed; put it back so that inflate flushes the last bytes.
        const std::string_view tail(reinterpret_cast<const char*>(k_deflate_tail),
                                    sizeof k_deflate_tail);
        if (auto bad = on_payload(tail, events)) {
            return bad;
        }
        if (m_options.peer_no_context_takeover) {
            inflateReset(&m_inflater->stream);
        }
    }
    if (!m_message_binary && !m_utf8.complete()) {
        return violation(1007, "a text message that ends inside a UTF-8 sequence");
    }
    m_in_message = false;
    events.on_ws_message(m_message_binary, m_message);
    if (m_message.capacity() > 1024 * 1024) {
        std::string().swap(m_message); // one big message must not pin its size
    }
    m_message.clear();
    return std::nullopt;
}

// --- writing ---------------------------------------------------------------------------------

namespace {

void append_frame_header(std::string& out, int opcode, std::uint64_t size, bool fin, bool rsv1,
                         bool masked) {
    const char mask_bit = masked ? static_cast<char>(0x80) : 0;
    out.push_back(static_cast<char>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0F)));
    if (size < 126) {
        out.push_back(static_cast<char>(mask_bit | static_cast<char>(size)));
    } else if (size <= 0xFFFF) {
        out.push_back(static_cast<char>(mask_bit | 126));
        out.push_back(static_cast<char>(size >> 8));
        out.push_back(static_cast<char>(size & 0xFF));
    } else {
        out.push_back(static_cast<char>(mask_bit | 127));
        for (int shift = 56; shift >= 0; shift -= 8) {
            out.push_back(static_cast<char>((size >> shift) & 0xFF));
        }
    }
}

} // namespace

void append_ws_server_frame_header(std::string& out, int opcode, std::uint64_t payload_size,
                                   bool fin, bool rsv1) {
    append_frame_header(out, opcode, payload_size, fin, rsv1, false);
}

void append_ws_frame(std::string& out, int opcode, std::string_view payload, bool fin, bool rsv1,
                     std::uint32_t mask_key) {
    append_frame_header(out, opcode, payload.size(), fin, rsv1, true);
    const unsigned char key[4] = {
        static_cast<unsigned char>(mask_key >> 24), static_cast<unsigned char>(mask_key >> 16),
        static_cast<unsigned char>(mask_key >> 8), static_cast<unsigned char>(mask_key)};
    out.append(reinterpret_cast<const char*>(key), 4);
    const std::size_t body = out.size();
    out.append(payload);
    for (std::size_t i = 0; i < payload.size(); ++i) {
        out[body + i] = static_cast<char>(static_cast<unsigned char>(out[body + i]) ^ key[i & 3]);
    }
}

struct WsDeflater::Stream {
    z_stream stream{};
};

WsDeflater::WsDeflater(int window_bits, bool no_context_takeover)
    : m_stream(std::make_unique<Stream>())
    , m_no_context_takeover(no_context_takeover) {
    deflateInit2(&m_stream->stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
                 -std::clamp(window_bits, 9, 15), 8, Z_DEFAULT_STRATEGY);
}

WsDeflater::~WsDeflater() {
    deflateEnd(&m_stream->stream);
}

std::string_view WsDeflater::compress(std::string_view message) {
    z_stream& stream = m_stream->stream;
    m_out.resize(deflateBound(&stream, static_cast<uLong>(message.size())) + 16);
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
    stream.avail_in = static_cast<uInt>(message.size());
    std::size_t produced = 0;
    do {
        if (produced == m_out.size()) {
            m_out.resize(m_out.size() * 2);
        }
        stream.next_out = reinterpret_cast<Bytef*>(m_out.data() + produced);
        stream.avail_out = static_cast<uInt>(m_out.size() - produced);
        deflate(&stream, Z_SYNC_FLUSH);
        produced = m_out.size() - stream.avail_out;
    } while (stream.avail_out == 0);
    if (produced >= sizeof k_deflate_tail) {
        produced -= sizeof k_deflate_tail; // RFC 7692 section 7.2.1: drop 00 00 FF FF
    }
    if (m_no_context_takeover) {
        deflateReset(&stream);
    }
    return std::string_view(m_out.data(), produced);
}

} // namespace rtx::proto
