#include "core/fifo.hpp"

#include <doctest/doctest.h>

#include <deque>
#include <memory>
#include <random>
#include <string>

using rtx::core::Fifo;

TEST_CASE("Fifo: first in, first out, against std::deque") {
    Fifo<std::string> fifo;
    std::deque<std::string> reference;
    std::mt19937 random(7);
    for (int step = 0; step < 20000; ++step) {
        // Pushes slightly more often than pops: the queue both drains and grows.
        if (random() % 100 < 52 || reference.empty()) {
            std::string item = std::to_string(step);
            fifo.push_back(item);
            reference.push_back(item);
        } else {
            REQUIRE(fifo.front() == reference.front());
            fifo.pop_front();
            reference.pop_front();
        }
        REQUIRE(fifo.size() == reference.size());
        REQUIRE(fifo.empty() == reference.empty());
    }
    while (!reference.empty()) {
        CHECK(fifo.front() == reference.front());
        fifo.pop_front();
        reference.pop_front();
    }
    CHECK(fifo.empty());
}

TEST_CASE("Fifo: a queue that fills and drains keeps its storage") {
    Fifo<std::unique_ptr<int>> fifo;
    for (int i = 0; i < 8; ++i) {
        fifo.push_back(std::make_unique<int>(i));
    }
    const auto* storage = &fifo.front();
    while (!fifo.empty()) {
        fifo.pop_front();
    }
    for (int round = 0; round < 100; ++round) {
        for (int i = 0; i < 8; ++i) {
            fifo.emplace_back(std::make_unique<int>(i));
        }
        CHECK(&fifo.front() == storage); // same vector storage: no reallocation
        for (int i = 0; i < 8; ++i) {
            CHECK(*fifo.front() == i);
            fifo.pop_front();
        }
    }
}

TEST_CASE("Fifo: pop_front releases the element at once") {
    Fifo<std::shared_ptr<int>> fifo;
    auto shared = std::make_shared<int>(1);
    fifo.push_back(shared);
    fifo.push_back(std::make_shared<int>(2));
    CHECK(shared.use_count() == 2);
    fifo.pop_front();
    CHECK(shared.use_count() == 1);
    CHECK(*fifo.front() == 2);
}

TEST_CASE("Fifo: a queue that never drains stays bounded by what is live") {
    Fifo<int> fifo;
    fifo.push_back(0);
    for (int i = 1; i < 100000; ++i) {
        fifo.push_back(i);
        CHECK(fifo.front() == i - 1);
        fifo.pop_front();
        REQUIRE(fifo.size() == 1);
    }
    CHECK(fifo.front() == 99999);
}
