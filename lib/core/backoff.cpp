#include "core/backoff.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace rtx::core {

Backoff::Backoff(BackoffPolicy policy, Clock clock, Random random)
    : m_policy(policy)
    , m_clock(std::move(clock))
    , m_random(std::move(random)) {}

Backoff::Backoff(BackoffPolicy policy)
    : Backoff(
          policy, [] { return std::chrono::steady_clock::now(); },
          [] {
              thread_local std::mt19937_64 engine{std::random_device{}()};
              return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
          }) {}

std::optional<Duration> Backoff::next_delay() {
    if (m_policy.max_attempts != 0 && m_attempts + 1 >= m_policy.max_attempts) {
        return std::nullopt;
    }
    double base = static_cast<double>(m_policy.initial.count()) *
                  std::pow(m_policy.multiplier, static_cast<double>(m_attempts));
    double capped = std::min(base, static_cast<double>(m_policy.max.count()));
    double jitter = std::clamp(m_policy.jitter, 0.0, 1.0);
    double delay = capped * (1.0 - jitter * m_random());
    ++m_attempts;
    return std::max(m_floor, Duration(static_cast<Duration::rep>(std::llround(delay))));
}

Duration Backoff::delay_after_clean_end() {
    m_attempts = 0;
    m_connected_at.reset();
    double spread = std::max(m_policy.clean_end_jitter, 0.0) * m_random();
    double delay = static_cast<double>(m_floor.count()) * (1.0 + spread);
    return std::clamp(Duration(static_cast<Duration::rep>(std::llround(delay))), m_floor,
                      std::max(m_floor, m_policy.max));
}

void Backoff::set_reconnection_time(Duration time) {
    m_policy.initial = std::min(time, m_policy.max);
    m_floor = m_policy.initial;
}

void Backoff::connected() {
    m_connected_at = m_clock();
}

void Backoff::disconnected() {
    if (m_connected_at && m_clock() - *m_connected_at >= m_policy.reset_after) {
        m_attempts = 0;
    }
    m_connected_at.reset();
}

} // namespace rtx::core
