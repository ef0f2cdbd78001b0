#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace rtx::bench {

/// How the send times of an open model are spread.
enum class Arrival {
    uniform, ///< Exactly one message every 1/rate seconds.
    poisson, ///< Exponentially distributed gaps with mean 1/rate (a Poisson process).
};

/// The intended send times of an open-model (fixed-rate) load, wrk2 style. The schedule is
/// fixed in advance and never waits for replies: when a sender falls behind (a stall, a
/// full socket), the messages that came due meanwhile are still sent, as fast as possible,
/// and each one's latency is measured from its *intended* time. Measuring from the actual
/// send time, or skipping missed sends, would hide the stall from the percentiles
/// (coordinated omission).
///
/// Pure: the scheduler never reads a clock, the caller passes `now`, so tests run without
/// sleeping. Deterministic: the same seed gives the same Poisson schedule on every run.
/// One scheduler per sender; not thread-safe.
class OpenScheduler {
public:
    using Clock = std::chrono::steady_clock;

    /// `rate_per_second` must be > 0. The first message is due at `start`.
    OpenScheduler(double rate_per_second, Arrival arrival, std::uint64_t seed,
                  Clock::time_point start);

    /// The intended send time of the next message; advances the schedule (counts it sent).
    Clock::time_point next_intended();
    /// The intended send time of the next message, without advancing.
    Clock::time_point peek_intended() const { return m_next; }
    /// If the next message is due at `now` (intended time <= now), advances and returns its
    /// intended time; otherwise nullopt. A sender drains with `while (auto t = pop_due(now))`.
    std::optional<Clock::time_point> pop_due(Clock::time_point now);
    /// How many messages are due at `now` and not yet taken (0 when on schedule).
    std::uint64_t due_count(Clock::time_point now) const;
    /// Messages taken so far (next_intended / pop_due calls that returned a time).
    std::uint64_t sent() const { return m_sent; }
    double rate() const { return m_rate; }
    Arrival arrival() const { return m_arrival; }

private:
    double m_rate;
    Arrival m_arrival;
    Clock::time_point m_start;
    /// SplitMix64 (Steele, Lea, Flood 2014): 8 bytes of state where std::mt19937_64 keeps
    /// 2.5 KiB, and a bench holds one scheduler per connection (10,000 and more).
    std::uint64_t m_random_state;
    std::uint64_t m_sent = 0;
    long double m_offset_ns = 0; ///< Poisson: intended time of the next message from start.
    Clock::time_point m_next;

    Clock::time_point intended_at(std::uint64_t index) const;
    std::uint64_t next_random();
    void advance();
};

} // namespace rtx::bench
