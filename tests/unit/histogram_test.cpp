// Tests for bench/histogram.hpp: the latency histogram of `rtx bench`, checked against a
// sorted list of the same samples.
#include "bench/histogram.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

using rtx::bench::Histogram;

namespace {

// The sample of rank ceil(p/100 * n) (at least 1) of a sorted list: the definition the
// histogram approximates to 3 significant digits.
std::uint64_t reference_percentile(const std::vector<std::uint64_t>& sorted, double percentile) {
    auto rank = static_cast<std::size_t>(
        std::ceil(percentile / 100.0 * static_cast<double>(sorted.size()) * (1 - 1e-15)));
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
}

std::vector<std::uint64_t> random_latencies(std::size_t n, std::uint64_t seed) {
    // Log-uniform from 1 us to ~100 s, the spread real latencies cover.
    std::mt19937_64 random(seed);
    std::uniform_real_distribution<double> exponent(0, 8);
    std::vector<std::uint64_t> values;
    for (std::size_t i = 0; i < n; ++i) {
        values.push_back(static_cast<std::uint64_t>(std::pow(10.0, exponent(random))));
    }
    return values;
}

} // namespace

TEST_CASE("Histogram: empty") {
    Histogram histogram;
    CHECK(histogram.count() == 0);
    CHECK(histogram.min() == 0);
    CHECK(histogram.max() == 0);
    CHECK(histogram.mean() == 0);
    CHECK(histogram.saturated() == 0);
    CHECK(histogram.value_at_percentile(99) == 0);
    CHECK(histogram.nonzero_buckets().empty());
    CHECK(histogram == Histogram());
}

TEST_CASE("Histogram: values below 2048 us are exact") {
    Histogram histogram;
    for (std::uint64_t v = 1; v <= 2047; ++v) {
        histogram.record(v);
    }
    CHECK(histogram.count() == 2047);
    CHECK(histogram.min() == 1);
    CHECK(histogram.max() == 2047);
    CHECK(histogram.mean() == doctest::Approx(1024));
    CHECK(histogram.value_at_percentile(50) == 1024);
    CHECK(histogram.value_at_percentile(100) == 2047);
    CHECK(histogram.value_at_percentile(0) == 1);
    CHECK(histogram.value_at_percentile(-5) == 1);
    CHECK(histogram.value_at_percentile(250) == 2047);
}

TEST_CASE("Histogram: record with a count") {
    Histogram once;
    once.record(1500, 3);
    once.record(100);
    Histogram each;
    for (int i = 0; i < 3; ++i) {
        each.record(1500);
    }
    each.record(100);
    CHECK(once == each);
    CHECK(once.count() == 4);
    CHECK(once.value_at_percentile(25) == 100);
    CHECK(once.value_at_percentile(26) == 1500);
    Histogram none;
    none.record(42, 0);
    CHECK(none == Histogram());
}

