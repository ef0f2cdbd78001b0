#pragma once

#include "bench/sequence_tracker.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace rtx::bench {

struct ClientContext;

/// What one subscriber remembers of what it received: a sequence tracker per publisher of
/// this run, the arrival of its last message (for the gaps between arrivals) and how many
/// it counted. Kept across reconnects. Loop thread only.
struct SubscriberTally {
    explicit SubscriberTally(std::size_t publishers)
        : trackers(publishers) {}
    std::vector<SequenceTracker> trackers; ///< One per publisher.
    std::uint64_t last_ns = 0;             ///< Arrival of the last counted message; 0: none.
    std::uint64_t counted = 0;             ///< Messages counted (duplicates not).
};

/// A subscriber received `payload`. rtx's own stamp of this run: latency, or a duplicate,
/// or a reordering, by the stamp's publisher. Subscribe-only (a foreign server), anything
/// else counts too once measuring: with the time at --stamp-pointer as its latency, or
/// without latency. Records the gap since the subscriber's previous message.
void record_delivery(const ClientContext& context, SubscriberTally& tally,
                     std::string_view payload);

} // namespace rtx::bench
