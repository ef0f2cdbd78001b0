// Tests for bench/foreign.hpp: the times a foreign server's messages carry.
#include "bench/foreign.hpp"

#include <doctest/doctest.h>

#include <string>

using rtx::bench::message_time_us;
using rtx::bench::parse_time_unit;
using rtx::bench::TimeUnit;

TEST_CASE("the time at a JSON pointer, in each unit") {
    const std::string pointer = "/ts";
    CHECK(message_time_us(R"({"ts": 1796610600123})", pointer, TimeUnit::ms) == 1796610600123000);
    CHECK(message_time_us(R"({"ts": 1796610600123456})", pointer, TimeUnit::us) ==
          1796610600123456);
    CHECK(message_time_us(R"({"ts": 1796610600})", pointer, TimeUnit::s) == 1796610600000000);
    CHECK(message_time_us(R"({"ts": 1796610600123456789})", pointer, TimeUnit::ns) ==
          1796610600123456);
    CHECK(message_time_us(R"({"ts": "2026-12-07T02:30:00Z"})", pointer, TimeUnit::rfc3339) ==
          1796610600000000);
    SUBCASE("detect: numbers by magnitude, strings as RFC 3339 or a number") {
        CHECK(message_time_us(R"({"ts": 1796610600.5})", pointer, TimeUnit::detect) ==
              1796610600500000);
        CHECK(message_time_us(R"({"ts": 1796610600123})", pointer, TimeUnit::detect) ==
              1796610600123000);
        CHECK(message_time_us(R"({"ts": 1796610600123456})", pointer, TimeUnit::detect) ==
              1796610600123456);
        CHECK(message_time_us(R"({"ts": "2026-12-07T02:30:00Z"})", pointer, TimeUnit::detect) ==
              1796610600000000);
        CHECK(message_time_us(R"({"ts": "1796610600123"})", pointer, TimeUnit::detect) ==
              1796610600123000);
    }
    SUBCASE("a nested pointer") {
        CHECK(message_time_us(R"({"meta": {"sent": 5}})", "/meta/sent", TimeUnit::s) == 5000000);
    }
    SUBCASE("no time") {
        CHECK_FALSE(message_time_us("not json", pointer, TimeUnit::detect));
        CHECK_FALSE(message_time_us(R"({"other": 1})", pointer, TimeUnit::detect));
        CHECK_FALSE(message_time_us(R"({"ts": true})", pointer, TimeUnit::detect));
        CHECK_FALSE(message_time_us(R"({"ts": 5})", pointer, TimeUnit::rfc3339));
        CHECK_FALSE(message_time_us(R"({"ts": "soon"})", pointer, TimeUnit::detect));
    }
}

TEST_CASE("--stamp-unit names") {
    CHECK(parse_time_unit("ms") == TimeUnit::ms);
    CHECK(parse_time_unit("rfc3339") == TimeUnit::rfc3339);
    CHECK(parse_time_unit("detect") == TimeUnit::detect);
    CHECK_FALSE(parse_time_unit("minutes"));
}
