#include "core/stdin_pump.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

namespace rtx::core {

namespace {
constexpr std::size_t k_chunk_size = 64 * 1024;
constexpr std::size_t k_max_queued_chunks = 4;
} // namespace

StdinPump::StdinPump(Loop& loop, int fd, std::function<void(std::string_view)> on_data,
                     std::function<void(const std::string&)> on_end)
    : m_loop(loop)
    , m_fd(fd)
    , m_on_data(std::move(on_data))
    , m_on_end(std::move(on_end))
    , m_async(new uv_async_t) {
    uv_async_init(m_loop.native(), m_async,
                  [](uv_async_t* handle) { static_cast<StdinPump*>(handle->data)->deliver(); });
    m_async->data = this;
    if (::pipe2(m_wake_pipe, O_CLOEXEC) != 0) {
        m_wake_pipe[0] = m_wake_pipe[1] = -1;
    }
}

StdinPump::~StdinPump() {
    stop();
    close_and_delete(m_async);
    for (int fd : m_wake_pipe) {
        if (fd >= 0) {
            ::close(fd);
        }
    }
}

void StdinPump::start() {
    m_thread = std::thread([this] { read_loop(); });
}

void StdinPump::pause() {
    std::lock_guard lock(m_mutex);
    m_paused = true;
}

void StdinPump::resume() {
    {
        std::lock_guard lock(m_mutex);
        m_paused = false;
    }
    m_cv.notify_all();
    uv_async_send(m_async); // deliver what queued up while paused
}

void StdinPump::stop() {
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    m_cv.notify_all();
    if (m_wake_pipe[1] >= 0) {
        char byte = 1;
        [[maybe_unused]] auto n = ::write(m_wake_pipe[1], &byte, 1);
    }
    if (m_thread.joinable()) {
        m_thread.join();
    }
    if (!m_finished) {
        m_finished = true;
        uv_unref(reinterpret_cast<uv_handle_t*>(m_async));
    }
}

void StdinPump::read_loop() {
    std::string buffer(k_chunk_size, '\0');
    for (;;) {
        {
            std::unique_lock lock(m_mutex);
            m_cv.wait(lock, [this] {
                return m_stopping || (!m_paused && m_queue.size() < k_max_queued_chunks);
            });
            if (m_stopping) {
                return;
            }
        }
        pollfd fds[2] = {{m_fd, POLLIN, 0}, {m_wake_pipe[0], POLLIN, 0}};
        int ready = ::poll(fds, m_wake_pipe[0] >= 0 ? 2 : 1, -1);
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (fds[1].revents != 0) {
            return; // stop() woke us
        }
        Chunk chunk;
        if (ready < 0 || (fds[0].revents & POLLNVAL) != 0) {
            chunk.end = true; // no usable stdin: treat as empty input
        } else {
            ssize_t n = ::read(m_fd, buffer.data(), buffer.size());
            if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
                continue;
            }
            if (n > 0) {
                chunk.bytes.assign(buffer.data(), static_cast<std::size_t>(n));
            } else {
                chunk.end = true;
                if (n < 0) {
                    chunk.error = std::strerror(errno);
                }
            }
        }
        bool end = chunk.end;
        {
            std::lock_guard lock(m_mutex);
            m_queue.push_back(std::move(chunk));
        }
        uv_async_send(m_async);
        if (end) {
            return;
        }
    }
}

void StdinPump::deliver() {
    // One chunk per loop turn. Draining the whole queue here would starve the loop: the
    // reader thread refills the queue as fast as a chunk is taken, so with a fast producer
    // (`yes | rtx tcp ...`) this callback would never return, and the socket would not be
    // read nor stdout written until the peer's backpressure paused us. Coming back on the
    // next turn lets the loop read the socket and flush stdout in between; the queue's bound
    // keeps the reader thread from running ahead.
    Chunk chunk;
    bool more = false;
    {
        std::lock_guard lock(m_mutex);
        if (m_stopping || m_queue.empty() || m_paused) {
            return;
        }
        chunk = std::move(m_queue.front());
        m_queue.pop_front();
        more = !m_queue.empty();
    }
    m_cv.notify_all();
    if (chunk.end) {
        m_finished = true;
        uv_unref(reinterpret_cast<uv_handle_t*>(m_async));
        m_on_end(chunk.error);
        return;
    }
    if (more) {
        // An async send from the loop thread is delivered on the next turn's poll phase,
        // after the I/O that is ready now.
        uv_async_send(m_async);
    }
    m_on_data(chunk.bytes);
}

} // namespace rtx::core
