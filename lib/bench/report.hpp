#pragma once

#include "bench/histogram.hpp"
#include "core/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtx::bench {

/// Failures during a run, by kind. Counted, never fatal (a load test reports them).
struct ErrorCounts {
    std::uint64_t refused = 0;        ///< Connect refused.
    std::uint64_t timeout = 0;        ///< Connect or reply timeout.
    std::uint64_t reset = 0;          ///< Connection reset / dropped.
    std::uint64_t protocol = 0;       ///< The peer broke the protocol.
    std::uint64_t closed_by_peer = 0; ///< The peer closed while the run was going.
    std::uint64_t other = 0;
    std::uint64_t total() const {
        return refused + timeout + reset + protocol + closed_by_peer + other;
    }
    bool operator==(const ErrorCounts&) const = default;
};

/// One second of a run, for the live line and the charts.
struct Interval {
    double t_seconds = 0; ///< End of the interval, seconds since the run started.
    std::uint64_t sent = 0;
    std::uint64_t received = 0;
    std::uint64_t errors = 0;
    std::uint64_t connections_up = 0; ///< Open at the end of the interval.
    std::uint64_t p50_us = 0;         ///< Latency of the replies received in the interval.
    std::uint64_t p99_us = 0;
    /// --stages / --rate-stages: the stage at the end of the interval (from 1; 0: none) and
    /// the targets then.
    std::uint64_t stage = 0;
    std::uint64_t target_connections = 0;
    double target_rate = 0;
    bool operator==(const Interval&) const = default;
};

/// How one shard of a split test ended (`rtx bench --procs`, `rtx bench merge`).
struct ShardStatus {
    std::string shard;  ///< "I/N", or the report file it came from.
    std::string status; ///< "ok", "exit 3", "killed by SIGKILL", "no report", ...
    bool operator==(const ShardStatus&) const = default;
};

/// Everything `rtx bench` measured; one per worker, merged into one for the run.
struct Report {
    std::string protocol;          ///< URL scheme: "ws", "tcp", "mqtt", ...
    std::string pattern;           ///< "echo" or "fanout".
    std::string load_model;        ///< "closed" (send on reply) or "open" (fixed rate).
    std::string target;            ///< The URL benchmarked.
    double rate = 0;               ///< Open model: messages/s asked for (all senders); 0: closed.
    std::string arrival;           ///< Open model: "uniform" or "poisson"; empty for closed.
    std::uint64_t connections = 0; ///< Connections attempted.
    std::uint64_t connections_failed = 0; ///< Of those, never established.
    std::uint64_t threads = 0;
    /// The ramp's pace: connections per second asked for; 0: none (see connect_window).
    double connect_rate = 0;
    /// Without a connect rate: connection attempts in flight at most (the default ramp);
    /// 0 with connect_rate 0: all at once.
    std::uint64_t connect_window = 0;
    /// From the start of the run until every connection's first attempt ended.
    double ramp_seconds = 0;
    std::uint64_t publishers = 0;  ///< fanout only.
    std::uint64_t subscribers = 0; ///< fanout only.
    double duration_seconds = 0;   ///< Measured time (warm-up excluded).
    std::uint64_t messages_sent = 0;
    std::uint64_t messages_received = 0;
    std::uint64_t bytes_sent = 0;
    std::uint64_t bytes_received = 0;
    std::uint64_t lost = 0;       ///< Sent but never received (fanout: per subscriber).
    std::uint64_t duplicates = 0; ///< fanout: received more than once by one subscriber.
    std::uint64_t reordered = 0;  ///< fanout: received out of publish order.
    ErrorCounts errors;
    Histogram latency;              ///< Microseconds, from the intended send time (open model).
    Histogram connect_time;         ///< Microseconds, from connect start to ready for messages.
    std::vector<Interval> timeline; ///< One per second, ascending t_seconds.
    std::uint64_t message_size = 0; ///< Payload bytes per message.
    /// fanout: gaps between a subscriber's consecutive messages, microseconds.
    Histogram gap;
    /// fanout: messages each subscriber received (one sample per subscriber).
    Histogram per_subscriber;
    std::uint64_t reconnects = 0; ///< Connections that opened again after a drop.
    /// Subscribe-only: messages received with no time to measure latency from.
    std::uint64_t untimed = 0;
    std::uint64_t checks_passed = 0; ///< --check: received messages that passed every check.
    std::uint64_t checks_failed = 0; ///< --check: received messages that failed one.
    /// --shard I/N: "I/N"; empty for a whole test (one process, or merged shards).
    std::string shard;
    /// Wall-clock start of the run (its timeline's zero), Unix seconds; 0: unknown. Merging
    /// joins the timelines of shards on this clock.
    double started_at = 0;
    /// Fan-out: publishes acknowledged and subscribers, per topic. A sharded subscriber
    /// receives the publishes of every shard, so loss is only known once the shards are
    /// merged: sum over topics of acked x subscribers (x 1 with a shared subscription)
    /// minus the deliveries received.
    std::vector<std::uint64_t> acked_per_topic;
    std::vector<std::uint64_t> subscribers_per_topic;
    bool shared_subscription = false;
    /// Merged reports: how each shard ended (a crashed shard is listed, never dropped).
    std::vector<ShardStatus> shards;
    bool operator==(const Report&) const = default;
};

