#include "output/sink.hpp"

#include "core/log.hpp"

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <unistd.h>

namespace rtx::output {

Sink::Sink(Format format, int fd, std::string delimiter)
    : m_format(format)
    , m_fd(fd)
    , m_delimiter(std::move(delimiter)) {}

Sink::Sink(LineTemplate line, int fd, std::string delimiter, std::string trailer)
    : m_format(Format::templated)
    , m_template(std::move(line))
    , m_fd(fd)
    , m_delimiter(std::move(delimiter))
    , m_trailer(std::move(trailer)) {}

void Sink::finish() {
    if (m_wrote_line && !broken()) {
        m_buffer.append(m_trailer);
    }
}

void Sink::write(const Record& record) {
    if (broken()) {
        return;
    }
    bool is_message = !record.lifecycle;
    if (is_message) {
        ++m_messages;
    }
    switch (m_format) {
    case Format::ndjson:
        append_ndjson(m_buffer, record);
        break;
    case Format::text:
        if (is_message) {
            m_buffer.append(record.payload).append(m_delimiter);
        }
        break;
    case Format::templated:
        if (is_message) {
            switch (m_template->append(m_buffer, record)) {
            case LineTemplate::Expansion::written:
                m_buffer.append(m_delimiter);
                m_wrote_line = true;
                break;
            case LineTemplate::Expansion::not_json:
                core::log_verbose("skipped a message that is not JSON ({} bytes)",
                                  record.payload.size());
                break;
            case LineTemplate::Expansion::missing:
                core::log_verbose("skipped a message without the picked members");
                break;
            }
        }
        break;
    case Format::raw:
        if (is_message) {
            m_buffer.append(record.payload);
        }
        break;
    }
    if (m_buffer.size() >= 1 << 20) {
        flush(); // bound memory during a long burst
    }
}

void Sink::write_raw(std::string_view bytes) {
    if (!broken() && m_format != Format::ndjson) {
        m_buffer.append(bytes);
    }
}

bool Sink::flush() {
    std::size_t done = 0;
    while (done < m_buffer.size() && !broken()) {
        ssize_t n = ::write(m_fd, m_buffer.data() + done, m_buffer.size() - done);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            pollfd pfd{m_fd, POLLOUT, 0}; // stdout inherited non-blocking: wait, don't spin
            ::poll(&pfd, 1, -1);
        } else {
            m_reader_gone = n < 0 && errno == EPIPE;
            m_error = n < 0 ? std::strerror(errno) : "short write";
        }
    }
    m_buffer.clear();
    return !broken();
}

} // namespace rtx::output
