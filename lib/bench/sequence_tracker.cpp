#include "bench/sequence_tracker.hpp"

namespace rtx::bench {

SequenceTracker::Verdict SequenceTracker::record(std::uint64_t sequence) noexcept {
    if (m_unique == 0 || sequence > m_highest) {
        std::uint64_t shift = m_unique == 0 ? 64 : sequence - m_highest;
        m_window = shift >= 64 ? 1 : (m_window << shift) | 1;
        m_highest = sequence;
        ++m_unique;
        return Verdict::fresh;
    }
    std::uint64_t behind = m_highest - sequence;
    if (behind < 64) {
        std::uint64_t bit = std::uint64_t{1} << behind;
        if ((m_window & bit) != 0) {
            return Verdict::duplicate;
        }
        m_window |= bit;
    }
    ++m_unique;
    return Verdict::late;
}

} // namespace rtx::bench
