#include "bench/scheduler.hpp"

#include <cassert>
#include <cmath>

namespace rtx::bench {

OpenScheduler::OpenScheduler(double rate_per_second, Arrival arrival, std::uint64_t seed,
                             Clock::time_point start)
    : m_rate(rate_per_second)
    , m_arrival(arrival)
    , m_start(start)
    , m_random_state(seed)
    , m_next(start) {
    assert(rate_per_second > 0 && std::isfinite(rate_per_second));
}

OpenScheduler::Clock::time_point OpenScheduler::intended_at(std::uint64_t index) const {
    // Computed from the index, not by adding a rounded period, so errors never accumulate:
    // message k is due at start + k/rate to the nanosecond.
    long double offset = static_cast<long double>(index) * 1e9L / static_cast<long double>(m_rate);
    return m_start + std::chrono::nanoseconds(std::llround(offset));
}

std::uint64_t OpenScheduler::next_random() {
    std::uint64_t z = (m_random_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void OpenScheduler::advance() {
    ++m_sent;
    if (m_arrival == Arrival::uniform) {
        m_next = intended_at(m_sent);
        return;
    }
    // Inverse-transform sampling of an exponential gap. The 53-bit uniform is built by hand
    // (std::uniform_real_distribution is implementation-defined) so a seed gives the same
    // schedule with any standard library.
    long double uniform = static_cast<long double>(next_random() >> 11) * 0x1.0p-53L; // [0, 1)
    long double gap_ns = -std::log1p(-uniform) * 1e9L / static_cast<long double>(m_rate);
    m_offset_ns += gap_ns;
    m_next = m_start + std::chrono::nanoseconds(std::llround(m_offset_ns));
}

OpenScheduler::Clock::time_point OpenScheduler::next_intended() {
    Clock::time_point intended = m_next;
    advance();
    return intended;
}

std::optional<OpenScheduler::Clock::time_point> OpenScheduler::pop_due(Clock::time_point now) {
    if (m_next > now) {
        return std::nullopt;
    }
    return next_intended();
}

std::uint64_t OpenScheduler::due_count(Clock::time_point now) const {
    if (m_next > now) {
        return 0;
    }
    if (m_arrival == Arrival::poisson) {
        // The gaps are random: replay them on a copy (linear in the number due).
        OpenScheduler replay = *this;
        std::uint64_t due = 0;
        while (replay.pop_due(now)) {
            ++due;
        }
        return due;
    }
    // The last index k with start + k/rate <= now: estimate, then settle the rounding.
    long double elapsed_ns = static_cast<long double>((now - m_start).count());
    auto last = static_cast<std::uint64_t>(elapsed_ns * static_cast<long double>(m_rate) / 1e9L);
    while (intended_at(last + 1) <= now) {
        ++last;
    }
    while (last > m_sent && intended_at(last) > now) {
        --last;
    }
    return last + 1 - m_sent;
}

} // namespace rtx::bench
