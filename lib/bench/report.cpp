#include "bench/report.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

namespace rtx::bench {

namespace {

using nlohmann::json;

constexpr std::string_view k_format = "rtx-bench-report";
constexpr int k_version = 1;

// Percentiles written next to the buckets for people and scripts reading the JSON.
constexpr double k_json_percentiles[] = {50, 75, 90, 99, 99.9, 99.99, 100};

double safe_rate(double count, double seconds) {
    return seconds > 0 ? count / seconds : 0;
}

json histogram_to_json(const Histogram& histogram) {
    json percentiles = json::object();
    for (double p : k_json_percentiles) {
        percentiles[fmt::format("{}", p)] = histogram.value_at_percentile(p);
    }
    json buckets = json::array();
    for (const auto& [index, count] : histogram.nonzero_buckets()) {
        buckets.push_back(json::array({index, count}));
    }
    return json{
        {"lowest_us", Histogram::k_lowest_us},
        {"highest_us", Histogram::k_highest_us},
        {"significant_digits", Histogram::k_significant_digits},
        {"count", histogram.count()},
        {"min", histogram.min()},
        {"max", histogram.max()},
        {"mean", histogram.mean()},
        {"saturated", histogram.saturated()},
        {"percentiles", std::move(percentiles)},
        {"buckets", std::move(buckets)},
    };
}

// Reads fields of one JSON object, keeping the first error with the field's path.
class FieldReader {
public:
    FieldReader(const json& object, std::string path, std::optional<std::string>& error)
        : m_object(object)
        , m_path(std::move(path))
        , m_error(error) {
        if (!m_object.is_object()) {
            fail(m_path.empty() ? "the report must be a JSON object"
                                : fmt::format("'{}' must be an object", m_path));
        }
    }

    const json* field(std::string_view key) {
        if (m_error) {
            return nullptr;
        }
        auto it = m_object.find(key);
        if (it == m_object.end()) {
            fail(fmt::format("missing field '{}'", name(key)));
            return nullptr;
        }
        return &*it;
    }

    void read(std::string_view key, std::uint64_t& out) {
        if (const json* value = field(key)) {
            if (!value->is_number_unsigned()) {
                return fail(fmt::format("'{}' must be a non-negative integer", name(key)));
            }
            out = value->get<std::uint64_t>();
        }
    }

    void read(std::string_view key, double& out) {
        if (const json* value = field(key)) {
            if (!value->is_number() || !std::isfinite(value->get<double>()) ||
                value->get<double>() < 0) {
                return fail(fmt::format("'{}' must be a non-negative number", name(key)));
            }
            out = value->get<double>();
        }
    }

    /// For fields added after version 1: a report written before them has none, and
    /// keeps the default.
    template <typename T> void read_if_present(std::string_view key, T& out) {
        if (m_object.is_object() && m_object.contains(key)) {
            read(key, out);
        }
    }

    void read(std::string_view key, bool& out) {
        if (const json* value = field(key)) {
            if (!value->is_boolean()) {
                return fail(fmt::format("'{}' must be true or false", name(key)));
            }
            out = value->get<bool>();
        }
    }

    void read(std::string_view key, std::vector<std::uint64_t>& out) {
        if (const json* value = field(key)) {
            bool ok = value->is_array();
            for (std::size_t i = 0; ok && i < value->size(); ++i) {
                ok = (*value)[i].is_number_unsigned();
            }
            if (!ok) {
                return fail(
                    fmt::format("'{}' must be an array of non-negative integers", name(key)));
            }
            out = value->get<std::vector<std::uint64_t>>();
        }
    }

    void read(std::string_view key, std::string& out) {
        if (const json* value = field(key)) {
            if (!value->is_string()) {
                return fail(fmt::format("'{}' must be a string", name(key)));
            }
            out = value->get<std::string>();
        }
    }

