#pragma once

#include <cstdint>

namespace rtx::bench {

/// What one receiver saw of one sender's sequence numbers: new messages, duplicates and
/// messages that arrived after a later one (reordered). A 64-message window below the
/// highest sequence seen remembers what arrived, so a late message is told apart from a
/// second copy; one more than 64 behind the highest counts as reordered. Pure; 24 bytes.
class SequenceTracker {
public:
    enum class Verdict { fresh, late, duplicate };

    /// Records `sequence`: fresh (in order or after a gap), late (fills a gap: reordered)
    /// or duplicate (seen before).
    Verdict record(std::uint64_t sequence) noexcept;
    /// Distinct messages received.
    std::uint64_t unique() const { return m_unique; }
    /// The highest sequence received; meaningless while unique() == 0.
    std::uint64_t highest() const { return m_highest; }

private:
    std::uint64_t m_highest = 0;
    std::uint64_t m_window = 0; ///< Bit i: highest - i was received.
    std::uint64_t m_unique = 0;
};

} // namespace rtx::bench
