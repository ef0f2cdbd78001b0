#include "serve/replay_player.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace rtx::serve {

ReplayPlayer::ReplayPlayer(core::Loop& loop,
                           std::shared_ptr<const std::vector<ReplayRecord>> records,
                           ReplayPace pace, Emit emit, std::function<void()> ended)
    : m_loop(loop)
    , m_records(std::move(records))
    , m_pace(pace)
    , m_emit(std::move(emit))
    , m_ended(std::move(ended))
    , m_timer(loop) {}

void ReplayPlayer::start() {
    m_pass_start_ms = m_loop.now_ms();
    m_next = 0;
    m_timer.start(core::Duration{0}, [this] { run(); });
}

std::uint64_t ReplayPlayer::due_ms(std::size_t index) const {
    // Rounded up: a record never goes out before its time (tests assert a lower bound).
    const double ms = static_cast<double>((*m_records)[index].at.count()) / 1000.0 / m_pace.speed;
    return m_pass_start_ms + static_cast<std::uint64_t>(std::ceil(ms));
}

void ReplayPlayer::run() {
    const std::vector<ReplayRecord>& records = *m_records;
    const std::uint64_t now = m_loop.now_ms();
    while (m_next < records.size() && due_ms(m_next) <= now) {
        m_emit(records[m_next++]);
    }
    if (m_next == records.size()) {
        ++m_passes;
        if (!m_pace.loop) {
            if (m_ended) {
                m_ended(); // may destroy this
            }
            return;
        }
        const core::Duration gap =
            records.size() > 1 ? records[1].at - records[0].at : core::Duration{0};
        const auto gap_ms =
            static_cast<std::uint64_t>(static_cast<double>(gap.count()) / 1000.0 / m_pace.speed);
        // Records are timed from the first, whose `at` is 0.
        m_pass_start_ms = due_ms(records.size() - 1) + std::max<std::uint64_t>(gap_ms, 1);
        m_next = 0;
    }
    const std::uint64_t due = due_ms(m_next);
    m_timer.start(std::chrono::milliseconds(due > now ? due - now : 0), [this] { run(); });
}

} // namespace rtx::serve