    void read(std::string_view key, Histogram& out) {
        const json* value = field(key);
        if (!value) {
            return;
        }
        FieldReader reader(*value, name(key), m_error);
        std::uint64_t lowest = 0, highest = 0, digits = 0;
        reader.read("lowest_us", lowest);
        reader.read("highest_us", highest);
        reader.read("significant_digits", digits);
        const json* buckets = reader.field("buckets");
        if (m_error) {
            return;
        }
        if (lowest != Histogram::k_lowest_us || highest != Histogram::k_highest_us ||
            digits != std::uint64_t(Histogram::k_significant_digits)) {
            return fail(fmt::format("'{}' has a different histogram layout ({}..{} us, {} "
                                    "digits; expected {}..{} us, {} digits)",
                                    name(key), lowest, highest, digits, Histogram::k_lowest_us,
                                    Histogram::k_highest_us, Histogram::k_significant_digits));
        }
        std::vector<std::pair<std::uint32_t, std::uint64_t>> pairs;
        bool well_formed = buckets->is_array();
        for (std::size_t i = 0; well_formed && i < buckets->size(); ++i) {
            const json& pair = (*buckets)[i];
            well_formed = pair.is_array() && pair.size() == 2 && pair[0].is_number_unsigned() &&
                          pair[1].is_number_unsigned() &&
                          pair[0].get<std::uint64_t>() <= UINT32_MAX;
            if (well_formed) {
                pairs.emplace_back(pair[0].get<std::uint32_t>(), pair[1].get<std::uint64_t>());
            }
        }
        if (!well_formed) {
            return fail(
                fmt::format("'{}.buckets' must be an array of [index, count] pairs", name(key)));
        }
        core::Result<Histogram> histogram = Histogram::from_buckets(pairs);
        if (!histogram) {
            return fail(fmt::format("'{}': {}", name(key), histogram.error().message));
        }
        out = std::move(histogram.value());
    }

    void fail(std::string message) {
        if (!m_error) {
            m_error = std::move(message);
        }
    }

