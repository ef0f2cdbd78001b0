#pragma once

#include "bench/report.hpp"
#include "core/error.hpp"

#include <vector>

namespace rtx::bench {

/// Merges the reports of the shards of one test (`rtx bench merge`, `rtx bench --procs`)
/// into the report of the whole test, exactly:
///
/// - counters and errors are summed, and the latency and connect-time histograms merged
///   bucket by bucket (merge_reports), so every percentile is the one a single process
///   recording every sample would report;
/// - the timelines are joined on wall-clock seconds: each shard's is shifted by its
///   started_at minus the earliest one, rounded to the second;
/// - fan-out loss is recomputed from the per-topic publishes and subscribers of all shards
///   (a subscriber of one shard receives every shard's publishes);
/// - reports of different tests (protocol, pattern, load model, arrival, target, message
///   size), of different shard counts, or the same shard twice are refused
///   (ExitCode::usage, one line naming what differs).
///
/// `statuses`, when not empty, becomes the merged report's `shards` (one per shard, a
/// crashed one included); else each report's shard is listed as "ok".
core::Result<Report> merge_shards(std::vector<Report> reports,
                                  std::vector<ShardStatus> statuses = {});

} // namespace rtx::bench
