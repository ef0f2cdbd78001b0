#include "bench/histogram.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace rtx::bench {

namespace {

// The HdrHistogram layout for 3 significant digits and a unit of 1 us: each power-of-two
// "bucket" is split linearly into 1024 sub-buckets (2048 for the first, which holds 0..2047
// exactly), so the width of a sub-bucket is always below 1/1000 of the values in it.
constexpr int k_sub_bucket_half_magnitude = 10;
constexpr std::uint64_t k_sub_bucket_half_count = 1u << k_sub_bucket_half_magnitude;
constexpr std::uint64_t k_sub_bucket_mask = 2 * k_sub_bucket_half_count - 1;
// 64 - unit magnitude (0) - half magnitude - 1.
constexpr int k_leading_zero_count_base = 64 - k_sub_bucket_half_magnitude - 1;

constexpr std::size_t counts_index(std::uint64_t value) {
    int bucket = k_leading_zero_count_base - std::countl_zero(value | k_sub_bucket_mask);
    std::uint64_t sub_bucket = value >> bucket;
    return static_cast<std::size_t>((std::uint64_t(bucket + 1) << k_sub_bucket_half_magnitude) +
                                    sub_bucket - k_sub_bucket_half_count);
}

struct IndexRange {
    std::uint64_t lowest;
    std::uint64_t highest;
};

constexpr IndexRange index_range(std::size_t index) {
    auto bucket = static_cast<int>(index >> k_sub_bucket_half_magnitude) - 1;
    std::uint64_t sub_bucket = (index & (k_sub_bucket_half_count - 1)) + k_sub_bucket_half_count;
    if (bucket < 0) {
        sub_bucket -= k_sub_bucket_half_count;
        bucket = 0;
    }
    std::uint64_t lowest = sub_bucket << bucket;
    std::uint64_t highest = lowest + (std::uint64_t(1) << bucket) - 1;
    // The top bucket reaches a little past 1 h; nothing above 1 h is ever stored in it.
    return {lowest, std::min(highest, Histogram::k_highest_us)};
}

constexpr std::size_t k_regular_slots = counts_index(Histogram::k_highest_us) + 1;
constexpr std::size_t k_saturated_slot = k_regular_slots;

static_assert(counts_index(2047) == 2047 && counts_index(2048) == 2048);
static_assert(index_range(counts_index(123'456)).highest -
                  index_range(counts_index(123'456)).lowest <
              123);

} // namespace

Histogram::Histogram()
    : m_counts(k_regular_slots + 1, 0)
    , m_min_index(m_counts.size())
    , m_max_index(0) {}

void Histogram::add(std::size_t index, std::uint64_t count) noexcept {
    if (count == 0) {
        return;
    }
    m_counts[index] += count;
    m_total += count;
    m_min_index = std::min(m_min_index, index);
    m_max_index = std::max(m_max_index, index);
}

void Histogram::record(std::uint64_t value_us, std::uint64_t count) noexcept {
    add(value_us > k_highest_us ? k_saturated_slot : counts_index(value_us), count);
}

void Histogram::record_corrected(std::uint64_t value_us,
                                 std::uint64_t expected_interval_us) noexcept {
    record(value_us);
    const std::uint64_t interval = expected_interval_us;
    if (interval == 0 || value_us <= interval) {
        return;
    }
    // The missing samples are value - k*interval for k = 1..last, all >= interval. Rather
    // than one record() per sample (3.6e9 of them for a 1 h stall at 1 us), count how many
    // fall into each bucket, walking down from the highest.
    const std::uint64_t last = (value_us - interval) / interval;
    std::uint64_t k = 1;
    if (value_us > k_highest_us) {
        std::uint64_t above = std::min(last, (value_us - k_highest_us - 1) / interval);
        add(k_saturated_slot, above);
        k = above + 1;
    }
    while (k <= last) {
        std::size_t index = counts_index(value_us - k * interval);
        std::uint64_t in_bucket_last =
            std::min(last, (value_us - index_range(index).lowest) / interval);
        add(index, in_bucket_last - k + 1);
        k = in_bucket_last + 1;
    }
}

void Histogram::merge(const Histogram& other) noexcept {
    if (other.m_total == 0) {
        return;
    }
    for (std::size_t i = other.m_min_index; i <= other.m_max_index; ++i) {
        add(i, other.m_counts[i]);
    }
}

void Histogram::reset() noexcept {
    if (m_total != 0) {
        std::fill(m_counts.begin() + static_cast<std::ptrdiff_t>(m_min_index),
                  m_counts.begin() + static_cast<std::ptrdiff_t>(m_max_index) + 1, 0);
    }
    m_total = 0;
    m_min_index = m_counts.size();
    m_max_index = 0;
}

std::uint64_t Histogram::min() const {
    if (m_total == 0) {
        return 0;
    }
    return m_min_index == k_saturated_slot ? k_highest_us : index_range(m_min_index).lowest;
}

std::uint64_t Histogram::max() const {
    return m_total == 0 ? 0 : bucket_value(m_max_index);
}

double Histogram::mean() const {
    if (m_total == 0) {
        return 0;
    }
    // HdrHistogram's "median equivalent" of a bucket: its lowest value plus half its width.
    double sum = 0;
    for (std::size_t i = m_min_index; i <= m_max_index; ++i) {
        if (m_counts[i] == 0) {
            continue;
        }
        double middle = static_cast<double>(k_highest_us);
        if (i != k_saturated_slot) {
            IndexRange range = index_range(i);
            middle = static_cast<double>(range.lowest + (range.highest - range.lowest + 1) / 2);
        }
        sum += middle * static_cast<double>(m_counts[i]);
    }
    return sum / static_cast<double>(m_total);
}

std::uint64_t Histogram::saturated() const {
    return m_counts[k_saturated_slot];
}

std::uint64_t Histogram::value_at_percentile(double percentile) const {
    if (m_total == 0) {
        return 0;
    }
    double clamped = std::clamp(std::isnan(percentile) ? 0.0 : percentile, 0.0, 100.0);
    double fractional_rank = clamped / 100.0 * static_cast<double>(m_total);
    // Shave off the rounding error of p/100*n (99/100*100 is 99.00000000000001, a relative
    // error of a few ulp) so an exact rank is not rounded up to the next sample.
    double rank_real = std::ceil(fractional_rank * (1 - 1e-15));
    // Compared as doubles first: near 2^64 samples the cast itself would overflow.
    std::uint64_t rank = clamped == 100.0 || rank_real >= static_cast<double>(m_total)
                             ? m_total
                             : std::max<std::uint64_t>(1, static_cast<std::uint64_t>(rank_real));
    std::uint64_t seen = 0;
    for (std::size_t i = m_min_index; i <= m_max_index; ++i) {
        seen += m_counts[i];
        if (seen >= rank) {
            return bucket_value(i);
        }
    }
    return bucket_value(m_max_index);
}

std::uint64_t Histogram::bucket_value(std::size_t index) const {
    return index == k_saturated_slot ? k_highest_us : index_range(index).highest;
}

std::uint64_t Histogram::lowest_equivalent_value(std::uint64_t value_us) noexcept {
    return index_range(counts_index(std::min(value_us, k_highest_us))).lowest;
}

std::uint64_t Histogram::highest_equivalent_value(std::uint64_t value_us) noexcept {
    return index_range(counts_index(std::min(value_us, k_highest_us))).highest;
}

std::vector<std::pair<std::uint32_t, std::uint64_t>> Histogram::nonzero_buckets() const {
    std::vector<std::pair<std::uint32_t, std::uint64_t>> buckets;
    if (m_total == 0) {
        return buckets;
    }
    for (std::size_t i = m_min_index; i <= m_max_index; ++i) {
        if (m_counts[i] != 0) {
            buckets.emplace_back(static_cast<std::uint32_t>(i), m_counts[i]);
        }
    }
    return buckets;
}

core::Result<Histogram>
Histogram::from_buckets(const std::vector<std::pair<std::uint32_t, std::uint64_t>>& buckets) {
    Histogram histogram;
    for (const auto& [index, count] : buckets) {
        if (index >= histogram.m_counts.size()) {
            return core::Error{core::ExitCode::usage,
                               fmt::format("histogram bucket index {} out of range (0..{})", index,
                                           histogram.m_counts.size() - 1)};
        }
        if (histogram.m_counts[index] != 0) {
            return core::Error{core::ExitCode::usage,
                               fmt::format("histogram bucket index {} repeated", index)};
        }
        if (count > std::numeric_limits<std::uint64_t>::max() - histogram.m_total) {
            return core::Error{core::ExitCode::usage, "histogram counts overflow"};
        }
        histogram.add(index, count);
    }
    return histogram;
}

bool Histogram::operator==(const Histogram& other) const {
    return m_total == other.m_total && m_counts == other.m_counts;
}

} // namespace rtx::bench
