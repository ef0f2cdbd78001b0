// Tests for core/deadline_queue.hpp: fixed-duration deadlines in arming order, with the
// time passed in so nothing sleeps.
#include "core/deadline_queue.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <vector>

using namespace std::chrono_literals;
using Queue = rtx::core::DeadlineQueue<int>;

namespace {

const Queue::Clock::time_point t0{};

std::vector<int> pop_all(Queue& queue, Queue::Clock::time_point now) {
    std::vector<int> keys;
    while (auto key = queue.pop_expired(now)) {
        keys.push_back(*key);
    }
    return keys;
}

} // namespace

TEST_CASE("deadline queue: keys expire in arming order, each after the duration") {
    Queue queue(10s);
    CHECK(queue.empty());
    CHECK_FALSE(queue.next().has_value());
    queue.arm(1, t0);
    queue.arm(2, t0 + 1s);
    queue.arm(3, t0 + 2s);
    CHECK(queue.size() == 3);
    CHECK(queue.next() == t0 + 10s);
    CHECK(pop_all(queue, t0 + 9s).empty());
    CHECK(pop_all(queue, t0 + 11s) == std::vector<int>{1, 2});
    CHECK(queue.next() == t0 + 12s);
    CHECK_FALSE(queue.armed(1));
    CHECK(queue.armed(3));
    CHECK(pop_all(queue, t0 + 12s) == std::vector<int>{3});
    CHECK(queue.empty());
}

TEST_CASE("deadline queue: re-arming moves a key to the back with a new deadline") {
    Queue queue(5s);
    queue.arm(1, t0);
    queue.arm(2, t0 + 1s);
    queue.arm(1, t0 + 3s); // 1 is busy again: its deadline is now t0 + 8s
    CHECK(queue.size() == 2);
    CHECK(queue.next() == t0 + 6s);
    CHECK(pop_all(queue, t0 + 7s) == std::vector<int>{2});
    CHECK(pop_all(queue, t0 + 8s) == std::vector<int>{1});
}

TEST_CASE("deadline queue: a disarmed key never expires, and disarming twice is harmless") {
    Queue queue(1s);
    queue.arm(1, t0);
    queue.arm(2, t0);
    queue.arm(3, t0);
    queue.disarm(2);
    queue.disarm(2);
    queue.disarm(42);
    CHECK(queue.size() == 2);
    CHECK(pop_all(queue, t0 + 1h) == std::vector<int>{1, 3});
    queue.arm(2, t0 + 2h);
    CHECK(queue.next() == t0 + 2h + 1s);
}
