// Tests for bench/scheduler.hpp: the intended send times of `rtx bench --rate`. The
// scheduler takes `now` as an argument, so these tests move time by hand.
#include "bench/scheduler.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <vector>

using namespace std::chrono_literals;
using rtx::bench::Arrival;
using rtx::bench::OpenScheduler;
using TimePoint = OpenScheduler::Clock::time_point;

namespace {

const TimePoint k_start = TimePoint{} + 1000s;

std::vector<TimePoint> first(OpenScheduler& scheduler, std::size_t n) {
    std::vector<TimePoint> times;
    for (std::size_t i = 0; i < n; ++i) {
        times.push_back(scheduler.next_intended());
    }
    return times;
}

} // namespace

TEST_CASE("OpenScheduler: uniform times are start + k/rate exactly") {
    OpenScheduler scheduler(1000, Arrival::uniform, 1, k_start);
    CHECK(scheduler.peek_intended() == k_start);
    std::vector<TimePoint> times = first(scheduler, 5000);
    for (std::size_t k = 0; k < times.size(); ++k) {
        CHECK(times[k] == k_start + std::chrono::milliseconds(k));
    }
    CHECK(scheduler.sent() == 5000);

    SUBCASE("a rate that is not a whole number of nanoseconds does not drift") {
        OpenScheduler third(3, Arrival::uniform, 1, k_start);
        std::vector<TimePoint> at = first(third, 3001);
        CHECK(at[1] - k_start == 333'333'333ns);
        CHECK(at[2] - k_start == 666'666'667ns);
        CHECK(at[3000] - k_start == 1000s); // 3000 messages at 3/s: exactly 1000 s
    }
}

TEST_CASE("OpenScheduler: pop_due and due_count catch up after a stall") {
    OpenScheduler scheduler(100, Arrival::uniform, 1, k_start); // one every 10 ms
    CHECK(scheduler.due_count(k_start - 1ns) == 0);
    CHECK(!scheduler.pop_due(k_start - 1ns));
    CHECK(scheduler.due_count(k_start) == 1);

    // The sender stalled for 1 s: 101 messages are due (t = 0, 10 ms, ..., 1000 ms).
    TimePoint now = k_start + 1s;
    CHECK(scheduler.due_count(now) == 101);
    std::vector<TimePoint> sent;
    while (auto intended = scheduler.pop_due(now)) {
        sent.push_back(*intended);
    }
    REQUIRE(sent.size() == 101);
    // Each keeps its own intended time, so its latency includes the stall.
    CHECK(sent.front() == k_start);
    CHECK(sent[50] == k_start + 500ms);
    CHECK(sent.back() == k_start + 1s);
    CHECK(scheduler.due_count(now) == 0);
    CHECK(scheduler.peek_intended() == k_start + 1010ms);
    CHECK(scheduler.due_count(k_start + 1010ms - 1ns) == 0);
    CHECK(scheduler.due_count(k_start + 1010ms) == 1);
    CHECK(scheduler.sent() == 101);
}

TEST_CASE("OpenScheduler: achieved rate over N messages is N/rate") {
    for (Arrival arrival : {Arrival::uniform, Arrival::poisson}) {
        CAPTURE(static_cast<int>(arrival));
        const double rate = 20'000;
        const std::uint64_t n = 200'000;
        OpenScheduler scheduler(rate, arrival, 42, k_start);
        // A sender polling every millisecond sends everything due, and nothing early.
        TimePoint now = k_start;
        std::uint64_t early = 0;
        while (scheduler.sent() < n) {
            std::uint64_t due = scheduler.due_count(now);
            std::uint64_t popped = 0;
            while (auto intended = scheduler.pop_due(now)) {
                if (*intended > now) {
                    ++early;
                }
                ++popped;
            }
            CHECK(popped == due);
            now += 1ms;
        }
        CHECK(early == 0);
        double seconds = std::chrono::duration<double>(now - k_start).count();
        double expected = static_cast<double>(n) / rate; // 10 s
        // Poisson: the sum of n exponential gaps has a standard deviation of sqrt(n)/rate.
        double tolerance = arrival == Arrival::uniform ? 0.002 : 5 * std::sqrt(n) / rate;
        CHECK(std::fabs(seconds - expected) <= tolerance + 0.002);
    }
}

TEST_CASE("OpenScheduler: poisson gaps are exponential, seeded and deterministic") {
    const double rate = 1000;
    const std::size_t n = 100'000;
    OpenScheduler scheduler(rate, Arrival::poisson, 12345, k_start);
    std::vector<TimePoint> times = first(scheduler, n);
    CHECK(times.front() == k_start);
    double sum = 0, sum_squares = 0;
    std::size_t below_mean = 0;
    for (std::size_t i = 1; i < n; ++i) {
        REQUIRE(times[i] >= times[i - 1]);
        double gap = std::chrono::duration<double>(times[i] - times[i - 1]).count();
        sum += gap;
        sum_squares += gap * gap;
        below_mean += gap < 1 / rate ? 1 : 0;
    }
    double count = static_cast<double>(n - 1);
    double mean = sum / count;
    double stddev = std::sqrt(sum_squares / count - mean * mean);
    CHECK(mean == doctest::Approx(1 / rate).epsilon(0.02));
    // An exponential distribution's standard deviation equals its mean, and
    // P(gap < mean) = 1 - 1/e: what tells it apart from jittered uniform gaps.
    CHECK(stddev == doctest::Approx(1 / rate).epsilon(0.03));
    CHECK(static_cast<double>(below_mean) / count ==
          doctest::Approx(1 - std::exp(-1.0)).epsilon(0.02));

    OpenScheduler same_seed(rate, Arrival::poisson, 12345, k_start);
    CHECK(first(same_seed, n) == times);
    OpenScheduler other_seed(rate, Arrival::poisson, 54321, k_start);
    CHECK(first(other_seed, n) != times);

    SUBCASE("due_count agrees with pop_due") {
        OpenScheduler replay(rate, Arrival::poisson, 12345, k_start);
        TimePoint now = k_start + 250ms;
        std::uint64_t due = replay.due_count(now);
        std::uint64_t expected = 0;
        while (expected < n && times[expected] <= now) {
            ++expected;
        }
        CHECK(due == expected);
        CHECK(replay.sent() == 0);
        std::uint64_t popped = 0;
        while (replay.pop_due(now)) {
            ++popped;
        }
        CHECK(popped == expected);
    }
}
