#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace rtx::core {

/// One libuv event loop, owned by one thread for its whole life. Every connection belongs
/// to exactly one Loop; nothing on the hot path takes a lock. Other threads reach the loop
/// only through post().
class Loop {
public:
    Loop();
    ~Loop();
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    /// The libuv loop, for adapters that attach to it (lws foreign loop, curl multi-socket).
    uv_loop_t* native() { return &m_loop; }

    /// Runs until stop() or until nothing is left to do. Loop thread only; the calling
    /// thread becomes the loop thread.
    void run();
    /// Makes run() return after the current iteration. Loop thread only.
    void stop();
    /// Queues `task` to run on the loop thread. Any thread; wakes the loop.
    void post(std::function<void()> task);
    /// Work that another thread does for this loop (Paho's network threads) keeps run()
    /// alive while held, as an active handle would; each hold() needs one release().
    /// Loop thread only.
    void hold();
    void release();
    /// Registers `hook` to run once per iteration just before the loop blocks for I/O
    /// (used to flush stdout once per batch of messages). Loop thread only. Returns a
    /// handle for remove_before_poll_hook().
    std::uint64_t add_before_poll_hook(std::function<void()> hook);
    /// Unregisters a hook (its owner is going away while the loop may still run).
    void remove_before_poll_hook(std::uint64_t handle);
    /// The loop's cached monotonic time in milliseconds (uv_now).
    std::uint64_t now_ms() const { return uv_now(&m_loop); }

private:
    static void on_async(uv_async_t* handle);
    static void on_prepare(uv_prepare_t* handle);
    void drain_posted();

    uv_loop_t m_loop{};
    uv_async_t m_async{};
    uv_prepare_t m_prepare{};
    std::mutex m_mutex;
    std::vector<std::function<void()>> m_posted; // guarded by m_mutex
    unsigned m_holds = 0;
    std::vector<std::pair<std::uint64_t, std::function<void()>>> m_before_poll;
    std::uint64_t m_next_hook = 1;
};

/// Closes a heap-allocated libuv handle and deletes it once libuv is done with it. T is the
/// concrete handle type (uv_tcp_t, uv_timer_t, ...), allocated with `new T`.
template <class T> void close_and_delete(T* handle) {
    if (handle == nullptr) {
        return;
    }
    auto* h = reinterpret_cast<uv_handle_t*>(handle);
    if (uv_is_closing(h)) {
        return;
    }
    uv_close(h, [](uv_handle_t* closed) { delete reinterpret_cast<T*>(closed); });
}

/// Raises the soft open-files limit to the hard limit (thousands of sockets need it).
/// Returns the new soft limit.
unsigned long raise_open_files_limit();

} // namespace rtx::core
