#pragma once

#include "bench/scheduler.hpp"
#include "core/loop.hpp"

#include <cstdint>
#include <functional>
#include <queue>
#include <vector>

namespace rtx::bench {

/// The open model's clock for one worker: every sender has an OpenScheduler, and one
/// timerfd (microsecond precision, unlike libuv's millisecond timers) is armed for the
/// earliest intended time of them all. When it fires, every sender whose messages came due
/// is called once per due message with the message's intended time, late or not (see
/// OpenScheduler). Thousands of senders cost one fd and a heap. Loop thread only.
class SendClock {
public:
    /// `send(sender, intended)` sends one message of `sender`.
    using SendFn = std::function<void(std::size_t sender, OpenScheduler::Clock::time_point)>;

    /// Senders are numbered 0 .. senders - 1.
    SendClock(core::Loop& loop, std::size_t senders, SendFn send);
    ~SendClock();
    SendClock(const SendClock&) = delete;
    SendClock& operator=(const SendClock&) = delete;

    /// Starts (or restarts) the schedule of `sender`; its first message is due at `start`.
    /// `limit` > 0 stops it after that many messages.
    void start(std::size_t sender, double rate, Arrival arrival, std::uint64_t seed,
               OpenScheduler::Clock::time_point start, std::uint64_t limit);
    /// Stops the schedule of `sender` (its connection went down).
    void stop(std::size_t sender);
    /// Stops every schedule.
    void stop_all();
    /// Messages taken by `sender` under its current schedule.
    std::uint64_t taken(std::size_t sender) const;

private:
    struct Entry {
        OpenScheduler::Clock::time_point due;
        std::size_t sender;
        std::uint64_t generation; ///< Stale when the sender's schedule was restarted.
        bool operator>(const Entry& other) const { return due > other.due; }
    };
    struct Slot {
        std::unique_ptr<OpenScheduler> scheduler;
        std::uint64_t generation = 0;
        std::uint64_t limit = 0;
        std::uint64_t taken = 0;
    };
    static void on_ready(uv_poll_t* handle, int status, int events);
    void fire();
    void arm();

    SendFn m_send;
    int m_fd = -1;
    uv_poll_t* m_poll = nullptr; ///< Heap: libuv frees it after close.
    std::vector<Slot> m_slots;
    std::priority_queue<Entry, std::vector<Entry>, std::greater<>> m_heap;
    bool m_firing = false;
};

} // namespace rtx::bench
