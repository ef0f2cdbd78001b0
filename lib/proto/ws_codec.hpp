#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace rtx::proto {

/// WebSocket opcodes (RFC 6455 section 5.2).
namespace ws_opcode {
inline constexpr int continuation = 0x0;
inline constexpr int text = 0x1;
inline constexpr int binary = 0x2;
inline constexpr int close = 0x8;
inline constexpr int ping = 0x9;
inline constexpr int pong = 0xA;
} // namespace ws_opcode

/// Validates UTF-8 as it arrives, across pieces (RFC 3629 as RFC 6455 section 8.1 asks): no
/// overlong forms, no surrogates, nothing above U+10FFFF. feed() fails at the first byte
/// that cannot start or continue a well-formed sequence, so a message split anywhere is
/// refused as soon as the bad byte is seen, not at its end.
class Utf8Validator {
public:
    /// False at the first byte that makes the text invalid (the state is then meaningless).
    bool feed(std::string_view bytes);
    /// True when no sequence is open (the text so far ends on a character boundary).
    bool complete() const { return m_needed == 0; }
    void reset() {
        m_needed = 0;
        m_lower = 0x80;
        m_upper = 0xBF;
    }

private:
    int m_needed = 0;             ///< Continuation bytes still expected.
    unsigned char m_lower = 0x80; ///< Range of the next continuation byte (RFC 3629 table).
    unsigned char m_upper = 0xBF;
};

/// A protocol violation found in what the peer sent: the close code to answer with
/// (1002, 1007 or 1009, RFC 6455 section 7.4.1) and one line saying what it was.
struct WsViolation {
    int close_code = 1002;
    std::string what;
};

/// What the reader was told about the session: the negotiated extension and the limit.
struct WsReaderOptions {
    std::size_t max_message = 64 * 1024 * 1024; ///< Larger messages are refused with 1009.
    bool deflate = false; ///< permessage-deflate was negotiated (RFC 7692): RSV1 marks a message.
    /// The peer resets its compressor after each message (server_no_context_takeover for a
    /// client): our inflater starts over too.
    bool peer_no_context_takeover = false;
    /// The reader is a server's: every frame must be masked (RFC 6455 section 5.1) and is
    /// unmasked here. A client's reader refuses masked frames instead.
    bool masked = false;
};

/// What a WsReader found, in the order it is in the byte stream: control frames that
/// arrive between fragments of a message are reported before that message (RFC 6455
/// section 5.4), so a pong can go out before the echo of the message.
class WsReaderEvents {
public:
    virtual ~WsReaderEvents() = default;
    /// A whole message (fragments joined, inflated); the view is valid during the call.
    virtual void on_ws_message(bool binary, std::string_view payload) = 0;
    virtual void on_ws_ping(std::string_view payload) = 0;
    virtual void on_ws_pong(std::string_view payload) = 0;
    /// The peer's close frame; `code` is empty when it carried no payload (1005). Checked:
    /// a code a peer may send, a UTF-8 reason.
    virtual void on_ws_close(std::optional<int> code, std::string_view reason) = 0;
};

/// Parses the frames a WebSocket peer sends (RFC 6455 section 5): a server's frames to a
/// client, or with WsReaderOptions::masked a client's to a server. Byte-exact and
/// incremental: bytes may be fed in any split. Every rule a receiver must check is checked,
/// and the first violation stops the reader:
///  - reserved bits (RSV1 only on the first frame of a message with permessage-deflate),
///    reserved opcodes, masking (a server never masks, a client always does, section 5.1);
///  - control frames fragmented or longer than 125 bytes (section 5.5), a close payload of
///    one byte, a close code no peer may send (1002) or a close reason that is not UTF-8;
///  - a continuation with no message started, a new message inside a fragmented one;
///  - a length with its top bit set, or a message over max_message, refused at the frame
///    header (1009) before any of its payload is read;
///  - text that is not UTF-8 (1007), found at the first bad byte even inside a fragment.
/// After the close frame the reader ignores everything (section 5.5.1).
class WsReader {
public:
    explicit WsReader(WsReaderOptions options);
    ~WsReader();
    WsReader(const WsReader&) = delete;
    WsReader& operator=(const WsReader&) = delete;

    /// Feeds received bytes; events fire from inside. Returns the first violation (then
    /// nothing more is read). `events` must not destroy the reader from a callback.
    std::optional<WsViolation> feed(std::string_view bytes, WsReaderEvents& events);
    /// True once the peer's close frame was read.
    bool closed() const { return m_closed; }

private:
    struct Inflater;
    std::optional<WsViolation> on_header();
    std::optional<WsViolation> on_payload(std::string_view piece, WsReaderEvents& events);
    std::optional<WsViolation> on_frame_end(WsReaderEvents& events);
    std::optional<WsViolation> take_message_bytes(std::string_view bytes);
    std::string_view unmask(std::string_view piece);

    WsReaderOptions m_options;
    std::unique_ptr<Inflater> m_inflater;
    unsigned char m_header[14] = {};
    std::size_t m_header_size = 0;   ///< Bytes of m_header read so far.
    std::size_t m_header_needed = 2; ///< Bytes the header has (known after its second byte).
    bool m_in_payload = false;
    int m_opcode = 0;
    bool m_fin = false;
    std::uint64_t m_payload_left = 0;
    unsigned char m_mask[4] = {};    ///< The frame's masking key (masked readers).
    std::uint64_t m_mask_offset = 0; ///< Payload bytes of the frame unmasked so far.
    std::string m_unmasked;          ///< Scratch for the unmasked piece being parsed.
    std::string m_control;           ///< The payload of the control frame being read.
    bool m_in_message = false;       ///< A data message is started and not finished.
    bool m_message_binary = false;
    bool m_message_compressed = false;
    std::string m_message; ///< Its payload so far (inflated).
    Utf8Validator m_utf8;
    bool m_closed = false;
};

/// Appends one frame a client sends (RFC 6455 section 5.2): masked with `mask_key`.
void append_ws_frame(std::string& out, int opcode, std::string_view payload, bool fin, bool rsv1,
                     std::uint32_t mask_key);

/// Appends the header of one unmasked frame a server sends (RFC 6455 section 5.2) whose
/// payload is `payload_size` bytes; the payload follows it on the wire as it is.
void append_ws_server_frame_header(std::string& out, int opcode, std::uint64_t payload_size,
                                   bool fin, bool rsv1);

/// Compresses outgoing messages for permessage-deflate (RFC 7692 section 7.2.1): each one
/// a raw deflate block flushed with Z_SYNC_FLUSH, its 00 00 FF FF tail removed.
class WsDeflater {
public:
    /// `window_bits`: 9-15 (client_max_window_bits); `no_context_takeover`: start over after
    /// each message (client_no_context_takeover).
    WsDeflater(int window_bits, bool no_context_takeover);
    ~WsDeflater();
    WsDeflater(const WsDeflater&) = delete;
    WsDeflater& operator=(const WsDeflater&) = delete;
    /// The compressed form of one message (a view into a buffer reused by the next call).
    std::string_view compress(std::string_view message);

private:
    struct Stream;
    std::unique_ptr<Stream> m_stream;
    bool m_no_context_takeover;
    std::string m_out;
};

/// True for a close code a peer may put on the wire (RFC 6455 section 7.4): 1000-1003,
/// 1007-1011 (and 1012-1014, registered by IANA since), 3000-4999.
bool ws_close_code_allowed_on_wire(int code);

} // namespace rtx::proto
