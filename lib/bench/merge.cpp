#include "bench/merge.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace rtx::bench {

namespace {

core::Error refuse(std::string message) {
    return core::Error{core::ExitCode::usage, "cannot merge bench reports: " + std::move(message)};
}

/// Refuses the same shard twice or shards of different splits ("1/3" and "0/4").
std::optional<core::Error> check_shards(const std::vector<Report>& reports) {
    std::set<std::string> seen;
    std::string count;
    for (const Report& report : reports) {
        if (report.shard.empty()) {
            continue;
        }
        const std::string of = report.shard.substr(report.shard.find('/') + 1);
        if (!count.empty() && of != count) {
            return refuse(fmt::format("shards of different splits (of {} and of {})", count, of));
        }
        count = of;
        if (!seen.insert(report.shard).second) {
            return refuse(fmt::format("shard {} appears twice", report.shard));
        }
    }
    return std::nullopt;
}

/// Sums `from` into `into` element by element (growing it).
void add_counts(std::vector<std::uint64_t>& into, const std::vector<std::uint64_t>& from) {
    into.resize(std::max(into.size(), from.size()), 0);
    for (std::size_t i = 0; i < from.size(); ++i) {
        into[i] += from[i];
    }
}

} // namespace

core::Result<Report> merge_shards(std::vector<Report> reports, std::vector<ShardStatus> statuses) {
    if (auto error = check_shards(reports)) {
        return *error;
    }
    double earliest = 0;
    for (const Report& report : reports) {
        if (report.started_at > 0 && (earliest == 0 || report.started_at < earliest)) {
            earliest = report.started_at;
        }
    }
    const bool ok_by_default = statuses.empty();
    std::vector<std::uint64_t> acked;
    std::vector<std::uint64_t> subscribers;
    bool per_topic = !reports.empty();
    for (Report& report : reports) {
        if (report.started_at > 0) {
            const double shift = std::round(report.started_at - earliest);
            for (Interval& interval : report.timeline) {
                interval.t_seconds += shift;
            }
        }
        per_topic = per_topic && !report.subscribers_per_topic.empty();
        add_counts(acked, report.acked_per_topic);
        add_counts(subscribers, report.subscribers_per_topic);
        if (ok_by_default) {
            statuses.push_back(ShardStatus{report.shard.empty() ? "?" : report.shard, "ok"});
        }
    }
    auto merged = merge_reports(reports);
    if (!merged) {
        return merged;
    }
    Report& report = merged.value();
    report.shard.clear();
    report.started_at = earliest;
    report.shards = std::move(statuses);
    if (per_topic && report.pattern == "fanout") {
        std::uint64_t expected = 0;
        for (std::size_t t = 0; t < acked.size() && t < subscribers.size(); ++t) {
            const std::uint64_t per_message = report.shared_subscription
                                                  ? std::min<std::uint64_t>(subscribers[t], 1)
                                                  : subscribers[t];
            expected += acked[t] * per_message;
        }
        report.lost = expected > report.messages_received ? expected - report.messages_received : 0;
        report.acked_per_topic = std::move(acked);
        report.subscribers_per_topic = std::move(subscribers);
    }
    return merged;
}

} // namespace rtx::bench
