#pragma once

#include "core/duration.hpp"

#include <chrono>
#include <functional>
#include <optional>

namespace rtx::core {

/// When and how often to reconnect; shared by every protocol's --reconnect.
struct BackoffPolicy {
    Duration initial{std::chrono::milliseconds(100)}; ///< Delay before the first retry.
    Duration max{std::chrono::seconds(30)};           ///< Cap on any one delay.
    double multiplier = 2.0;                          ///< Growth per failed attempt.
    /// Fraction of each delay that is randomised away: the delay is uniform in
    /// [d * (1 - jitter), d]. Spreads out thousands of clients reconnecting at once.
    double jitter = 0.5;
    /// Attempts in a row (the first connect included) before giving up; 0: never give up.
    /// 1 means no retry at all.
    unsigned max_attempts = 0;
    /// A connection that stayed up this long counts as healthy: the schedule starts over.
    Duration reset_after{std::chrono::seconds(5)};
    /// After a clean end (delay_after_clean_end), the fraction of the reconnection time added
    /// on top at random: the wait is uniform in [t, t * (1 + clean_end_jitter)], never
    /// shorter than t. Spreads out clients a server ended together, as a deploy does.
    double clean_end_jitter = 0.1;
};

/// The exponential-backoff schedule with jitter and a cap. Pure: time and randomness are
/// injected, so the schedule is testable without sleeping.
class Backoff {
public:
    using Clock = std::function<std::chrono::steady_clock::time_point()>;
    using Random = std::function<double()>; ///< Uniform in [0, 1).

    Backoff(BackoffPolicy policy, Clock clock, Random random);
    /// A Backoff on the steady clock and a per-thread random engine.
    explicit Backoff(BackoffPolicy policy);

    /// Call after an attempt failed: the delay before the next one, or nullopt when the
    /// failed attempt was the max_attempts-th in a row. Never shorter than the reconnection
    /// time (set_reconnection_time), whatever the jitter.
    std::optional<Duration> next_delay();
    /// Call after a connection that worked ended normally (an SSE response the server
    /// finished): not a failure, so no backoff and the failure streak is over. WHATWG HTML
    /// 9.2.3 "reestablish the connection": wait the reconnection time (capped by `max`),
    /// plus up to clean_end_jitter of it, never less.
    Duration delay_after_clean_end();
    /// The connection opened (starts the healthy-time clock).
    void connected();
    /// The connection ended; if it had stayed up for reset_after, the schedule starts over.
    void disconnected();
    /// The SSE reconnection time (the server's `retry:`, WHATWG HTML 9.2.6, or the 3 s
    /// default): the first delay after a failure, the floor under every delay (jitter never
    /// goes below it), and the whole wait after a clean end.
    void set_reconnection_time(Duration time);
    /// Retries scheduled since the last healthy connection (failed attempts in a row - 1
    /// while connecting).
    unsigned attempts() const { return m_attempts; }
    const BackoffPolicy& policy() const { return m_policy; }

private:
    BackoffPolicy m_policy;
    Clock m_clock;
    Random m_random;
    unsigned m_attempts = 0;
    Duration m_floor{0}; ///< No delay is shorter (the reconnection time, capped by max).
    std::optional<std::chrono::steady_clock::time_point> m_connected_at;
};

} // namespace rtx::core
