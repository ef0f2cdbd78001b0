#pragma once

#include "core/loop.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace rtx::core {

/// Reads a file descriptor (stdin) on its own thread and hands the bytes to the loop thread.
/// A thread, not a uv_pipe, because stdin may be a regular file, a pipe or a TTY and only
/// blocking read(2) treats all three alike. Flow control: at most a few chunks wait in the
/// queue, and pause() stops reading until resume(), so a slow peer never makes rtx buffer a
/// whole file. Keeps the loop alive until end of input has been delivered.
class StdinPump {
public:
    /// `on_data` gets each chunk, `on_end` is called once at EOF (or read error, with its
    /// message; empty on clean EOF). Both run on the loop thread.
    StdinPump(Loop& loop, int fd, std::function<void(std::string_view)> on_data,
              std::function<void(const std::string& error)> on_end);
    ~StdinPump();
    StdinPump(const StdinPump&) = delete;
    StdinPump& operator=(const StdinPump&) = delete;

    /// Starts the reader thread.
    void start();
    /// Stops reading after the current chunk (backpressure). Loop thread only.
    void pause();
    /// Resumes reading. Loop thread only.
    void resume();
    /// Stops for good: no more callbacks; the reader thread is woken and joined.
    void stop();
    /// True once on_end has been delivered or stop() was called.
    bool finished() const { return m_finished; }

private:
    struct Chunk {
        std::string bytes;
        bool end = false;
        std::string error;
    };
    void read_loop();
    void deliver();

    Loop& m_loop;
    int m_fd;
    std::function<void(std::string_view)> m_on_data;
    std::function<void(const std::string&)> m_on_end;
    uv_async_t* m_async;
    int m_wake_pipe[2] = {-1, -1};
    std::thread m_thread;
    bool m_finished = false;

    std::mutex m_mutex; // guards the members below
    std::condition_variable m_cv;
    std::deque<Chunk> m_queue;
    bool m_paused = false;
    bool m_stopping = false;
};

} // namespace rtx::core
