#pragma once

#include "core/duration.hpp"
#include "core/loop.hpp"

#include <functional>

namespace rtx::core {

/// A one-shot or repeating timer on a Loop. Loop thread only. Destroying the Timer cancels
/// it; the callback never runs after destruction.
class Timer {
public:
    explicit Timer(Loop& loop);
    ~Timer();
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    /// Runs `callback` after `delay`, then every `repeat` if it is non-zero. Restarting an
    /// active timer replaces the previous schedule.
    void start(Duration delay, std::function<void()> callback, Duration repeat = Duration{0});
    /// Cancels the pending run, if any.
    void stop();
    /// The timer no longer keeps Loop::run() alive on its own (a deadline, not work).
    void unref();
    /// True while a run is scheduled.
    bool active() const;

private:
    uv_loop_t* m_loop;
    /// Heap: libuv frees it after close, possibly after this object. Made by the first
    /// start(): objects with timers they may never run (one per connection, thousands of
    /// them) do not pay for a libuv handle each.
    uv_timer_t* m_handle = nullptr;
    bool m_unref = false;
    std::function<void()> m_callback;
};

} // namespace rtx::core