    std::string name(std::string_view key) const {
        return m_path.empty() ? std::string(key) : fmt::format("{}.{}", m_path, key);
    }

private:
    const json& m_object;
    std::string m_path;
    std::optional<std::string>& m_error;
};

json to_json(const Report& report) {
    json errors{
        {"refused", report.errors.refused},
        {"timeout", report.errors.timeout},
        {"reset", report.errors.reset},
        {"protocol", report.errors.protocol},
        {"closed_by_peer", report.errors.closed_by_peer},
        {"other", report.errors.other},
    };
    json timeline = json::array();
    for (const Interval& interval : report.timeline) {
        timeline.push_back(json{
            {"t_seconds", interval.t_seconds},
            {"sent", interval.sent},
            {"received", interval.received},
            {"errors", interval.errors},
            {"connections_up", interval.connections_up},
            {"p50_us", interval.p50_us},
            {"p99_us", interval.p99_us},
            {"stage", interval.stage},
            {"target_connections", interval.target_connections},
            {"target_rate", interval.target_rate},
        });
    }
    json shards = json::array();
    for (const ShardStatus& shard : report.shards) {
        shards.push_back(json{{"shard", shard.shard}, {"status", shard.status}});
    }
    return json{
        {"format", k_format},
        {"version", k_version},
        {"protocol", report.protocol},
        {"pattern", report.pattern},
        {"load_model", report.load_model},
        {"target", report.target},
        {"rate", report.rate},
        {"arrival", report.arrival},
        {"connections", report.connections},
        {"connections_failed", report.connections_failed},
        {"threads", report.threads},
        {"connect_rate", report.connect_rate},
        {"connect_window", report.connect_window},
        {"ramp_seconds", report.ramp_seconds},
        {"publishers", report.publishers},
        {"subscribers", report.subscribers},
        {"duration_seconds", report.duration_seconds},
        {"message_size", report.message_size},
        {"messages_sent", report.messages_sent},
        {"messages_received", report.messages_received},
        {"bytes_sent", report.bytes_sent},
        {"bytes_received", report.bytes_received},
        {"lost", report.lost},
        {"duplicates", report.duplicates},
        {"reordered", report.reordered},
        {"errors", std::move(errors)},
        {"error_rate", error_rate(report)},
        {"sent_per_second", sent_per_second(report)},
        {"received_per_second", received_per_second(report)},
        {"latency_us", histogram_to_json(report.latency)},
        {"connect_time_us", histogram_to_json(report.connect_time)},
        {"timeline", std::move(timeline)},
        {"gap_us", histogram_to_json(report.gap)},
        {"per_subscriber", histogram_to_json(report.per_subscriber)},
        {"reconnects", report.reconnects},
        {"untimed", report.untimed},
        {"checks", json{{"passed", report.checks_passed}, {"failed", report.checks_failed}}},
        {"shard", report.shard},
        {"started_at", report.started_at},
        {"acked_per_topic", report.acked_per_topic},
        {"subscribers_per_topic", report.subscribers_per_topic},
        {"shared_subscription", report.shared_subscription},
        {"shards", std::move(shards)},
    };
}

std::optional<std::string> from_json(const json& document, Report& report) {
    std::optional<std::string> error;
    FieldReader top(document, "", error);
    std::string format;
    std::uint64_t version = 0;
    top.read("format", format);
    top.read("version", version);
    if (!error && (format != k_format || version != std::uint64_t(k_version))) {
        return fmt::format("not an rtx bench report version {} (format '{}', version {})",
                           k_version, format, version);
    }
    top.read("protocol", report.protocol);
    top.read("pattern", report.pattern);
    top.read("load_model", report.load_model);
    top.read("target", report.target);
    top.read("rate", report.rate);
    top.read("arrival", report.arrival);
    top.read("connections", report.connections);
    top.read("connections_failed", report.connections_failed);
    top.read("threads", report.threads);
    top.read_if_present("connect_rate", report.connect_rate);
    top.read_if_present("connect_window", report.connect_window);
    top.read_if_present("ramp_seconds", report.ramp_seconds);
    top.read("publishers", report.publishers);
    top.read("subscribers", report.subscribers);
    top.read("duration_seconds", report.duration_seconds);
    top.read("message_size", report.message_size);
    top.read("messages_sent", report.messages_sent);
    top.read("messages_received", report.messages_received);
    top.read("bytes_sent", report.bytes_sent);
    top.read("bytes_received", report.bytes_received);
    top.read("lost", report.lost);
    top.read("duplicates", report.duplicates);
    top.read("reordered", report.reordered);
    if (const json* errors = top.field("errors")) {
        FieldReader reader(*errors, "errors", error);
        reader.read("refused", report.errors.refused);
        reader.read("timeout", report.errors.timeout);
        reader.read("reset", report.errors.reset);
        reader.read("protocol", report.errors.protocol);
        reader.read("closed_by_peer", report.errors.closed_by_peer);
        reader.read("other", report.errors.other);
    }
    top.read("latency_us", report.latency);
    top.read("connect_time_us", report.connect_time);
    top.read_if_present("gap_us", report.gap);
    top.read_if_present("per_subscriber", report.per_subscriber);
    top.read_if_present("reconnects", report.reconnects);
    top.read_if_present("untimed", report.untimed);
    if (document.is_object() && document.contains("checks")) {
        FieldReader reader(document["checks"], "checks", error);
        reader.read("passed", report.checks_passed);
        reader.read("failed", report.checks_failed);
    }
    if (const json* timeline = top.field("timeline")) {
        if (!timeline->is_array()) {
            return "'timeline' must be an array";
        }
        for (std::size_t i = 0; !error && i < timeline->size(); ++i) {
            Interval interval;
            FieldReader reader((*timeline)[i], fmt::format("timeline[{}]", i), error);
            reader.read("t_seconds", interval.t_seconds);
            reader.read("sent", interval.sent);
            reader.read("received", interval.received);
            reader.read("errors", interval.errors);
            reader.read("connections_up", interval.connections_up);
            reader.read("p50_us", interval.p50_us);
            reader.read("p99_us", interval.p99_us);
            reader.read_if_present("stage", interval.stage);
            reader.read_if_present("target_connections", interval.target_connections);
            reader.read_if_present("target_rate", interval.target_rate);
            report.timeline.push_back(interval);
        }
    }
    top.read_if_present("shard", report.shard);
    top.read_if_present("started_at", report.started_at);
    top.read_if_present("acked_per_topic", report.acked_per_topic);
    top.read_if_present("subscribers_per_topic", report.subscribers_per_topic);
    top.read_if_present("shared_subscription", report.shared_subscription);
    if (document.is_object() && document.contains("shards")) {
        const json& shards = document["shards"];
        for (std::size_t i = 0; !error && shards.is_array() && i < shards.size(); ++i) {
            ShardStatus status;
            FieldReader reader(shards[i], fmt::format("shards[{}]", i), error);
            reader.read("shard", status.shard);
            reader.read("status", status.status);
            report.shards.push_back(status);
        }
        if (!shards.is_array() && !error) {
            return "'shards' must be an array";
        }
    }
    return error;
}

core::Error bad_report(std::string_view reason) {
    return core::Error{core::ExitCode::usage, fmt::format("bad bench report: {}", reason)};
}

} // namespace

double error_rate(const Report& report) {
    const long double failures =
        static_cast<long double>(std::max(report.errors.total(), report.connections_failed)) +
        static_cast<long double>(report.lost);
    const long double expected_deliveries =
        static_cast<long double>(report.messages_received) + static_cast<long double>(report.lost);
    const long double attempts =
        static_cast<long double>(report.connections) +
        std::max(static_cast<long double>(report.messages_sent), expected_deliveries);
    if (failures == 0) {
        return 0;
    }
    if (attempts == 0) {
        return 1;
    }
    return static_cast<double>(std::min<long double>(1, failures / attempts));
}

double check_fail_rate(const Report& report) {
    const std::uint64_t checked = report.checks_passed + report.checks_failed;
    return checked == 0 ? 0.0
                        : static_cast<double>(report.checks_failed) / static_cast<double>(checked);
}

double received_per_second(const Report& report) {
    return safe_rate(static_cast<double>(report.messages_received), report.duration_seconds);
}

double sent_per_second(const Report& report) {
    return safe_rate(static_cast<double>(report.messages_sent), report.duration_seconds);
}

std::string report_to_json_text(const Report& report) {
    return to_json(report).dump();
}

core::Result<Report> parse_report_json(std::string_view text) {
    json document = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (document.is_discarded()) {
        return bad_report("not valid JSON");
    }
    Report report;
    if (std::optional<std::string> error = from_json(document, report)) {
        return bad_report(*error);
    }
    return report;
}

core::Result<Report> merge_reports(const std::vector<Report>& reports) {
    if (reports.empty()) {
        return core::Error{core::ExitCode::usage, "no bench reports to merge"};
    }
    Report merged = reports.front();
    std::map<long long, Interval> timeline; // by t_seconds in whole milliseconds
    auto add_interval = [&timeline](const Interval& interval) {
        auto [it, inserted] =
            timeline.try_emplace(std::llround(interval.t_seconds * 1000), interval);
        if (inserted) {
            return;
        }
        Interval& into = it->second;
        into.sent += interval.sent;
        into.received += interval.received;
        into.errors += interval.errors;
        into.connections_up += interval.connections_up;
        into.p50_us = std::max(into.p50_us, interval.p50_us);
        into.p99_us = std::max(into.p99_us, interval.p99_us);
        into.stage = std::max(into.stage, interval.stage);
        into.target_connections = std::max(into.target_connections, interval.target_connections);
        into.target_rate = std::max(into.target_rate, interval.target_rate);
    };
    for (const Interval& interval : merged.timeline) {
        add_interval(interval);
    }
    for (std::size_t i = 1; i < reports.size(); ++i) {
        const Report& report = reports[i];
        auto mismatch = [&](std::string_view what, const auto& mine, const auto& theirs) {
            return core::Error{core::ExitCode::usage,
                               fmt::format("cannot merge bench reports: {} differs ('{}' vs '{}')",
                                           what, mine, theirs)};
        };
        if (report.protocol != merged.protocol) {
            return mismatch("protocol", merged.protocol, report.protocol);
        }
        if (report.pattern != merged.pattern) {
            return mismatch("pattern", merged.pattern, report.pattern);
        }
        if (report.load_model != merged.load_model) {
            return mismatch("load model", merged.load_model, report.load_model);
        }
        if (report.arrival != merged.arrival) {
            return mismatch("arrival", merged.arrival, report.arrival);
        }
        if (report.target != merged.target) {
            return mismatch("target", merged.target, report.target);
        }
        if (report.message_size != merged.message_size) {
            return mismatch("message size", merged.message_size, report.message_size);
        }
        merged.rate += report.rate;
        merged.connections += report.connections;
        merged.connections_failed += report.connections_failed;
        merged.threads += report.threads;
        merged.connect_rate += report.connect_rate;
        merged.connect_window += report.connect_window;
        merged.ramp_seconds = std::max(merged.ramp_seconds, report.ramp_seconds);
        merged.publishers += report.publishers;
        merged.subscribers += report.subscribers;
        merged.duration_seconds = std::max(merged.duration_seconds, report.duration_seconds);
        merged.messages_sent += report.messages_sent;
        merged.messages_received += report.messages_received;
        merged.bytes_sent += report.bytes_sent;
        merged.bytes_received += report.bytes_received;
        merged.lost += report.lost;
        merged.duplicates += report.duplicates;
        merged.reordered += report.reordered;
        merged.errors.refused += report.errors.refused;
        merged.errors.timeout += report.errors.timeout;
        merged.errors.reset += report.errors.reset;
        merged.errors.protocol += report.errors.protocol;
        merged.errors.closed_by_peer += report.errors.closed_by_peer;
        merged.errors.other += report.errors.other;
        merged.latency.merge(report.latency);
        merged.connect_time.merge(report.connect_time);
        merged.gap.merge(report.gap);
        merged.per_subscriber.merge(report.per_subscriber);
        merged.reconnects += report.reconnects;
        merged.untimed += report.untimed;
        merged.checks_passed += report.checks_passed;
        merged.checks_failed += report.checks_failed;
        for (const Interval& interval : report.timeline) {
            add_interval(interval);
        }
    }
    merged.timeline.clear();
    for (auto& [t, interval] : timeline) {
        merged.timeline.push_back(interval);
    }
    return merged;
}

namespace {

// 3 significant digits: "1.25", "12.3", "123".
std::string three_digits(double value, std::string_view unit) {
    if (value < 9.995) {
        return fmt::format("{:.2f}{}", value, unit);
    }
    if (value < 99.95) {
        return fmt::format("{:.1f}{}", value, unit);
    }
    return fmt::format("{:.0f}{}", value, unit);
}

} // namespace

std::string format_latency_us(std::uint64_t us) {
    if (us < 1000) {
        return fmt::format("{}us", us);
    }
    double value = static_cast<double>(us);
    // Switch units where rounding would print "1000ms".
    if (value < 999'500) {
        return three_digits(value / 1e3, "ms");
    }
    return three_digits(value / 1e6, "s");
}

namespace {

// "950", "12.3k", "1.25M": counts and rates at a glance.
std::string format_count(double value) {
    if (value < 99.95 && std::fabs(value - std::round(value)) >= 0.05) {
        return fmt::format("{:.1f}", value); // "2.5" msg/s, not "2"
    }
    if (value < 9'999.5) {
        return fmt::format("{:.0f}", value);
    }
    if (value < 999'500) {
        return three_digits(value / 1e3, "k");
    }
    if (value < 999'500'000) {
        return fmt::format("{:.2f}M", value / 1e6);
    }
    return fmt::format("{:.2f}G", value / 1e9);
}

// "512 B", "1.25 kB", "340 MB" (decimal units, as network rates are quoted).
std::string format_bytes(double bytes) {
    if (bytes < 999.5) {
        return fmt::format("{:.0f} B", bytes);
    }
    if (bytes < 999'500) {
        return three_digits(bytes / 1e3, " kB");
    }
    if (bytes < 999'500'000) {
        return three_digits(bytes / 1e6, " MB");
    }
    return three_digits(bytes / 1e9, " GB");
}

std::string format_percent(double fraction) {
    double percent = fraction * 100;
    if (percent == 0) {
        return "0%";
    }
    if (percent < 0.01) {
        return fmt::format("{:.4f}%", percent);
    }
    return fmt::format("{:.2f}%", percent);
}

std::string load_model_text(const Report& report) {
    if (report.load_model == "open") {
        return fmt::format("open model: {} msg/s intended{}, latency from the intended send time",
                           format_count(report.rate),
                           report.arrival.empty() ? "" : fmt::format(" ({})", report.arrival));
    }
    if (report.pattern == "fanout") {
        return "closed model: each publisher sends its next message when the server "
               "acknowledged the previous one";
    }
    return "closed model: each connection sends its next message when the reply arrives";
}

/// How the connections were opened: "10000 in 3.52s (2.84k/s), at most 256 connecting at
/// once (the default; --connect-rate for a fixed rate)".
std::string ramp_text(const Report& report) {
    std::string text = fmt::format("{} in {:.2f}s", report.connections, report.ramp_seconds);
    if (report.ramp_seconds > 0) {
        text += fmt::format(
            " ({}/s)", format_count(static_cast<double>(report.connections) / report.ramp_seconds));
    }
    if (report.connect_rate > 0) {
        return text +
               fmt::format(", paced at {}/s (--connect-rate)", format_count(report.connect_rate));
    }
    if (report.connect_window > 0) {
        return text + fmt::format(", at most {} connecting at once (the default; "
                                  "--connect-rate for a fixed rate)",
                                  report.connect_window);
    }
    return text + ", all at once (--connect-rate 0)";
}

std::string percentile_line(const Histogram& histogram) {
    if (histogram.count() == 0) {
        return "no samples";
    }
    std::string line;
    for (auto [label, p] : {std::pair{"p50", 50.0},
                            {"p90", 90.0},
                            {"p99", 99.0},
                            {"p99.9", 99.9},
                            {"p99.99", 99.99}}) {
        line += fmt::format("{} {}  ", label, format_latency_us(histogram.value_at_percentile(p)));
    }
    line +=
        fmt::format("max {}  (mean {}, {} samples", format_latency_us(histogram.max()),
                    format_latency_us(static_cast<std::uint64_t>(std::llround(histogram.mean()))),
                    histogram.count());
    if (histogram.saturated() != 0) {
        line += fmt::format(", {} above {}", histogram.saturated(),
                            format_latency_us(Histogram::k_highest_us));
    }
    return line + ")";
}

std::string errors_text(const ErrorCounts& errors) {
    std::string text;
    for (auto [name, count] : {std::pair{"refused", errors.refused},
                               {"timeout", errors.timeout},
                               {"reset", errors.reset},
                               {"protocol", errors.protocol},
                               {"closed by peer", errors.closed_by_peer},
                               {"other", errors.other}}) {
        if (count != 0) {
            text += fmt::format("{}{} {}", text.empty() ? "" : ", ", name, count);
        }
    }
    return text.empty() ? "none" : text;
}

} // namespace

/// "1 publisher", "2 publishers".
std::string counted(std::uint64_t count, std::string_view noun) {
    return fmt::format("{} {}{}", count, noun, count == 1 ? "" : "s");
}

/// The subscribers' side: per-subscriber rates, gaps between arrivals, delivery, reconnects.
std::string fanout_lines(const Report& report) {
    std::string out;
    const Histogram& each = report.per_subscriber;
    if (each.count() > 0 && report.duration_seconds > 0) {
        auto rate = [&](double percentile) {
            return format_count(safe_rate(static_cast<double>(each.value_at_percentile(percentile)),
                                          report.duration_seconds));
        };
        out += fmt::format("  per sub       msg/s min {}  p50 {}  max {}\n", rate(0), rate(50),
                           rate(100));
    }
    if (report.gap.count() > 0) {
        out += fmt::format("  gap           {}\n", percentile_line(report.gap));
    }
    out += fmt::format("  delivery      lost {}, duplicates {}, reordered {}, reconnects {}",
                       report.lost, report.duplicates, report.reordered, report.reconnects);
    if (report.untimed > 0) {
        out += fmt::format(", {} without a time (no latency)", report.untimed);
    }
    return out + "\n";
}

std::string render_summary(const Report& report) {
    const double seconds = report.duration_seconds;
    std::string out =
        fmt::format("  target        {} ({} {})\n", report.target, report.protocol, report.pattern);
    out += fmt::format("  load          {}\n", load_model_text(report));
    std::uint64_t up = report.connections - std::min(report.connections, report.connections_failed);
    out += fmt::format("  connections   {} ({} up, {} failed), {}", report.connections, up,
                       report.connections_failed, counted(report.threads, "thread"));
    if (report.pattern == "fanout") {
        out += fmt::format(", {}, {}", counted(report.publishers, "publisher"),
                           counted(report.subscribers, "subscriber"));
    }
    out += fmt::format("\n  ramp          {}\n", ramp_text(report));
    out += fmt::format("  duration      {:.2f}s, {}-byte messages\n", seconds, report.message_size);
    out += fmt::format("  sent          {} msgs  {} msg/s  {}  {}/s\n", report.messages_sent,
                       format_count(sent_per_second(report)),
                       format_bytes(static_cast<double>(report.bytes_sent)),
                       format_bytes(safe_rate(static_cast<double>(report.bytes_sent), seconds)));
    out +=
        fmt::format("  received      {} msgs  {} msg/s  {}  {}/s\n", report.messages_received,
                    format_count(received_per_second(report)),
                    format_bytes(static_cast<double>(report.bytes_received)),
                    format_bytes(safe_rate(static_cast<double>(report.bytes_received), seconds)));
    out += fmt::format("  latency       {}\n", percentile_line(report.latency));
    out += fmt::format("  connect time  {}\n", percentile_line(report.connect_time));
    if (report.pattern == "fanout") {
        out += fanout_lines(report);
    } else if (report.lost != 0) {
        out += fmt::format("  unanswered    {}\n", report.lost);
    }
    if (report.checks_passed + report.checks_failed > 0) {
        out += fmt::format("  checks        {} passed, {} failed ({})\n", report.checks_passed,
                           report.checks_failed, format_percent(check_fail_rate(report)));
    }
    out += fmt::format("  errors        {} (error rate {})\n", errors_text(report.errors),
                       format_percent(error_rate(report)));
    return out;
}

std::string render_live_line(const Interval& interval, double interval_seconds) {
    std::string line = fmt::format(
        "{:>6.0f}s  sent {:>7}/s  recv {:>7}/s  errors {}  conns {}  p50 {}  p99 {}",
        interval.t_seconds,
        format_count(safe_rate(static_cast<double>(interval.sent), interval_seconds)),
        format_count(safe_rate(static_cast<double>(interval.received), interval_seconds)),
        interval.errors, interval.connections_up,
        interval.received == 0 ? "-" : format_latency_us(interval.p50_us),
        interval.received == 0 ? "-" : format_latency_us(interval.p99_us));
    if (interval.stage > 0) {
        line += fmt::format("  stage {} (conns {}, rate {}/s)", interval.stage,
                            interval.target_connections, format_count(interval.target_rate));
    }
    return line;
}

std::vector<std::string> breaches(const Report& report, const Thresholds& thresholds) {
    std::vector<std::string> lines;
    auto check_latency = [&lines](std::string_view what, const Histogram& histogram,
                                  std::optional<std::uint64_t> limit, double percentile) {
        if (!limit) {
            return;
        }
        if (histogram.count() == 0) {
            // Nothing measured cannot pass a latency limit.
            lines.push_back(fmt::format("{}: no samples to check against the limit {}", what,
                                        format_latency_us(*limit)));
            return;
        }
        std::uint64_t value = histogram.value_at_percentile(percentile);
        if (value > *limit) {
            lines.push_back(fmt::format("{} {} > limit {}", what, format_latency_us(value),
                                        format_latency_us(*limit)));
        }
    };
    check_latency("latency p50", report.latency, thresholds.max_p50_us, 50);
    check_latency("latency p99", report.latency, thresholds.max_p99_us, 99);
    check_latency("latency p99.9", report.latency, thresholds.max_p999_us, 99.9);
    check_latency("latency max", report.latency, thresholds.max_latency_us, 100);
    check_latency("connect time p99", report.connect_time, thresholds.max_connect_p99_us, 99);
    if (thresholds.max_error_rate) {
        double rate = error_rate(report);
        if (rate > *thresholds.max_error_rate) {
            lines.push_back(fmt::format("error rate {} > limit {}", format_percent(rate),
                                        format_percent(*thresholds.max_error_rate)));
        }
    }
    if (thresholds.max_check_fail_rate) {
        double rate = check_fail_rate(report);
        if (rate > *thresholds.max_check_fail_rate) {
            lines.push_back(fmt::format("checks failed {} > limit {}", format_percent(rate),
                                        format_percent(*thresholds.max_check_fail_rate)));
        }
    }
    if (thresholds.min_received_per_second) {
        double rate = received_per_second(report);
        if (rate < *thresholds.min_received_per_second) {
            lines.push_back(fmt::format("received {} msg/s < limit {} msg/s", format_count(rate),
                                        format_count(*thresholds.min_received_per_second)));
        }
    }
    return lines;
}

} // namespace rtx::bench
