// Tests for bench/payload.hpp: the stamp every bench message carries.
#include "bench/payload.hpp"

#include <doctest/doctest.h>

#include <string>

using rtx::bench::find_stamp;
using rtx::bench::k_stamp_size;
using rtx::bench::PayloadBuilder;
using rtx::bench::Stamp;

TEST_CASE("a built payload has the requested size and decodes to its stamp") {
    PayloadBuilder builder("abc", 64);
    Stamp stamp{0xbeef, 12345, 987654321, 123456789012345};
    std::string_view payload = builder.build(stamp);
    CHECK(payload.size() == 64);
    CHECK(payload.substr(0, k_stamp_size) == "~beef.003039.003ade68b1.07048860ddf79~");
    CHECK(payload.substr(k_stamp_size, 6) == "abcabc");
    auto decoded = find_stamp(payload);
    REQUIRE(decoded);
    CHECK(*decoded == stamp);
}

TEST_CASE("the stamp is the only part rewritten per message") {
    PayloadBuilder builder("", 40);
    std::string first(builder.build(Stamp{1, 2, 3, 4}));
    std::string second(builder.build(Stamp{1, 2, 4, 5}));
    CHECK(first.size() == 40);
    CHECK(first.substr(k_stamp_size) == "xx");
    CHECK(first.substr(k_stamp_size) == second.substr(k_stamp_size));
    CHECK(find_stamp(second)->sequence == 4);
}

TEST_CASE("fields are cut to their width") {
    PayloadBuilder builder("", k_stamp_size);
    Stamp stamp{0x1ffff, 0x1ffffff, 0x1ffffffffffULL, 0x1fffffffffffffULL};
    auto decoded = find_stamp(builder.build(stamp));
    REQUIRE(decoded);
    CHECK(decoded->run == 0xffff);
    CHECK(decoded->sender == 0xffffff);
    CHECK(decoded->sequence == 0xffffffffffULL);
    CHECK(decoded->sent_ns == 0xfffffffffffffULL);
}

TEST_CASE("the stamp is found inside JSON, as a long-poll answer wraps it") {
    PayloadBuilder builder("", 48);
    std::string payload(builder.build(Stamp{7, 1, 2, 3}));
    std::string json = R"({"id":17,"payload":")" + payload + R"(","x":"~"})";
    auto decoded = find_stamp(json);
    REQUIRE(decoded);
    CHECK(decoded->run == 7);
}

TEST_CASE("no stamp: too short, truncated, bad digits, wrong separators") {
    PayloadBuilder builder("", 40);
    std::string good(builder.build(Stamp{1, 2, 3, 4}));
    CHECK_FALSE(find_stamp(""));
    CHECK_FALSE(find_stamp("hello"));
    for (std::size_t cut = 0; cut < k_stamp_size; ++cut) {
        CHECK_FALSE(find_stamp(std::string_view(good).substr(0, cut)));
    }
    std::string upper = good;
    upper[1] = 'A';
    CHECK_FALSE(find_stamp(upper));
    std::string dots = good;
    dots[5] = ':';
    CHECK_FALSE(find_stamp(dots));
    std::string end = good;
    end[k_stamp_size - 1] = 'x';
    CHECK_FALSE(find_stamp(end));
}
