#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace rtx::proto {

/// How a byte stream is cut into messages (stdin, and raw TCP in both directions).
enum class Framing {
    lines, ///< One message per line; the LF (and a CR before it) is not part of the message.
    raw,   ///< Every chunk as it arrives is one message; nothing is added or removed.
    nul,   ///< Messages end with a NUL byte (pairs with `find -print0`, `xargs -0`).
};

/// Parses "lines", "raw" or "nul".
std::optional<Framing> parse_framing(std::string_view name);
/// The name parse_framing accepts.
std::string_view framing_name(Framing framing);
/// The bytes appended to a message when it is written to a stream: "\n", "" or "\0".
std::string_view framing_delimiter(Framing framing);

/// Cuts a byte stream into messages. Pure: no I/O, no clock. Complete messages are passed to
/// the callback as views that are valid only during the call; a message that arrives whole
/// inside one feed() is never copied.
class Framer {
public:
    using Emit = std::function<void(std::string_view message)>;

    /// `max_message` bounds the bytes held for one unfinished message.
    explicit Framer(Framing framing, std::size_t max_message = k_default_max_message);

    /// Feeds bytes; emits each completed message. Returns false (and emits nothing more)
    /// when an unfinished message grows past max_message; the Framer is then spent.
    bool feed(std::string_view bytes, const Emit& emit);
    /// End of stream: emits the unfinished message, if any (a last line without LF).
    void finish(const Emit& emit);
    /// Bytes held for the unfinished message.
    std::size_t buffered() const { return m_partial.size(); }

    static constexpr std::size_t k_default_max_message = 64 * 1024 * 1024;

private:
    void emit_line(std::string_view message, const Emit& emit) const;

    Framing m_framing;
    std::size_t m_max_message;
    std::string m_partial;
    bool m_failed = false;
};

} // namespace rtx::proto
