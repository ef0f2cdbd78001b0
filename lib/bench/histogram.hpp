#pragma once

#include "core/error.hpp"

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace rtx::bench {

/// A latency histogram in the HdrHistogram layout (log-linear buckets): microsecond values
/// from 1 us to 1 h with 3 significant digits, i.e. any recorded value is reported within
/// 0.1% of itself. Values above 1 h are clamped into one extra "saturated" slot rather than
/// dropped, so the count of samples stays honest.
///
/// Every statistic (min, max, mean, percentiles) is derived from the bucket counts alone, as
/// HdrHistogram does after decoding: a histogram rebuilt from nonzero_buckets() is equal to
/// the original, and merging the histograms of many workers gives exactly the histogram of
/// all their samples.
///
/// Not thread-safe: each worker thread records into its own and they are merged at the end.
/// The counts (~190 KB) are allocated once in the constructor; record() never allocates.
class Histogram {
public:
    static constexpr std::uint64_t k_lowest_us = 1;
    static constexpr std::uint64_t k_highest_us = 3'600'000'000; ///< 1 h.
    static constexpr int k_significant_digits = 3;

    Histogram();

    /// Adds `count` samples of `value_us`; values above k_highest_us count as saturated.
    void record(std::uint64_t value_us, std::uint64_t count = 1) noexcept;
    /// HdrHistogram's recordValueWithExpectedInterval: records `value_us` and, when it is
    /// longer than the expected interval between samples, also the samples a stalled
    /// closed-loop sender failed to send (value - interval, value - 2*interval, ... down to
    /// the interval). Corrects coordinated omission after the fact for closed models.
    /// An interval of 0 records the value alone. Runs in time bounded by the bucket count.
    void record_corrected(std::uint64_t value_us, std::uint64_t expected_interval_us) noexcept;
    /// Adds every sample of `other`.
    void merge(const Histogram& other) noexcept;
    /// Forgets every sample (keeps the allocation).
    void reset() noexcept;

    /// Number of samples, saturated ones included.
    std::uint64_t count() const { return m_total; }
    /// Lowest-equivalent value of the lowest non-empty bucket; 0 when empty.
    std::uint64_t min() const;
    /// Highest-equivalent value of the highest non-empty bucket (k_highest_us when any sample
    /// saturated); 0 when empty.
    std::uint64_t max() const;
    /// Mean of the bucket midpoints weighted by their counts; 0 when empty.
    double mean() const;
    /// Samples recorded above k_highest_us.
    std::uint64_t saturated() const;

    /// The value at `percentile` (0..100, clamped): the highest-equivalent value of the
    /// bucket holding the sample of rank ceil(percentile/100 * count) (at least rank 1),
    /// as HdrHistogram's getValueAtPercentile. 0 when empty.
    std::uint64_t value_at_percentile(double percentile) const;

    /// Number of slots, the saturated slot (the last one) included. For reports.
    std::size_t bucket_count() const { return m_counts.size(); }
    /// Samples in slot `index` (< bucket_count()).
    std::uint64_t bucket_count_at(std::size_t index) const { return m_counts[index]; }
    /// Highest-equivalent value of slot `index`; k_highest_us for the saturated slot.
    std::uint64_t bucket_value(std::size_t index) const;

    /// The smallest and largest values that share `value_us`'s bucket (value_us <=
    /// k_highest_us). Two values are "equivalent" when they land in the same bucket.
    static std::uint64_t lowest_equivalent_value(std::uint64_t value_us) noexcept;
    static std::uint64_t highest_equivalent_value(std::uint64_t value_us) noexcept;

    /// The non-empty slots as (index, count), ascending: the exact, compact serialised form.
    std::vector<std::pair<std::uint32_t, std::uint64_t>> nonzero_buckets() const;
    /// The inverse of nonzero_buckets(). Fails (ExitCode::usage) on an index out of range,
    /// a repeated index or a count total that overflows.
    static core::Result<Histogram>
    from_buckets(const std::vector<std::pair<std::uint32_t, std::uint64_t>>& buckets);

    bool operator==(const Histogram& other) const;

private:
    std::vector<std::uint64_t> m_counts; ///< HdrHistogram counts array + the saturated slot.
    std::uint64_t m_total = 0;
    std::size_t m_min_index; ///< Lowest non-empty slot; bucket_count() when empty.
    std::size_t m_max_index; ///< Highest non-empty slot; 0 when empty.

    void add(std::size_t index, std::uint64_t count) noexcept;
};

} // namespace rtx::bench
