#pragma once

#include "core/error.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rtx::bench {

/// Which part of a test this process runs: shard `index` of `count` (`--shard I/N`).
/// Every shard is given the same plan (the whole test's --conns, --rate, --publishers,
/// --messages); each runs the connections and publishers of its own contiguous block of
/// global indices, so connection ids, publisher ids (the stamps' sender field) and their
/// sequence numbers never collide across shards and the merged report counts loss,
/// duplicates and reordering exactly.
struct Shard {
    std::size_t index = 0;
    std::size_t count = 1;
    bool sharded() const { return count > 1; }
    bool operator==(const Shard&) const = default;
};

/// A half-open range of global indices [begin, end).
struct IndexRange {
    std::size_t begin = 0;
    std::size_t end = 0;
    std::size_t size() const { return end - begin; }
    bool operator==(const IndexRange&) const = default;
};

/// Shard `shard`'s block of `total` items: [total*i/N, total*(i+1)/N). The blocks of
/// shards 0..N-1 are disjoint, in order and cover [0, total) exactly; their sizes differ by
/// at most one; with N > total some are empty. Pure.
IndexRange shard_range(std::size_t total, const Shard& shard);

/// Shard `shard`'s part of a total rate spread evenly over `total` senders: the rate times
/// its share of the senders (0 when it has none), so the parts add up to the whole.
double shard_rate(double rate, std::size_t total, const Shard& shard);

/// Parses "I/N" (0 <= I < N, N >= 1). Fails with ExitCode::usage and a one-line reason.
core::Result<Shard> parse_shard(std::string_view text);

/// "I/N".
std::string shard_text(const Shard& shard);

/// Parses --start-at: an RFC 3339 time ("2026-12-07T03:00:00Z", "...T03:00:00.250+01:00")
/// or an offset from `now` ("+5s", "+250ms", "+1m"). Fails with ExitCode::usage.
core::Result<std::chrono::system_clock::time_point>
parse_start_at(std::string_view text, std::chrono::system_clock::time_point now);

/// `time` as RFC 3339 in UTC with milliseconds: "2026-12-07T03:00:00.250Z".
std::string format_rfc3339(std::chrono::system_clock::time_point time);

/// The run id every shard of one sharded test stamps its messages with (16 bits, as a
/// process's random one): the same in every shard, or a subscriber would ignore the other
/// shards' publishers and the merge would count their messages as lost. Derived from what
/// all shards share: the start instant (--start-at) and the shard count; two sharded tests
/// with the same start instant share an id, so concurrent tests should start apart. Pure.
std::uint32_t shared_run_id(std::chrono::system_clock::time_point start_at, std::size_t shards);

/// Wall-clock seconds since the Unix epoch, with sub-second precision (reports).
double unix_seconds(std::chrono::system_clock::time_point time);

} // namespace rtx::bench
