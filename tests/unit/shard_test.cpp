// Tests for bench/shard.hpp and the Plan's shard ranges: every connection, publisher, rate
// share and sequence number belongs to exactly one shard, for any shard count.
#include "bench/plan.hpp"
#include "bench/shard.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <set>
#include <utility>
#include <vector>

using namespace rtx::bench;

namespace {

constexpr std::size_t k_totals[] = {0, 1, 2, 3, 5, 7, 10, 64, 100, 1001, 100000};
constexpr std::size_t k_counts[] = {1, 2, 3, 4, 5, 7, 8, 13, 64, 101, 1000};

} // namespace

TEST_CASE("shard_range: the shards' blocks cover every index exactly once") {
    for (std::size_t total : k_totals) {
        for (std::size_t count : k_counts) {
            CAPTURE(total);
            CAPTURE(count);
            std::size_t next = 0;
            std::size_t smallest = SIZE_MAX;
            std::size_t largest = 0;
            for (std::size_t i = 0; i < count; ++i) {
                IndexRange range = shard_range(total, Shard{i, count});
                REQUIRE(range.begin == next); // contiguous, in order, disjoint
                REQUIRE(range.end >= range.begin);
                next = range.end;
                smallest = std::min(smallest, range.size());
                largest = std::max(largest, range.size());
            }
            CHECK(next == total); // nothing left over
            CHECK(largest - smallest <= 1);
        }
    }
}

TEST_CASE("shard_range: more shards than items leaves some shards empty") {
    std::size_t non_empty = 0;
    for (std::size_t i = 0; i < 5; ++i) {
        non_empty += shard_range(3, Shard{i, 5}).size() == 1 ? 1U : 0U;
        CHECK(shard_range(3, Shard{i, 5}).size() <= 1);
    }
    CHECK(non_empty == 3);
    CHECK(shard_range(10, Shard{0, 1}) == IndexRange{0, 10});
}

TEST_CASE("shard_rate: the shares add up to the rate, the same per sender everywhere") {
    for (std::size_t senders : {1UL, 3UL, 10UL, 1001UL}) {
        for (std::size_t count : k_counts) {
            double sum = 0;
            for (std::size_t i = 0; i < count; ++i) {
                const Shard shard{i, count};
                const double part = shard_rate(1000.0, senders, shard);
                sum += part;
                const auto mine = shard_range(senders, shard).size();
                if (mine == 0) {
                    CHECK(part == 0);
                } else {
                    CHECK(part / static_cast<double>(mine) ==
                          doctest::Approx(1000.0 / static_cast<double>(senders)));
                }
            }
            CHECK(sum == doctest::Approx(1000.0));
        }
    }
    CHECK(shard_rate(50, 0, Shard{0, 2}) == 0);
}

TEST_CASE("Plan shards: every sender's messages and sequence numbers are sent by one shard") {
    for (bool fanout : {false, true}) {
        for (std::size_t count : {1UL, 2UL, 3UL, 7UL, 12UL}) {
            Plan plan;
            plan.fanout = fanout;
            plan.connections = 10;
            plan.publishers = 4;
            plan.messages = 1003;
            std::set<std::pair<std::size_t, std::uint64_t>> stamps; // (sender, sequence)
            std::uint64_t messages = 0;
            std::size_t connections = 0;
            for (std::size_t i = 0; i < count; ++i) {
                plan.shard = Shard{i, count};
                const IndexRange senders =
                    fanout ? plan.publisher_range() : plan.connection_range();
                CHECK(plan.local_senders() == senders.size());
                connections += plan.connection_range().size();
                for (std::size_t s = senders.begin; s < senders.end; ++s) {
                    // A sender numbers its messages 0, 1, ... quota - 1 in its stamps.
                    for (std::uint64_t q = 0; q < plan.quota(s); ++q) {
                        REQUIRE(stamps.emplace(s, q).second);
                    }
                    messages += plan.quota(s);
                }
            }
            CHECK(messages == 1003);
            CHECK(stamps.size() == 1003);
            CHECK(connections == 10);
        }
    }
}

TEST_CASE("parse_shard") {
    CHECK(parse_shard("0/1").value() == Shard{0, 1});
    CHECK(parse_shard("3/4").value() == Shard{3, 4});
    for (const char* bad : {"", "4/4", "1", "/4", "1/", "a/b", "-1/4", "1/0", "1/4x", " 1/4"}) {
        CAPTURE(bad);
        auto shard = parse_shard(bad);
        REQUIRE_FALSE(shard);
        CHECK(shard.error().code == rtx::core::ExitCode::usage);
        CHECK(shard.error().message.find("--shard") != std::string::npos);
    }
    CHECK(shard_text(Shard{2, 5}) == "2/5");
}

TEST_CASE("parse_start_at: RFC 3339 times and offsets from now") {
    using namespace std::chrono;
    const auto now = system_clock::time_point{seconds{1'800'000'000}};
    CHECK(parse_start_at("+5s", now).value() == now + seconds{5});
    CHECK(parse_start_at("+250ms", now).value() == now + milliseconds{250});
    const auto utc = parse_start_at("2026-12-07T03:00:00Z", now).value();
    CHECK(duration_cast<seconds>(utc.time_since_epoch()).count() == 1796612400);
    CHECK(parse_start_at("2026-12-07T04:00:00+01:00", now).value() == utc);
    CHECK(parse_start_at("2026-12-06T22:30:00-04:30", now).value() == utc);
    CHECK(parse_start_at("2026-12-07t03:00:00.250z", now).value() == utc + milliseconds{250});
    CHECK(format_rfc3339(utc + milliseconds{250}) == "2026-12-07T03:00:00.250Z");
    CHECK(parse_start_at(format_rfc3339(utc + milliseconds{7}), now).value() ==
          utc + milliseconds{7});
    for (const char* bad : {"", "+", "+5x", "2026-12-07", "2026-12-07T03:00:00",
                            "2026-13-07T03:00:00Z", "2026-02-30T03:00:00Z", "2026-12-07T24:00:00Z",
                            "2026-12-07T03:00:00.Z", "2026-12-07T03:00:00+0100", "tomorrow"}) {
        CAPTURE(bad);
        auto start = parse_start_at(bad, now);
        REQUIRE_FALSE(start);
        CHECK(start.error().code == rtx::core::ExitCode::usage);
    }
}

TEST_CASE("shared_run_id: every shard of one test gets the same id, another start another") {
    using namespace std::chrono;
    const system_clock::time_point start{milliseconds{1'796'000'000'250}};
    const auto id = shared_run_id(start, 4);
    CHECK(id <= 0xffff);
    CHECK(shared_run_id(start, 4) == id); // what each of the 4 processes computes
    CHECK(shared_run_id(start + milliseconds{1}, 4) != id);
    CHECK(shared_run_id(start, 3) != id);
}