/// The error rate the --max-error-rate threshold checks, a fraction in [0, 1]:
///
///   failures = max(errors.total(), connections_failed) + lost
///   attempts = connections + max(messages_sent, messages_received + lost)
///
/// A connection that never opened has its failed attempts among the errors already
/// (refused, timeout, ...), so it is not counted a second time; connections_failed counts
/// only where no error was recorded for it (the run ended during its attempt).
///   error_rate = failures / attempts  (clamped to 1; 0 when nothing was attempted and
///                                      nothing failed, 1 when something failed anyway)
///
/// messages_received + lost is the number of deliveries expected, which for fanout is
/// messages_sent times the subscribers; for echo it is at most messages_sent.
double error_rate(const Report& report);

/// The share of checked messages that failed a --check (0 when none were checked).
double check_fail_rate(const Report& report);

/// Received messages per second over the measured duration (0 if the duration is 0).
double received_per_second(const Report& report);
double sent_per_second(const Report& report);

/// The report as one JSON document (no trailing newline). Histograms are stored as their
/// exact sparse buckets plus informative percentiles; derived figures (error_rate, rates)
/// are included for scripts and ignored when parsing.
std::string report_to_json_text(const Report& report);
/// Parses report_to_json_text()'s output. Malformed input fails with ExitCode::usage and a
/// one-line reason naming the offending field.
core::Result<Report> parse_report_json(std::string_view text);

/// Combines the reports of workers of one run into the report of the run: counts, errors,
/// connections, threads, rates and histograms are summed exactly; the duration is the
/// longest; timeline intervals with the same t_seconds (to the millisecond) are summed, and
/// their p50/p99 are the worst worker's (per-second percentiles cannot be merged exactly;
/// the run's histogram is). Fails (ExitCode::usage) on an empty list or reports that
/// disagree on protocol, pattern, load model, arrival, target or message size.
core::Result<Report> merge_reports(const std::vector<Report>& reports);

/// "850us", "1.25ms", "12.3ms", "1.50s": 3 significant digits with a unit.
std::string format_latency_us(std::uint64_t us);

/// The final human summary (several lines, ends with a newline): load model, connections,
/// duration, messages/s and bytes/s both ways, latency p50 p90 p99 p99.9 p99.99 max,
/// connect-time percentiles, errors by kind, and loss/duplicates/reordering for fanout.
std::string render_summary(const Report& report);

/// The once-per-second TTY line for one interval (no newline), rates computed over
/// `interval_seconds`.
std::string render_live_line(const Interval& interval, double interval_seconds = 1.0);

/// Pass/fail limits (`rtx bench --max-*`); unset limits are not checked.
struct Thresholds {
    std::optional<std::uint64_t> max_p50_us;
    std::optional<std::uint64_t> max_p99_us;
    std::optional<std::uint64_t> max_p999_us;
    std::optional<std::uint64_t> max_latency_us; ///< The histogram's max.
    std::optional<std::uint64_t> max_connect_p99_us;
    std::optional<double> max_error_rate;          ///< Fraction, see error_rate().
    std::optional<double> min_received_per_second; ///< Throughput floor.
    /// Fraction of checked messages that failed a --check, at most.
    std::optional<double> max_check_fail_rate;
};

/// One human line per breached limit ("latency p99 12.3ms > limit 10ms"); empty = pass.
std::vector<std::string> breaches(const Report& report, const Thresholds& thresholds);

} // namespace rtx::bench
