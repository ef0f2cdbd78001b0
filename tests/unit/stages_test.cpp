// Tests for bench/stages.hpp: k6-style load profiles.
#include "bench/stages.hpp"

#include <doctest/doctest.h>

#include <chrono>

using rtx::bench::Stages;
using namespace std::chrono_literals;

TEST_CASE("a stage list parses and ramps linearly from 0") {
    auto stages = Stages::parse("30s:1000,2m:1000,30s:0", "--stages", true);
    REQUIRE(stages);
    CHECK(stages->stages().size() == 3);
    CHECK(stages->total() == 180s);
    CHECK(stages->peak() == 1000);
    CHECK(stages->value_at(0s) == 0);
    CHECK(stages->value_at(15s) == doctest::Approx(500));
    CHECK(stages->value_at(30s) == 1000);
    CHECK(stages->value_at(90s) == 1000);
    CHECK(stages->value_at(165s) == doctest::Approx(500));
    CHECK(stages->value_at(180s) == 0);
    CHECK(stages->value_at(1h) == 0); // after the end: the last target
    CHECK(stages->index_at(0s) == 1);
    CHECK(stages->index_at(30s) == 2);
    CHECK(stages->index_at(179s) == 3);
    CHECK(stages->index_at(1h) == 3);
}

TEST_CASE("rates may have fractions; connections may not") {
    CHECK(Stages::parse("500ms:2.5", "--rate-stages", false));
    CHECK_FALSE(Stages::parse("500ms:2.5", "--stages", true));
}

TEST_CASE("stage lists that do not parse") {
    for (const char* text : {"", "30s", "30s:", ":10", "30s:-1", "0s:10", "30s:10,", "x:10",
                             "30s:10,1m", "30s:1e999", "30s:10 "}) {
        CAPTURE(text);
        auto stages = Stages::parse(text, "--stages", true);
        REQUIRE_FALSE(stages);
        CHECK(stages.error().code == rtx::core::ExitCode::usage);
        CHECK(stages.error().message.find("--stages") == 0);
    }
}