TEST_CASE("Histogram: equivalent values are within 3 significant digits") {
    for (std::uint64_t v :
         std::vector<std::uint64_t>{2048ull, 2049ull, 12'345ull, 999'999ull, 1'000'000ull,
                                    123'456'789ull, 3'599'999'999ull, Histogram::k_highest_us}) {
        CAPTURE(v);
        std::uint64_t low = Histogram::lowest_equivalent_value(v);
        std::uint64_t high = Histogram::highest_equivalent_value(v);
        CHECK(low <= v);
        CHECK(v <= high);
        CHECK(static_cast<double>(high - low) <= static_cast<double>(v) / 1000.0);
    }
    CHECK(Histogram::highest_equivalent_value(Histogram::k_highest_us) == Histogram::k_highest_us);
}

TEST_CASE("Histogram: percentiles match a sorted reference") {
    std::vector<std::uint64_t> values = random_latencies(100'000, 7);
    Histogram histogram;
    for (std::uint64_t v : values) {
        histogram.record(v);
    }
    std::sort(values.begin(), values.end());
    CHECK(histogram.count() == values.size());
    CHECK(histogram.min() == Histogram::lowest_equivalent_value(values.front()));
    CHECK(histogram.max() == Histogram::highest_equivalent_value(values.back()));
    for (double p : {0.0, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 99.999, 100.0}) {
        CAPTURE(p);
        std::uint64_t expected = reference_percentile(values, p);
        // HdrHistogram semantics exactly: the top of the reference sample's bucket...
        CHECK(histogram.value_at_percentile(p) == Histogram::highest_equivalent_value(expected));
        // ... which is within 0.1% of the true value.
        CHECK(static_cast<double>(histogram.value_at_percentile(p)) ==
              doctest::Approx(static_cast<double>(expected)).epsilon(0.001));
    }
    double exact_mean = 0;
    for (std::uint64_t v : values) {
        exact_mean += static_cast<double>(v);
    }
    exact_mean /= static_cast<double>(values.size());
    CHECK(histogram.mean() == doctest::Approx(exact_mean).epsilon(0.001));
}

TEST_CASE("Histogram: percentile ranks on small counts") {
    Histogram histogram;
    for (std::uint64_t v = 1; v <= 100; ++v) {
        histogram.record(v);
    }
    // 99/100*100 is 99.00000000000001 in floating point; the rank is still 99.
    CHECK(histogram.value_at_percentile(99) == 99);
    CHECK(histogram.value_at_percentile(99.5) == 100);
    CHECK(histogram.value_at_percentile(50) == 50);
    CHECK(histogram.value_at_percentile(0.5) == 1);
    CHECK(histogram.value_at_percentile(1) == 1);
    CHECK(histogram.value_at_percentile(1.01) == 2);
}

TEST_CASE("Histogram: counts near 2^64") {
    auto huge = Histogram::from_buckets({{10, UINT64_MAX - 1}, {20, 1}});
    REQUIRE(huge.ok());
    CHECK(huge->value_at_percentile(100) == 20);
    CHECK(huge->value_at_percentile(50) == 10);
}

TEST_CASE("Histogram: values above 1 h are clamped and counted as saturated") {
    Histogram histogram;
    histogram.record(10);
    histogram.record(Histogram::k_highest_us);
    histogram.record(Histogram::k_highest_us + 1);
    histogram.record(UINT64_MAX, 2);
    CHECK(histogram.count() == 5);
    CHECK(histogram.saturated() == 3);
    CHECK(histogram.max() == Histogram::k_highest_us);
    CHECK(histogram.value_at_percentile(100) == Histogram::k_highest_us);
    CHECK(histogram.value_at_percentile(20) == 10);
    CHECK(histogram.bucket_value(histogram.bucket_count() - 1) == Histogram::k_highest_us);
    CHECK(histogram.bucket_count_at(histogram.bucket_count() - 1) == 3);

    Histogram only_saturated;
    only_saturated.record(UINT64_MAX);
    CHECK(only_saturated.min() == Histogram::k_highest_us);
    CHECK(only_saturated.max() == Histogram::k_highest_us);
    CHECK(only_saturated.mean() == doctest::Approx(3.6e9));
}

TEST_CASE("Histogram: value 0 is kept") {
    Histogram histogram;
    histogram.record(0);
    CHECK(histogram.count() == 1);
    CHECK(histogram.max() == 0);
    CHECK(histogram.value_at_percentile(50) == 0);
}

TEST_CASE("Histogram: merge equals recording into one") {
    std::vector<std::uint64_t> values = random_latencies(20'000, 11);
    Histogram all;
    Histogram parts[3];
    for (std::size_t i = 0; i < values.size(); ++i) {
        all.record(values[i]);
        parts[i % 3].record(values[i]);
    }
    parts[1].record(UINT64_MAX);
    all.record(UINT64_MAX);
    Histogram merged;
    for (const Histogram& part : parts) {
        merged.merge(part);
    }
    merged.merge(Histogram());
    CHECK(merged == all);
    CHECK(merged.count() == all.count());
    CHECK(merged.saturated() == 1);
    CHECK(merged.value_at_percentile(99.9) == all.value_at_percentile(99.9));
    CHECK(merged.min() == all.min());
}

TEST_CASE("Histogram: reset") {
    Histogram histogram;
    histogram.record(5);
    histogram.record(5'000'000);
    histogram.record(UINT64_MAX);
    histogram.reset();
    CHECK(histogram == Histogram());
    CHECK(histogram.count() == 0);
    CHECK(histogram.saturated() == 0);
    histogram.record(7);
    CHECK(histogram.min() == 7);
    CHECK(histogram.max() == 7);
}

TEST_CASE("Histogram: nonzero_buckets and from_buckets round trip") {
    Histogram histogram;
    for (std::uint64_t v : random_latencies(5'000, 3)) {
        histogram.record(v);
    }
    histogram.record(0);
    histogram.record(UINT64_MAX, 4);
    auto buckets = histogram.nonzero_buckets();
    REQUIRE(!buckets.empty());
    CHECK(std::is_sorted(buckets.begin(), buckets.end()));
    CHECK(buckets.front() == std::pair<std::uint32_t, std::uint64_t>{0, 1});
    CHECK(buckets.back().first == histogram.bucket_count() - 1);
    auto rebuilt = Histogram::from_buckets(buckets);
    REQUIRE(rebuilt.ok());
    CHECK(*rebuilt == histogram);
    CHECK(rebuilt->saturated() == 4);
    CHECK(rebuilt->mean() == histogram.mean());

    SUBCASE("index out of range") {
        auto bad =
            Histogram::from_buckets({{static_cast<std::uint32_t>(histogram.bucket_count()), 1}});
        REQUIRE(!bad.ok());
        CHECK(bad.error().code == rtx::core::ExitCode::usage);
    }
    SUBCASE("repeated index") {
        CHECK(!Histogram::from_buckets({{5, 1}, {5, 2}}).ok());
    }
    SUBCASE("count overflow") {
        CHECK(!Histogram::from_buckets({{5, UINT64_MAX}, {6, 1}}).ok());
    }
    SUBCASE("zero counts are ignored") {
        auto zero = Histogram::from_buckets({{5, 0}});
        REQUIRE(zero.ok());
        CHECK(*zero == Histogram());
    }
}

TEST_CASE("Histogram: bucket_value is the top of each bucket") {
    Histogram histogram;
    histogram.record(1'000'000);
    auto buckets = histogram.nonzero_buckets();
    REQUIRE(buckets.size() == 1);
    CHECK(histogram.bucket_count_at(buckets[0].first) == 1);
    CHECK(histogram.bucket_value(buckets[0].first) ==
          Histogram::highest_equivalent_value(1'000'000));
}

TEST_CASE("Histogram: record_corrected adds the samples a stalled sender missed") {
    auto naive = [](std::uint64_t value, std::uint64_t interval) {
        Histogram histogram;
        histogram.record(value);
        if (interval == 0) {
            return histogram;
        }
        for (std::uint64_t missing = value > interval ? value - interval : 0;
             missing >= interval && value > interval; missing -= interval) {
            histogram.record(missing);
        }
        return histogram;
    };
    SUBCASE("HdrHistogram's example") {
        Histogram histogram;
        histogram.record_corrected(10'000, 1'000); // 10 ms reply at one message per ms
        CHECK(histogram.count() == 10);
        CHECK(histogram.value_at_percentile(50) == Histogram::highest_equivalent_value(5'000));
        CHECK(histogram == naive(10'000, 1'000));
    }
    SUBCASE("matches a per-sample loop") {
        for (auto [value, interval] : {std::pair<std::uint64_t, std::uint64_t>{1'000, 1'000},
                                       {999, 1'000},
                                       {5'000, 0},
                                       {2'000'001, 7},
                                       {123'456'789, 997},
                                       {50'000, 3}}) {
            CAPTURE(value);
            CAPTURE(interval);
            Histogram histogram;
            histogram.record_corrected(value, interval);
            CHECK(histogram == naive(value, interval));
        }
    }
    SUBCASE("values above the range saturate, fast") {
        Histogram histogram;
        // One-microsecond interval and a 2 h stall: 7.2e9 samples, counted per bucket.
        histogram.record_corrected(7'200'000'000, 1);
        CHECK(histogram.count() == 7'200'000'000);
        CHECK(histogram.saturated() == 3'600'000'000); // the 1 h above the range, value included
        CHECK(histogram.min() == 1);
        CHECK(histogram.value_at_percentile(25) ==
              Histogram::highest_equivalent_value(1'800'000'000));
    }
}
