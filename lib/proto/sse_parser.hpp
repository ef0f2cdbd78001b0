#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace rtx::proto {

/// One dispatched server-sent event (WHATWG HTML 9.2.6, "dispatch the event"). The views are
/// valid only during the callback that receives the event.
struct SseEvent {
    /// The "event" field of the block, or "message" when it had none (or an empty one).
    std::string_view type;
    /// The "data" lines of the block joined with LF (the last LF removed); may be empty.
    std::string_view data;
    /// The last event ID string when the event was dispatched: the latest "id" field so far,
    /// not only this block's.
    std::string_view last_event_id;
};

/// Parses a text/event-stream body (WHATWG HTML Living Standard, section 9.2.6 "Interpreting
/// an event stream"). Pure: no I/O, no clock. Bytes may arrive split anywhere, even inside a
/// CRLF or a UTF-8 sequence; the events do not depend on where. Not thread-safe: one owner
/// (the connection's loop thread) feeds it.
///
/// The stream is decoded as the spec requires (WHATWG Encoding "UTF-8 decode"): one leading
/// BOM is dropped and ill-formed UTF-8 is replaced by U+FFFD, so every view passed to a
/// callback is valid UTF-8. An event with one data line, arriving whole inside one feed()
/// with its blank line, is passed without copying its data.
class SseParser {
public:
    /// Receives each dispatched event.
    using OnEvent = std::function<void(const SseEvent& event)>;
    /// Receives the reconnection time of each valid "retry" field, in milliseconds, as soon as
    /// its line ends (the spec sets it then, not at dispatch).
    using OnRetry = std::function<void(std::uint64_t ms)>;
    /// Receives the text after the ':' of each comment line, its leading space kept;
    /// servers send comments as heartbeats. The spec ignores them; this is for display only.
    using OnComment = std::function<void(std::string_view text)>;

    /// `max_event` bounds every line and every event's data buffer, in bytes.
    explicit SseParser(std::size_t max_event = k_default_max_event);

    /// Feeds bytes of the stream; calls the callbacks (any may be empty) for what completes.
    /// Returns false when a line or an event's data grows past max_event: what came before
    /// it was delivered, nothing after is, and the parser is spent until reset_for_reconnect().
    /// Callbacks must not call feed(), finish() or reset_for_reconnect() on this parser.
    bool feed(std::string_view bytes, const OnEvent& on_event, const OnRetry& on_retry,
              const OnComment& on_comment = {});
    /// End of stream: discards the unfinished line and the event not yet ended by a blank
    /// line (9.2.6: "any pending data must be discarded"). The last event ID string stays.
    void finish();
    /// Starts a new stream (a reconnection): discards pending data like finish(), expects a
    /// BOM again and clears the spent state. The last event ID is kept, so the next
    /// connection sends it as Last-Event-ID and a block without "id" does not clear it.
    void reset_for_reconnect();

    /// The last event ID string (set when a block ends); what a client sends as Last-Event-ID.
    const std::string& last_event_id() const { return m_last_event_id; }
    /// Sets the last event ID string and buffer, e.g. from --last-event-id to resume a stream.
    void set_last_event_id(std::string id);
    /// Bytes held for the unfinished line and the event not yet dispatched.
    std::size_t buffered() const;

    static constexpr std::size_t k_default_max_event = 16 * 1024 * 1024;

private:
    struct Callbacks;

    std::string_view strip_bom(std::string_view bytes);
    bool process_line(std::string_view line, bool borrowed, const Callbacks& callbacks);
    bool process_field(std::string_view name, std::string_view value, bool borrowed,
                       const Callbacks& callbacks);
    bool append_data(std::string_view value, bool borrowed);
    void own_data();
    void dispatch(const Callbacks& callbacks);
    void discard_pending();

    std::size_t m_max_event;
    bool m_spent = false;
    // The start of the stream: how many bytes of a BOM have been matched, and whether the
    // question is settled.
    std::size_t m_bom_seen = 0;
    bool m_bom_checked = false;
    // The last feed ended with CR: an LF at the start of the next one ends no further line.
    bool m_after_cr = false;
    // The unfinished line, raw bytes.
    std::string m_partial;
    // The data buffer. While its only line is a view into the current feed, that view is in
    // m_data_view (the buffer is then *m_data_view + LF) and m_data is empty.
    std::string m_data;
    std::optional<std::string_view> m_data_view;
    // The event type buffer and the last event ID buffer; then the last event ID string.
    std::string m_type;
    std::string m_id_buffer;
    std::string m_last_event_id;
    // A value with ill-formed UTF-8 replaced; reused.
    std::string m_scratch;
};

} // namespace rtx::proto
