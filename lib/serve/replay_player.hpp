#pragma once

#include "core/loop.hpp"
#include "core/timer.hpp"
#include "serve/replay_feed.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace rtx::serve {

/// How a recording is played: --replay-speed and --replay-loop.
struct ReplayPace {
    double speed = 1.0; ///< 2: twice as fast (spacing halved); must be > 0.
    bool loop = false;  ///< After the last record, start again from the first.
};

/// Plays records at their recorded spacing on a loop's timers: each record goes to `emit`
/// at start() + record.at / speed (never earlier; a late timer emits every record that is
/// due, in order). Without loop, `ended` runs once after the last record; with it the next
/// pass starts as long after the last record as the second record came after the first (at
/// least 1 ms). Destroying the player stops it. Loop thread only.
class ReplayPlayer {
public:
    using Emit = std::function<void(const ReplayRecord&)>;

    /// `records` in time order (ReplayFeed); `emit` and `ended` may destroy the player only
    /// from `ended`.
    ReplayPlayer(core::Loop& loop, std::shared_ptr<const std::vector<ReplayRecord>> records,
                 ReplayPace pace, Emit emit, std::function<void()> ended = {});

    /// Starts the first pass now; records at offset 0 go out on the loop's next turn.
    void start();
    /// Passes completed so far (--replay-loop).
    std::uint64_t passes() const { return m_passes; }

private:
    std::uint64_t due_ms(std::size_t index) const;
    void run();

    core::Loop& m_loop;
    std::shared_ptr<const std::vector<ReplayRecord>> m_records;
    ReplayPace m_pace;
    Emit m_emit;
    std::function<void()> m_ended;
    core::Timer m_timer;
    std::uint64_t m_pass_start_ms = 0;
    std::size_t m_next = 0;
    std::uint64_t m_passes = 0;
};

} // namespace rtx::serve
