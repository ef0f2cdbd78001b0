// Tests for core/lazy_deque.hpp: a deque made on first use, with a deque's reference
// stability (what rtx serve's WsSession relies on when it appends to a chunk it holds).
#include "core/lazy_deque.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using rtx::core::LazyDeque;

TEST_CASE("lazy deque: unmade, it is empty and iterates as empty") {
    LazyDeque<std::string> queue;
    CHECK(queue.empty());
    CHECK(queue.size() == 0);
    CHECK(queue.begin() == queue.end());
    queue.clear(); // nothing to free
    CHECK(queue.empty());
}

TEST_CASE("lazy deque: a reference survives thousands of appends, and order is kept") {
    LazyDeque<std::string> queue;
    std::string& first = queue.emplace_back("first");
    for (int i = 0; i < 5000; ++i) {
        queue.emplace_back(std::to_string(i));
    }
    first += " still here"; // a vector-backed queue would have moved it long ago
    CHECK(queue.front() == "first still here");
    CHECK(queue.back() == "4999");
    CHECK(queue.size() == 5001);
    std::vector<std::string> seen(queue.begin(), queue.end());
    CHECK(seen.size() == 5001);
    CHECK(seen[1] == "0");
}

TEST_CASE("lazy deque: pops at both ends, and clear() empties it for reuse") {
    LazyDeque<int> queue;
    for (int i = 0; i < 4; ++i) {
        queue.emplace_back(i);
    }
    queue.pop_front();
    queue.pop_back();
    CHECK(queue.front() == 1);
    CHECK(queue.back() == 2);
    queue.clear();
    CHECK(queue.empty());
    queue.emplace_back(7);
    CHECK(queue.size() == 1);
    CHECK(queue.front() == 7);
}
