// Tests for bench/sequence_tracker.hpp: duplicates and reordering per sender.
#include "bench/sequence_tracker.hpp"

#include <doctest/doctest.h>

using rtx::bench::SequenceTracker;
using Verdict = SequenceTracker::Verdict;

TEST_CASE("in-order messages are all fresh") {
    SequenceTracker tracker;
    for (std::uint64_t i = 5; i < 200; ++i) {
        CHECK(tracker.record(i) == Verdict::fresh);
    }
    CHECK(tracker.unique() == 195);
    CHECK(tracker.highest() == 199);
}

TEST_CASE("a gap is fresh; the missing message arriving later is late, once") {
    SequenceTracker tracker;
    CHECK(tracker.record(0) == Verdict::fresh);
    CHECK(tracker.record(3) == Verdict::fresh);
    CHECK(tracker.record(1) == Verdict::late);
    CHECK(tracker.record(1) == Verdict::duplicate);
    CHECK(tracker.record(2) == Verdict::late);
    CHECK(tracker.record(3) == Verdict::duplicate);
    CHECK(tracker.unique() == 4);
}

TEST_CASE("duplicates within the 64-message window are told apart from late ones") {
    SequenceTracker tracker;
    for (std::uint64_t i = 0; i < 100; i += 2) {
        tracker.record(i);
    }
    CHECK(tracker.record(98 - 62) == Verdict::duplicate);
    CHECK(tracker.record(98 - 61) == Verdict::late);
    CHECK(tracker.record(98 - 61) == Verdict::duplicate);
    CHECK(tracker.record(98 - 63) == Verdict::late);
}

TEST_CASE("beyond the window a message counts as late") {
    SequenceTracker tracker;
    tracker.record(0);
    tracker.record(1000);
    CHECK(tracker.record(0) == Verdict::late);
    CHECK(tracker.unique() == 3);
}
