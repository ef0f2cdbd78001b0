// Tests for bench/merge.hpp: merging the reports of the shards of one test is exact, joins
// the timelines on wall-clock seconds, recomputes fan-out loss and refuses other tests.
#include "bench/merge.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <vector>

using namespace rtx::bench;

namespace {

Report shard_report(std::size_t index, std::size_t count) {
    Report report;
    report.protocol = "ws";
    report.pattern = "echo";
    report.load_model = "open";
    report.target = "ws://127.0.0.1:9000/echo";
    report.arrival = "uniform";
    report.rate = 100;
    report.message_size = 64;
    report.connections = 5;
    report.threads = 1;
    report.duration_seconds = 3;
    report.messages_sent = 300;
    report.messages_received = 299;
    report.lost = 1;
    report.errors.reset = 1;
    report.shard = std::to_string(index) + "/" + std::to_string(count);
    report.started_at = 1'800'000'000.0;
    return report;
}

} // namespace

TEST_CASE("merge_shards: one stream of values split over k shards merges into its histogram") {
    for (std::size_t k : {1UL, 2UL, 3UL, 7UL}) {
        CAPTURE(k);
        std::mt19937_64 random(42 + k);
        std::lognormal_distribution<double> latency(7.0, 1.5); // ~1 ms, long tail
        Histogram whole;
        Histogram whole_connect;
        std::vector<Report> shards;
        for (std::size_t i = 0; i < k; ++i) {
            shards.push_back(shard_report(i, k));
        }
        for (int n = 0; n < 20000; ++n) {
            const auto value = static_cast<std::uint64_t>(latency(random)) + 1;
            whole.record(value);
            shards[random() % k].latency.record(value);
            if (n % 10 == 0) {
                whole_connect.record(value * 3);
                shards[random() % k].connect_time.record(value * 3);
            }
        }
        whole.record(Histogram::k_highest_us + 5); // a saturated sample in one shard
        shards[0].latency.record(Histogram::k_highest_us + 5);
        auto merged = merge_shards(shards);
        REQUIRE(merged);
        const Histogram& got = merged->latency;
        REQUIRE(got.bucket_count() == whole.bucket_count());
        for (std::size_t b = 0; b < whole.bucket_count(); ++b) {
            REQUIRE(got.bucket_count_at(b) == whole.bucket_count_at(b));
        }
        CHECK(got == whole);
        CHECK(merged->connect_time == whole_connect);
        for (double p : {0.0, 1.0, 25.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
            CHECK(got.value_at_percentile(p) == whole.value_at_percentile(p));
        }
        CHECK(got.min() == whole.min());
        CHECK(got.max() == whole.max());
        CHECK(got.mean() == doctest::Approx(whole.mean()));
        CHECK(merged->connections == 5 * k);
        CHECK(merged->messages_sent == 300 * k);
        CHECK(merged->lost == k);
        CHECK(merged->errors.reset == k);
        CHECK(merged->rate == doctest::Approx(100.0 * static_cast<double>(k)));
        CHECK(merged->shard.empty());
        CHECK(merged->shards.size() == k);
    }
}

TEST_CASE("merge_shards: refuses reports of different tests") {
    auto refused = [](Report other, std::string_view what) {
        auto merged = merge_shards({shard_report(0, 2), std::move(other)});
        REQUIRE_FALSE(merged);
        CHECK(merged.error().code == rtx::core::ExitCode::usage);
        CHECK(merged.error().message.find(what) != std::string::npos);
    };
    Report other = shard_report(1, 2);
    other.protocol = "tcp";
    refused(other, "protocol");
    other = shard_report(1, 2);
    other.pattern = "fanout";
    refused(other, "pattern");
    other = shard_report(1, 2);
    other.message_size = 128;
    refused(other, "message size");
    other = shard_report(1, 2);
    other.load_model = "closed";
    refused(other, "load model");
    refused(shard_report(0, 2), "shard 0/2 appears twice");
    refused(shard_report(1, 3), "different splits");
    CHECK_FALSE(merge_shards({}));
}

TEST_CASE("merge_shards: timelines are joined on wall-clock seconds") {
    Report a = shard_report(0, 2);
    Report b = shard_report(1, 2);
    b.started_at = a.started_at + 2.2; // began 2 s later: its second 1 is a's second 3
    a.timeline = {Interval{1, 10, 10, 0, 5, 100, 200}, Interval{3, 10, 10, 0, 5, 100, 200}};
    b.timeline = {Interval{1, 7, 7, 1, 5, 300, 400}};
    auto merged = merge_shards({a, b});
    REQUIRE(merged);
    REQUIRE(merged->timeline.size() == 2);
    CHECK(merged->timeline[0] == Interval{1, 10, 10, 0, 5, 100, 200});
    CHECK(merged->timeline[1] == Interval{3, 17, 17, 1, 10, 300, 400});
    CHECK(merged->started_at == a.started_at);
}

TEST_CASE("merge_shards: fan-out loss counts every shard's publishes for every subscriber") {
    // Two topics; shard 0 publishes 10 to topic 0 and has 3 subscribers on it, shard 1
    // publishes 5 to topic 1 and has 1 subscriber on topic 0 and 2 on topic 1.
    Report a = shard_report(0, 2);
    Report b = shard_report(1, 2);
    for (Report* r : {&a, &b}) {
        r->pattern = "fanout";
        r->lost = 0; // unknown in a shard
    }
    a.acked_per_topic = {10, 0};
    a.subscribers_per_topic = {3, 0};
    b.acked_per_topic = {0, 5};
    b.subscribers_per_topic = {1, 2};
    a.messages_received = 30;     // topic 0: 10 x 3, all there
    b.messages_received = 10 + 8; // topic 0: 10 x 1; topic 1: 8 of 5 x 2
    auto merged = merge_shards({a, b});
    REQUIRE(merged);
    CHECK(merged->lost == 2); // 10 x 4 + 5 x 2 = 50 expected, 48 received
    CHECK(merged->acked_per_topic == std::vector<std::uint64_t>{10, 5});
    CHECK(merged->subscribers_per_topic == std::vector<std::uint64_t>{4, 2});
    a.shared_subscription = b.shared_subscription = true; // one delivery per message
    a.messages_received = 10;
    b.messages_received = 4;
    merged = merge_shards({a, b});
    REQUIRE(merged);
    CHECK(merged->lost == 1);
}

TEST_CASE("the shard fields survive the JSON report") {
    Report report = shard_report(2, 3);
    report.pattern = "fanout";
    report.acked_per_topic = {4, 5};
    report.subscribers_per_topic = {1, 0};
    report.shared_subscription = true;
    report.shards = {ShardStatus{"0/3", "ok"}, ShardStatus{"1/3", "killed by SIGKILL"}};
    auto parsed = parse_report_json(report_to_json_text(report));
    REQUIRE(parsed);
    CHECK(*parsed == report);
    // A report written before these fields still reads.
    auto old = parse_report_json(R"({"format":"rtx-bench-report","version":1})");
    CHECK_FALSE(old); // (missing required fields, not the new ones)
    CHECK(old.error().message.find("shard") == std::string::npos);
}
