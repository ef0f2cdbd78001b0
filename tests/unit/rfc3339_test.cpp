// Tests for core/rfc3339.hpp: the one RFC 3339 parser behind serve --replay, bench --start-at
// and bench --stamp-unit rfc3339.
#include "core/rfc3339.hpp"

#include <doctest/doctest.h>

using rtx::core::parse_rfc3339_us;

TEST_CASE("RFC 3339 date-times to microseconds since 1970") {
    CHECK(parse_rfc3339_us("1970-01-01T00:00:00Z") == 0);
    CHECK(parse_rfc3339_us("1970-01-01T00:00:01.5Z") == 1'500'000);
    CHECK(parse_rfc3339_us("2026-12-07T02:30:00Z") == 1'796'610'600'000'000);
    CHECK(parse_rfc3339_us("2026-11-28T15:51:06.123456Z") == 1'795'881'066'123'456);
    SUBCASE("an offset is subtracted; a leap day counts") {
        CHECK(parse_rfc3339_us("2000-02-29T12:00:00.5+02:00") == 951'818'400'500'000);
        CHECK(parse_rfc3339_us("2026-11-28T16:51:06.123456789+01:00") == 1'795'881'066'123'456);
        CHECK(parse_rfc3339_us("2026-12-06T22:00:00-04:30") == 1'796'610'600'000'000);
    }
    SUBCASE("lower case t and z, a space for T, fractions past microseconds cut") {
        CHECK(parse_rfc3339_us("2026-12-07t02:30:00z") == 1'796'610'600'000'000);
        CHECK(parse_rfc3339_us("2026-12-07 02:30:00.1234567Z") == 1'796'610'600'123'456);
    }
    SUBCASE("a leap second is the next second's start") {
        CHECK(parse_rfc3339_us("2016-12-31T23:59:60Z") == parse_rfc3339_us("2017-01-01T00:00:00Z"));
    }
    SUBCASE("not a date-time") {
        for (const char* bad : {
                 "",
                 "2026-12-07",
                 "2026-12-07T02:30:00",             // no zone
                 "2026-13-07T02:30:00Z",            // month 13
                 "2026-02-30T02:30:00Z",            // no such day
                 "2025-02-29T02:30:00Z",            // not a leap year
                 "2026-12-07T24:00:00Z",            // hour 24
                 "2026-12-07T02:30:00.Z",           // empty fraction
                 "2026-12-07T02:30:00.1234567890Z", // 10 fraction digits
                 "2026-12-07T02:30:00Zx",           // trailing bytes
                 "2026-12-07T02:30:00+0200",        // offset without its colon
                 "2026-12-07T02:30:00+1:00",        // one-digit offset hour
                 "2026-12-07T02:30:00+24:00",       // offset hour 24
                 "tomorrow",
             }) {
            CAPTURE(bad);
            CHECK_FALSE(parse_rfc3339_us(bad).has_value());
        }
    }
}
