// Tests for core/duration.hpp: --timeout, --interval and friends.
#include "core/duration.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>

using namespace std::chrono_literals;
using rtx::core::Duration;
using rtx::core::ExitCode;
using rtx::core::format_duration;
using rtx::core::parse_duration;

namespace {

Duration parse_ok(std::string_view text) {
    auto result = parse_duration(text);
    INFO("input: '", std::string(text), "'");
    REQUIRE(result.ok());
    return result.value();
}

void check_error(std::string_view text) {
    auto result = parse_duration(text);
    INFO("input: '", std::string(text), "'");
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ExitCode::usage);
    // The message quotes the input so the user sees which option value was wrong.
    CHECK(result.error().message.find(std::string(text)) != std::string::npos);
}

} // namespace

TEST_CASE("parse_duration: units") {
    SUBCASE("milliseconds") {
        CHECK(parse_ok("250ms") == 250ms);
    }
    SUBCASE("fractional seconds") {
        CHECK(parse_ok("1.5s") == 1500ms);
    }
    SUBCASE("minutes") {
        CHECK(parse_ok("2m") == 2min);
    }
    SUBCASE("hours") {
        CHECK(parse_ok("1h") == 1h);
    }
    SUBCASE("microseconds") {
        CHECK(parse_ok("100us") == 100us);
    }
    SUBCASE("whole seconds") {
        CHECK(parse_ok("30s") == 30s);
    }
    SUBCASE("fractional milliseconds") {
        CHECK(parse_ok("0.5ms") == 500us);
    }
    SUBCASE("fractional minutes") {
        CHECK(parse_ok("1.5m") == 90s);
    }
    SUBCASE("leading dot") {
        CHECK(parse_ok(".5s") == 500ms);
    }
    SUBCASE("trailing dot") {
        CHECK(parse_ok("5.s") == 5s);
    }
    SUBCASE("leading zeros") {
        CHECK(parse_ok("007ms") == 7ms);
    }
    SUBCASE("zero") {
        CHECK(parse_ok("0") == 0us);
    }
    SUBCASE("zero with unit") {
        CHECK(parse_ok("0ms") == 0us);
    }
    SUBCASE("sub-microsecond rounds to the nearest microsecond") {
        CHECK(parse_ok("1.4us") == 1us);
        CHECK(parse_ok("1.6us") == 2us);
    }
    SUBCASE("a long run") {
        CHECK(parse_ok("24h") == 24h);
    }
}

TEST_CASE("parse_duration: a bare number means seconds") {
    CHECK(parse_ok("5") == 5s);
    CHECK(parse_ok("0.25") == 250ms);
    CHECK(parse_ok("10.") == 10s);
}

TEST_CASE("parse_duration: malformed values are usage errors") {
    SUBCASE("empty") {
        check_error("");
    }
    SUBCASE("dot alone") {
        check_error(".");
    }
    SUBCASE("dot with unit") {
        check_error(".s");
    }
    SUBCASE("unit alone") {
        check_error("ms");
    }
    SUBCASE("negative") {
        check_error("-1s");
    }
    SUBCASE("explicit plus") {
        check_error("+1s");
    }
    SUBCASE("unknown unit") {
        check_error("5x");
    }
    SUBCASE("days are not a unit") {
        check_error("1d");
    }
    SUBCASE("unit is case-sensitive") {
        check_error("5MS");
    }
    SUBCASE("nanoseconds are not a unit") {
        check_error("5ns");
    }
    SUBCASE("compound form") {
        check_error("1m30s");
    }
    SUBCASE("two dots") {
        check_error("1.2.3s");
    }
    SUBCASE("exponent") {
        check_error("1e3");
    }
    SUBCASE("hex") {
        check_error("0x10");
    }
    SUBCASE("leading space") {
        check_error(" 5s");
    }
    SUBCASE("space before unit") {
        check_error("5 s");
    }
    SUBCASE("trailing space") {
        check_error("5s ");
    }
    SUBCASE("comma as decimal separator") {
        check_error("1,5s");
    }
    SUBCASE("NUL inside") {
        check_error(std::string_view("5\0s", 3));
    }
    SUBCASE("absurdly large") {
        check_error("99999999999h");
    }
    SUBCASE("more digits than a double holds") {
        check_error(std::string(400, '9'));
    }
}

TEST_CASE("format_duration: the shortest human form") {
    SUBCASE("zero") {
        CHECK(format_duration(0us) == "0us");
    }
    SUBCASE("microseconds") {
        CHECK(format_duration(100us) == "100us");
    }
    SUBCASE("milliseconds") {
        CHECK(format_duration(250ms) == "250ms");
    }
    SUBCASE("whole second") {
        CHECK(format_duration(1s) == "1s");
    }
    SUBCASE("fractional seconds") {
        CHECK(format_duration(1500ms) == "1.5s");
    }
    SUBCASE("under a minute") {
        CHECK(format_duration(59s) == "59s");
    }
    SUBCASE("whole minutes") {
        CHECK(format_duration(2min) == "2m");
    }
}

TEST_CASE("format_duration: what parse_duration reads back is the same duration") {
    const Duration values[] = {0us, 1us,     999us, 1ms,     1500us,    250ms, 999ms,
                               1s,  1500ms,  59s,   1min,    90s,       150s,  2min,
                               1h,  1h + 1s, 24h,   61001ms, 12345600ms};
    for (Duration d : values) {
        std::string text = format_duration(d);
        INFO("duration: ", d.count(), "us, formatted: ", text);
        auto back = parse_duration(text);
        REQUIRE(back.ok());
        CHECK(back.value() == d);
    }
}

TEST_CASE("format_duration: odd values parse back to nearly the same duration") {
    // Log lines ("reconnecting in 1.2s") may round; they must stay parseable and close.
    const Duration values[] = {1001us,      1049us,       1999us,       123456us,
                               999999us,    1000001us,    59999999us,   60000001us,
                               123456789us, 3599999999us, 86399999999us};
    for (Duration d : values) {
        std::string text = format_duration(d);
        INFO("duration: ", d.count(), "us, formatted: ", text);
        auto back = parse_duration(text);
        REQUIRE(back.ok());
        Duration error = back.value() > d ? back.value() - d : d - back.value();
        CHECK(error <= std::max<Duration>(50us, d / 1000));
    }
}

TEST_CASE("format_duration: large values never use exponent form") {
    SUBCASE("a million and one seconds") {
        CHECK(format_duration(1000001s) == "1000001s");
    }
    SUBCASE("every value up to a year parses back within a millisecond") {
        for (Duration d = 999'999'500us; d < Duration(365LL * 24 * 3600 * 1'000'000);
             d = d * 3 + 7us) {
            std::string text = format_duration(d);
            INFO("formatted: ", text);
            CHECK(text.find('e') == std::string::npos);
            auto back = parse_duration(text);
            REQUIRE(back.ok());
            Duration error = back.value() > d ? back.value() - d : d - back.value();
            CHECK(error <= 500us);
        }
    }
}
