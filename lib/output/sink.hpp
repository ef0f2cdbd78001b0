#pragma once

#include "output/line_template.hpp"
#include "output/record.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace rtx::output {

/// How received messages are written to stdout.
enum class Format {
    text,      ///< The payload, then the delimiter (LF by default).
    raw,       ///< The payload bytes exactly, nothing added.
    ndjson,    ///< One Record per line (append_ndjson).
    templated, ///< A --format LineTemplate per message, then the delimiter.
};

/// Writes records to a file descriptor (stdout). Records are batched in memory and written
/// by flush(), which the caller runs once per loop iteration (Loop::add_before_poll_hook), so
/// a burst costs one write(2) and a lone message still appears at once. Loop thread only.
class Sink {
public:
    explicit Sink(Format format, int fd = 1, std::string delimiter = "\n");
    /// Format::templated: each message is written as `line` expands it, then the delimiter;
    /// a message the template skips (LineTemplate::Expansion) writes nothing (-v says why).
    /// `trailer` ends the output at finish() when a line was written: --join's "\n", whose
    /// delimiter is empty so that picked fragments (LLM tokens) read as one text.
    Sink(LineTemplate line, int fd = 1, std::string delimiter = "\n", std::string trailer = "");

    /// Buffers one record; open/close events are written only in ndjson format.
    void write(const Record& record);
    /// Buffers bytes as they are, in order with the records (an HTTP head for -i); nothing in
    /// ndjson format, whose lines are records only.
    void write_raw(std::string_view bytes);
    /// Buffers the trailer (if any line was written); call once, before the last flush().
    void finish();
    /// Writes the buffer out (blocking). Returns false once the reader has gone (EPIPE) or
    /// the fd failed; later writes are dropped.
    bool flush();
    /// Set when flush() failed; the error text is in error().
    bool broken() const { return m_error.has_value(); }
    const std::string& error() const { return *m_error; }
    /// True when flush() failed because the reader closed the pipe (EPIPE): `rtx ... | head`.
    bool reader_gone() const { return m_reader_gone; }
    Format format() const { return m_format; }
    /// The descriptor written to.
    int fd() const { return m_fd; }
    /// Records written so far (messages only; events excluded).
    std::uint64_t messages() const { return m_messages; }

private:
    Format m_format;
    std::optional<LineTemplate> m_template;
    int m_fd;
    std::string m_delimiter;
    std::string m_trailer;
    bool m_wrote_line = false;
    std::string m_buffer;
    std::optional<std::string> m_error;
    std::uint64_t m_messages = 0;
    bool m_reader_gone = false;
};

} // namespace rtx::output
