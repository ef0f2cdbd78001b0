#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rtx::bench {

/// What every bench message carries so that the receiver can measure it end to end: which
/// run and sender it comes from, the sender's sequence number and the (intended) send time.
struct Stamp {
    std::uint32_t run = 0;    ///< Random per `rtx bench` run: messages of other runs are ignored.
    std::uint32_t sender = 0; ///< Echo: the connection; fan-out: the publisher.
    std::uint64_t sequence = 0;
    std::uint64_t sent_ns =
        0; ///< Steady-clock ns since the run's epoch (intended time, open model).
    bool operator==(const Stamp&) const = default;
};

/// The stamp's text form, fixed width so that it is rewritten in place:
/// `~RRRR.SSSSSS.QQQQQQQQQQ.TTTTTTTTTTTTT~` (lower-case hex: run 16 bits, sender 24 bits,
/// sequence 40 bits, time 52 bits, ~52 days of ns). Plain ASCII with no quote, backslash or
/// line break, so it survives every framing: a TCP line, an SSE data line, a JSON string
/// in a long-poll answer.
inline constexpr std::size_t k_stamp_size = 38;

/// Builds the messages of one sender into one buffer that is reused: the stamp, then the
/// payload text repeated or cut to fill `size` bytes. Only the stamp changes per message,
/// so making a message writes 38 bytes and never allocates after the first. The buffer is
/// made by the first build(): a bench holds one builder per connection, and an idle one
/// never sends. Loop thread only.
class PayloadBuilder {
public:
    /// `size` >= k_stamp_size (checked by the caller); an empty `text` fills with 'x'.
    /// `text` must outlive the builder (the plan's payload text).
    PayloadBuilder(std::string_view text, std::size_t size);
    /// The message for `stamp`; valid until the next call.
    std::string_view build(const Stamp& stamp);

private:
    std::string_view m_text;
    std::size_t m_size;
    std::string m_buffer;
};

/// Finds and decodes the stamp in `message` (at its start, or anywhere in it: a long-poll
/// answer wraps the payload in JSON). nullopt when there is none.
std::optional<Stamp> find_stamp(std::string_view message);

/// Writes the stamp's text into `out` (k_stamp_size bytes). Pure.
void write_stamp(const Stamp& stamp, char* out);

} // namespace rtx::bench
