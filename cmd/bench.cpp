// rtx bench PROTOCOL [URL] — a multi-connection load generator with honest latency.
#include "bench/payload.hpp"
#include "bench/report.hpp"
#include "bench/runner.hpp"
#include "cmd/bench_foreign.hpp"
#include "cmd/bench_scale.hpp"
#include "cmd/command.hpp"
#include "cmd/flag_values.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/signals.hpp"
#include "core/url.hpp"
#include "transport/http/curl_multi.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>
#include <random>
#include <thread>

namespace rtx::cmd {

namespace {

struct BenchOptions {
    std::string protocol;
    std::vector<std::string> urls;    ///< Positional URLs, round robin with --target.
    std::vector<std::string> targets; ///< --target (repeatable).
    std::string pattern;
    int qos = 0;
    std::size_t conns = 10;
    std::optional<double> connect_rate; ///< Unset: the default ramp (a window).
    std::string duration;
    std::uint64_t messages = 0;
    std::size_t size = 64;
    std::string payload;
    unsigned threads = 0;
    std::optional<double> rate;          ///< Unset: the closed model.
    std::optional<double> rate_per_conn; ///< Unset: the closed model.
    std::string arrival = "uniform";
    std::size_t publishers = 1;
    std::string topic = "bench";
    std::size_t topics = 1;
    std::vector<std::string> source_ips;
    std::string connect_timeout = "10s";
    std::string drain = "2s";
    std::string json_file;
    std::string html_file;
    std::string max_p50;
    std::string max_p99;
    std::string max_p999;
    std::string max_latency;
    std::string max_connect_p99;
    std::string max_error_rate;
    double min_rate = 0;
    std::string stages;
    std::string rate_stages;
    std::vector<std::string> checks;
    std::string max_check_fail_rate;
    BenchForeignFlags foreign;
    ShardOptions scale; ///< --shard, --start-at, --procs (cmd/bench_scale).
};

/// The open model's bounds (see where they are checked).
constexpr double k_min_rate_per_sender = 1e-9; // one message in ~32 years: an idle connection
constexpr double k_max_rate = 1e8;

bench::Protocol protocol_option(const std::string& name) {
    for (auto protocol : {bench::Protocol::tcp, bench::Protocol::ws, bench::Protocol::sse,
                          bench::Protocol::stream, bench::Protocol::poll, bench::Protocol::mqtt}) {
        if (bench::protocol_name(protocol) == name) {
            return protocol;
        }
    }
    throw core::UsageError(fmt::format(
        "unknown protocol '{}' (rtx bench takes tcp, ws, sse, stream, poll or mqtt)", name));
}

/// Echo or fan-out: ws takes either (echo by default), the others their one pattern.
bool fanout_option(bench::Protocol protocol, const std::string& pattern) {
    bool fanout_only = bench::is_fanout(protocol);
    if (pattern.empty()) {
        return fanout_only;
    }
    if (pattern != "echo" && pattern != "fanout") {
        throw core::UsageError(fmt::format("--pattern '{}': echo or fanout", pattern));
    }
    bool fanout = pattern == "fanout";
    if (protocol != bench::Protocol::ws && fanout != fanout_only) {
        throw core::UsageError(fmt::format("--pattern {}: rtx bench {} does {} only", pattern,
                                           bench::protocol_name(protocol),
                                           fanout_only ? "fanout" : "echo"));
    }
    return fanout;
}

core::Url target_option(bench::Protocol protocol, bool fanout, const std::string& text,
                        bool subscribe_only) {
    if (text.empty()) {
        if (subscribe_only) {
            throw core::UsageError("subscribe-only (--subscribe-only, --publish-url, "
                                   "--publish-cmd) needs the server's URL");
        }
        return core::Url{}; // the embedded server
    }
    const std::string_view name = bench::protocol_name(protocol);
    if (protocol == bench::Protocol::ws) {
        auto url = core::parse_url(text, "ws");
        if (!url) {
            throw core::UsageError(url.error().message);
        }
        if (url->scheme != "ws" && url->scheme != "wss") {
            throw core::UsageError(
                fmt::format("rtx bench ws takes ws://HOST:PORT[/PATH] (got {}://)", url->scheme));
        }
        if (fanout && url->path != "/" && !subscribe_only) {
            throw core::UsageError(
                "rtx bench ws --pattern fanout takes the server's base URL (ws://HOST:PORT, no "
                "path): it subscribes to /ws/{topic} and publishes to /publish/{topic}");
        }
        if (!fanout && url->path == "/" && !subscribe_only) {
            url->path = "/echo"; // rtx serve's echo endpoint
        }
        return url.value();
    }
    if (protocol == bench::Protocol::mqtt) {
        auto url = core::parse_url(text, "mqtt");
        if (!url) {
            throw core::UsageError(url.error().message);
        }
        if (url->scheme != "mqtt" && url->scheme != "tcp" && url->scheme != "mqtts") {
            throw core::UsageError(fmt::format(
                "rtx bench mqtt takes mqtt://HOST:PORT or HOST:PORT (got {}://)", url->scheme));
        }
        // The broker connections are raw TCP (or TLS) carrying the codec's bytes.
        url->scheme = url->scheme == "mqtts" ? "tls" : "tcp";
        return url.value();
    }
    auto url = core::parse_url(text, fanout ? "http" : "tcp");
    if (!url) {
        throw core::UsageError(url.error().message);
    }
    if (!fanout && url->scheme != "tcp" && url->scheme != "tls") {
        throw core::UsageError(fmt::format(
            "rtx bench tcp takes HOST:PORT or tcp://HOST:PORT (got {}://)", url->scheme));
    }
    if (fanout && url->scheme != "http" && url->scheme != "https") {
        throw core::UsageError(
            fmt::format("rtx bench {} takes the server's base URL, http://HOST:PORT (got {}://)",
                        name, url->scheme));
    }
    if (fanout && url->path != "/" && !subscribe_only) {
        throw core::UsageError(
            fmt::format("rtx bench {} takes the server's base URL (http://HOST:PORT, no path): it "
                        "subscribes to /{}/{{topic}} and publishes to /publish/{{topic}}",
                        name, name));
    }
    return url.value();
}

std::optional<std::uint64_t> latency_limit(std::string_view flag, const std::string& text) {
    if (text.empty()) {
        return std::nullopt;
    }
    return static_cast<std::uint64_t>(positive_duration_flag(flag, text).count());
}

/// "0.1%" or a fraction "0.001".
std::optional<double> rate_limit(std::string_view flag, const std::string& text) {
    if (text.empty()) {
        return std::nullopt;
    }
    std::string_view digits = text;
    double scale = 1.0;
    if (!digits.empty() && digits.back() == '%') {
        digits.remove_suffix(1);
        scale = 0.01;
    }
    double value = -1;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc() || end != digits.data() + digits.size() || value < 0 ||
        value * scale > 1) {
        throw core::UsageError(
            fmt::format("{} '{}': not a rate (examples: 0.1%, 0.001, 0%)", flag, text));
    }
    return value * scale;
}

/// --stages and --rate-stages (k6's load profiles).
void apply_stages(const BenchOptions& options, bench::Plan& plan) {
    auto parse = [](const std::string& text, const char* flag, bool whole) {
        auto stages = bench::Stages::parse(text, flag, whole);
        if (!stages) {
            throw core::UsageError(stages.error().message);
        }
        return std::move(stages.value());
    };
    if (!options.stages.empty()) {
        plan.connection_stages = parse(options.stages, "--stages", true);
        if (plan.connection_stages.peak() < 1) {
            throw core::UsageError("--stages: no stage reaches 1 connection");
        }
        if (!options.duration.empty() || options.messages > 0) {
            throw core::UsageError("--stages sets how long the run lasts: no --duration or "
                                   "--messages with it");
        }
        plan.connections = static_cast<std::size_t>(plan.connection_stages.peak());
    }
    if (!options.rate_stages.empty()) {
        plan.rate_stages = parse(options.rate_stages, "--rate-stages", false);
        if (options.rate || options.rate_per_conn) {
            throw core::UsageError("--rate-stages and --rate: give one of them");
        }
        if (!(plan.rate_stages.peak() > 0) || plan.rate_stages.peak() > k_max_rate) {
            throw core::UsageError(fmt::format(
                "--rate-stages: the highest rate must be above 0 and at most {}/s", k_max_rate));
        }
        if (!options.foreign.publish_cmd.empty()) {
            throw core::UsageError("--publish-cmd publishes each line when the command writes "
                                   "it: no --rate-stages");
        }
    }
}

/// --publish-url and --publish-cmd against what the protocol can publish with.
void check_publish_flags(const BenchOptions& options, bench::Protocol protocol) {
    const BenchForeignFlags& foreign = options.foreign;
    const bool mqtt = protocol == bench::Protocol::mqtt;
    if (!foreign.publish_url.empty() && mqtt) {
        throw core::UsageError("--publish-url: rtx bench mqtt publishes to the broker itself");
    }
    if (foreign.publish_cmd.empty()) {
        return;
    }
    if (options.publishers != 1) {
        throw core::UsageError("--publish-cmd is one publisher: leave out --publishers");
    }
    if (options.rate || options.rate_per_conn) {
        throw core::UsageError(
            "--publish-cmd publishes each line when the command writes it: no --rate");
    }
    if (!mqtt && foreign.publish_url.empty()) {
        throw core::UsageError("--publish-cmd needs --publish-url (where to POST its lines)");
    }
}

bench::Plan resolve_plan(const BenchOptions& options) {
    bench::Plan plan;
    plan.protocol = protocol_option(options.protocol);
    plan.fanout = fanout_option(plan.protocol, options.pattern);
    // Several URLs (positional and --target) spread the connections round robin; the first
    // decides whether this is a subscribe-only run against a foreign server.
    std::vector<std::string> urls = options.urls;
    urls.insert(urls.end(), options.targets.begin(), options.targets.end());
    const std::string first_url = urls.empty() ? std::string() : urls.front();
    const bool subscribe_only = subscribe_only_requested(options.foreign, plan.protocol, first_url);
    if (subscribe_only && plan.protocol == bench::Protocol::tcp) {
        throw core::UsageError("rtx bench tcp is an echo round trip: no subscribe-only mode");
    }
    if (subscribe_only && plan.protocol == bench::Protocol::ws && options.pattern == "echo") {
        throw core::UsageError("--pattern echo and subscribe-only: give one of them");
    }
    plan.fanout = plan.fanout || subscribe_only; // ws: subscribers
    plan.target = target_option(plan.protocol, plan.fanout, first_url, subscribe_only);
    for (const auto& url : urls) {
        plan.targets.push_back(target_option(plan.protocol, plan.fanout, url, subscribe_only));
    }
    if (plan.targets.size() < 2) {
        plan.targets.clear(); // one server: plan.target
    }
    plan.foreign = resolve_bench_foreign(options.foreign, subscribe_only);
    plan.echo_messages = resolve_echo_messages(options.foreign, plan.fanout);
    if (options.qos < 0 || options.qos > 2) {
        throw core::UsageError(fmt::format("--qos {}: 0, 1 or 2", options.qos));
    }
    plan.qos = options.qos;
    if (options.conns == 0) {
        throw core::UsageError("--conns 0: must be at least 1");
    }
    plan.connections = options.conns;
    apply_stages(options, plan);
    if (options.publishers == 0) {
        throw core::UsageError("--publishers 0: must be at least 1");
    }
    plan.publishers = options.publishers;
    if (subscribe_only && !plan.foreign.publishes()) {
        plan.publishers = 0; // the server's own messages only
    }
    check_publish_flags(options, plan.protocol);
    if (options.topics == 0) {
        throw core::UsageError("--topics 0: must be at least 1");
    }
    plan.topics = options.topics;
    if (subscribe_only && plan.topics != 1 && plan.protocol != bench::Protocol::mqtt) {
        throw core::UsageError("--topics: subscribe-only subscribers all take the one URL");
    }
    std::string_view topic = options.topic;
    if (plan.protocol == bench::Protocol::mqtt && topic.starts_with("$share/")) {
        // $share/{group}/{name}: the subscribers share one subscription (MQTT 5 shared
        // subscriptions); the publishers publish to {name}.
        const std::string_view rest = topic.substr(7);
        const std::size_t slash = rest.find('/');
        const std::string_view group = rest.substr(0, slash);
        if (slash == std::string_view::npos || group.empty() ||
            group.find_first_of("+#") != std::string_view::npos) {
            throw core::UsageError(fmt::format(
                "--topic '{}': a shared subscription is $share/GROUP/NAME", options.topic));
        }
        plan.share_group = std::string(group);
        topic = rest.substr(slash + 1);
    }
    const bool any_filter = subscribe_only && plan.protocol == bench::Protocol::mqtt;
    if (topic.empty() || (!any_filter && topic.find_first_of("/?#% ") != std::string::npos)) {
        throw core::UsageError(fmt::format(
            "--topic '{}': a topic name without '/', '?', '#', '%' or spaces", options.topic));
    }
    plan.topic = std::string(topic);
    if (options.connect_rate) {
        if (!(*options.connect_rate >= 0) || !std::isfinite(*options.connect_rate)) {
            throw core::UsageError("--connect-rate: must be 0 (all at once) or more");
        }
        plan.connect_rate = *options.connect_rate;
        plan.connect_window = 0; // a fixed rate, or all at once: what was asked for
    }
    plan.messages = options.messages;
    if (plan.messages > 0 && plan.publishers == 0) {
        throw core::UsageError("--messages counts what is published: subscribe-only needs "
                               "--publish-url or --publish-cmd for it (or --duration)");
    }
    if (!options.duration.empty()) {
        plan.duration = positive_duration_flag("--duration", options.duration);
    } else if (plan.senders_end()) {
        plan.duration = core::Duration{0}; // until the messages (or the command) are done
    }
    const auto staged = std::max(plan.connection_stages.total(), plan.rate_stages.total());
    if (staged.count() > 0) {
        plan.duration = options.duration.empty() ? staged : std::max(plan.duration, staged);
    }
    if (options.size < bench::k_stamp_size) {
        throw core::UsageError(fmt::format(
            "--size {}: must be at least {} (every message starts with a {}-byte stamp)",
            options.size, bench::k_stamp_size, bench::k_stamp_size));
    }
    plan.size = options.size;
    if (options.payload.find_first_of("\r\n") != std::string::npos) {
        throw core::UsageError("--payload: one line (messages are framed by line breaks)");
    }
    plan.payload_text = options.payload;
    unsigned threads = options.threads != 0 ? options.threads : std::thread::hardware_concurrency();
    apply_shard_options(options.scale, plan); // before the thread count: a shard's share
    const std::size_t busiest =
        std::max(plan.connection_range().size(),
                 plan.fanout ? plan.publisher_range().size() : std::size_t{0});
    plan.threads = static_cast<unsigned>(
        std::clamp<std::size_t>(threads, 1, std::max<std::size_t>(busiest, 1)));
    if (options.rate && options.rate_per_conn) {
        throw core::UsageError("--rate and --rate-per-conn: give one of them");
    }
    plan.open_model = options.rate || options.rate_per_conn || !plan.rate_stages.empty();
    if (plan.open_model && !plan.rate_stages.empty()) {
        plan.rate = plan.rate_stages.peak(); // the schedule's rate, thinned per stage
    } else if (plan.open_model) {
        const char* flag = options.rate ? "--rate" : "--rate-per-conn";
        double given = options.rate ? *options.rate : *options.rate_per_conn;
        if (!(given > 0) || !std::isfinite(given)) {
            throw core::UsageError(
                fmt::format("{} {}: must be a number above 0 (leave it out for the closed model)",
                            flag, given));
        }
        const auto senders = static_cast<double>(plan.senders());
        plan.rate = options.rate ? given : given * senders;
        // The schedule counts in nanoseconds since its start (int64): a sender slower than
        // 1e-9/s would overflow it, and a run faster than 10^8/s is beyond one machine.
        // scripts/bench/ws_idle.py holds idle connections with --rate-per-conn 1e-9.
        if (plan.rate / senders < k_min_rate_per_sender || plan.rate > k_max_rate) {
            throw core::UsageError(fmt::format(
                "{} {}: between {} per second per {} and {} per second in total", flag, given,
                k_min_rate_per_sender, plan.fanout ? "publisher" : "connection", k_max_rate));
        }
    }
    if (options.arrival == "uniform") {
        plan.arrival = bench::Arrival::uniform;
    } else if (options.arrival == "poisson") {
        plan.arrival = bench::Arrival::poisson;
    } else {
        throw core::UsageError(fmt::format("--arrival '{}': uniform or poisson", options.arrival));
    }
    for (const auto& list : options.source_ips) {
        std::string_view rest = list;
        while (!rest.empty()) {
            auto comma = rest.find(',');
            std::string ip(rest.substr(0, comma));
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
            sockaddr_storage probe{};
            if (uv_ip4_addr(ip.c_str(), 0, reinterpret_cast<sockaddr_in*>(&probe)) != 0 &&
                uv_ip6_addr(ip.c_str(), 0, reinterpret_cast<sockaddr_in6*>(&probe)) != 0) {
                throw core::UsageError(fmt::format("--source-ip '{}': not an IP address", ip));
            }
            plan.source_ips.push_back(ip);
        }
    }
    plan.connect_timeout = positive_duration_flag("--connect-timeout", options.connect_timeout);
    plan.drain = duration_flag("--drain", options.drain);
    for (const auto& text : options.checks) {
        auto check = bench::parse_check(text);
        if (!check) {
            throw core::UsageError(check.error().message);
        }
        plan.checks.push_back(std::move(check.value()));
    }
    std::random_device random;
    plan.run_id = plan.shard.sharded() ? bench::shared_run_id(plan.start_at, plan.shard.count)
                                       : random() & 0xffff;
    return plan;
}

bench::Thresholds resolve_thresholds(const BenchOptions& options) {
    bench::Thresholds thresholds;
    thresholds.max_p50_us = latency_limit("--max-p50", options.max_p50);
    thresholds.max_p99_us = latency_limit("--max-p99", options.max_p99);
    thresholds.max_p999_us = latency_limit("--max-p999", options.max_p999);
    thresholds.max_latency_us = latency_limit("--max-latency", options.max_latency);
    thresholds.max_connect_p99_us = latency_limit("--max-connect-p99", options.max_connect_p99);
    thresholds.max_error_rate = rate_limit("--max-error-rate", options.max_error_rate);
    thresholds.max_check_fail_rate =
        rate_limit("--max-check-fail-rate", options.max_check_fail_rate);
    if (thresholds.max_check_fail_rate && options.checks.empty()) {
        throw core::UsageError("--max-check-fail-rate: give the checks with --check");
    }
    if (!(options.min_rate >= 0) || !std::isfinite(options.min_rate)) {
        throw core::UsageError("--min-rate: must be 0 or more");
    }
    if (options.min_rate > 0) {
        thresholds.min_received_per_second = options.min_rate;
    }
    return thresholds;
}

core::ExitCode run_bench(const BenchOptions& options) {
    if (options.protocol.empty()) {
        throw core::UsageError("rtx bench: a protocol is required (tcp, ws, sse, stream, poll, "
                               "mqtt), or 'merge' and report files");
    }
    bench::Plan plan = resolve_plan(options);
    bench::Thresholds thresholds = resolve_thresholds(options);
    if (auto procs = procs_needed(options.scale, plan)) {
        return run_procs(*procs, plan, thresholds, options.json_file, options.html_file);
    }
    // Fan-out (but MQTT's) subscribes or publishes over HTTP, on the workers' threads: the
    // HTTP module is loaded here, so that a broken install is one line before any thread.
    if (plan.fanout && plan.protocol != bench::Protocol::mqtt) {
        if (auto broken = transport::http::load_http_engine()) {
            core::log_error("{}", *broken);
            return core::ExitCode::failure;
        }
    }
    bool live = isatty(STDERR_FILENO) == 1 && core::log_level() >= core::LogLevel::normal;
    bench::Runner runner(plan, live);
    auto result = runner.run();
    if (!result) {
        core::log_error("{}", result.error().message);
        return result.error().code;
    }
    return finish_bench(result->report, thresholds, options.json_file, options.html_file,
                        result->signal);
}

} // namespace

Runner setup_bench(CLI::App& parent, std::string_view name, std::string_view summary) {
    auto options = std::make_shared<BenchOptions>();
    CLI::App* app = parent.add_subcommand(std::string(name), std::string(summary));
    app->add_option("protocol", options->protocol,
                    "tcp (echo round trip), ws (echo or fan-out), sse, stream, poll or mqtt "
                    "(fan-out through the server)");
    app->add_option("url", options->urls,
                    "tcp: HOST:PORT of an echo server; ws: ws://HOST:PORT/echo (fan-out: "
                    "ws://HOST:PORT); sse/stream/poll: http://HOST:PORT of an rtx serve, or any "
                    "server's stream URL (subscribe-only); mqtt: "
                    "mqtt://HOST:PORT of a broker. Several: connections round robin. None: an "
                    "embedded rtx serve on 127.0.0.1");
    app->add_option("--target", options->targets, "Another server URL (repeatable), round robin")
        ->allow_extra_args(false)
        ->group("Connection");
    const char* load = "Load";
    app->add_option("-c,--conns", options->conns, "Connections (echo) or subscribers (fan-out)")
        ->capture_default_str()
        ->group(load);
    app->add_option("--connect-rate", options->connect_rate,
                    fmt::format("New connections per second during the ramp; 0: all at once "
                                "(default: as fast as they open, at most {} connecting at once)",
                                bench::k_default_connect_window))
        ->group(load);
    app->add_option("-d,--duration", options->duration,
                    "How long to measure after the ramp (default 10s; with --messages: until "
                    "they are done)")
        ->group(load);
    app->add_option("-n,--messages", options->messages,
                    "Messages to send (echo) or publish (fan-out) in total")
        ->group(load);
    app->add_option("-s,--size", options->size,
                    "Payload bytes per message, the 38-byte stamp included")
        ->capture_default_str()
        ->group(load);
    app->add_option("--payload", options->payload,
                    "Text that fills each payload after the stamp (repeated or cut to --size)")
        ->group(load);
    app->add_option("-t,--threads", options->threads,
                    "Worker threads, each with its own event loop (default: one per core)")
        ->group(load);
    app->add_option("-r,--rate", options->rate,
                    "Open model: messages per second in total (default: closed model, send on "
                    "reply)")
        ->group(load);
    app->add_option("--rate-per-conn", options->rate_per_conn,
                    "Open model: messages per second per connection (echo) or publisher")
        ->group(load);
    app->add_option("--stages", options->stages,
                    "Connections over time, k6 style: DURATION:TARGET,... ramping linearly "
                    "from 0 (30s:1000,2m:1000,30s:0); sets --conns and --duration")
        ->group(load);
    app->add_option("--rate-stages", options->rate_stages,
                    "Open model rate over time: DURATION:RATE,... ramping linearly from 0 "
                    "(10s:500,1m:500)")
        ->group(load);
    app->add_option("--arrival", options->arrival, "Open model send times: uniform or poisson")
        ->capture_default_str()
        ->group(load);
    const char* fanout = "Fan-out (sse, stream, poll, ws --pattern fanout, mqtt)";
    app->add_option("--pattern", options->pattern,
                    "ws: echo (default, on /echo) or fanout (subscribers on /ws/{topic})")
        ->group(fanout);
    app->add_option("--publishers", options->publishers,
                    "Publishers (HTTP POST /publish/{topic}; mqtt: PUBLISH), each with its own "
                    "sequence")
        ->capture_default_str()
        ->group(fanout);
    app->add_option("--topic", options->topic,
                    "Topic name (the prefix with --topics); mqtt: $share/GROUP/NAME makes the "
                    "subscribers one shared subscription")
        ->capture_default_str()
        ->group(fanout);
    app->add_option("--topics", options->topics,
                    "Spread subscribers and publishers over this many topics (NAME-0, ...)")
        ->capture_default_str()
        ->group(fanout);
    app->add_option("--qos", options->qos, "mqtt: QoS of every PUBLISH and SUBSCRIBE (0, 1, 2)")
        ->capture_default_str()
        ->group(fanout);
    const char* connection = "Connection";
    app->add_option("--source-ip", options->source_ips,
                    "Local addresses to connect from, in turn (127.0.0.2,127.0.0.3): more "
                    "than ~28k connections to one destination")
        ->allow_extra_args(false) // one list per flag: a following URL stays the URL
        ->group(connection);
    app->add_option("--connect-timeout", options->connect_timeout, "Per connection attempt")
        ->capture_default_str()
        ->group(connection);
    app->add_option("--drain", options->drain,
                    "After the last send, wait this long at most for replies and deliveries")
        ->capture_default_str()
        ->group(connection);
    add_bench_foreign_flags(*app, options->foreign);
    const char* output = "Output and thresholds";
    app->add_option("--json", options->json_file,
                    "Write the whole report as JSON (raw histogram counts included)")
        ->group(output);
    app->add_option("--html", options->html_file,
                    "Write a self-contained HTML page with the charts")
        ->group(output);
    app->add_option("--max-p50", options->max_p50, "Exit 10 if latency p50 is above this")
        ->group(output);
    app->add_option("--max-p99", options->max_p99, "Exit 10 if latency p99 is above this (50ms)")
        ->group(output);
    app->add_option("--max-p999", options->max_p999, "Exit 10 if latency p99.9 is above this")
        ->group(output);
    app->add_option("--max-latency", options->max_latency,
                    "Exit 10 if the highest latency is above this")
        ->group(output);
    app->add_option("--max-connect-p99", options->max_connect_p99,
                    "Exit 10 if connect time p99 is above this")
        ->group(output);
    app->add_option("--max-error-rate", options->max_error_rate,
                    "Exit 10 if errors, failed connections and lost messages exceed this share "
                    "of connections plus messages (0.1%, 0.001)")
        ->group(output);
    app->add_option("--check", options->checks,
                    "Check every received message: 'payload~REGEX' (matches) or "
                    "'payload!~REGEX' (does not); repeatable")
        ->allow_extra_args(false) // one per flag: a following URL stays the URL
        ->group(output);
    app->add_option("--max-check-fail-rate", options->max_check_fail_rate,
                    "Exit 10 if more than this share of checked messages failed a --check "
                    "(1%, 0.01)")
        ->group(output);
    app->add_option("--min-rate", options->min_rate,
                    "Exit 10 if fewer messages per second were received")
        ->group(output);
    app->footer(
        R"(Echo (tcp, ws): each connection sends a stamped message and measures the round trip
when the same bytes come back. Fan-out (sse, stream, poll, ws --pattern fanout): publishers
POST stamped messages to /publish/{topic}; mqtt: publishers PUBLISH them at --qos through
the broker. Every subscriber measures delivery latency, loss, duplicates and reordering per
publisher. mqtt speaks MQTT 3.1.1 through rtx's own codec on the worker loops, not Paho.
Closed model (default): the next message when the previous one is answered. Open model
(--rate): a fixed schedule, latency from the intended send time (coordinated omission
corrected). A live line goes to stderr each second on a TTY; the summary goes to stdout.
Failures are counted by kind and never stop the run. Any server: an sse/stream/poll URL with
a path, or --subscribe-only, connects the subscribers to the URL as given (see Patterns in
rtx-bench(1)); --publish-url or --publish-cmd publish stamped messages for exact latency.

Examples:
  rtx bench tcp                                 # 10 connections to an embedded rtx serve
  rtx bench tcp --conns 100 --duration 3s 127.0.0.1:7070
  rtx bench tcp -c 50 --rate 20000 --arrival poisson --max-p99 5ms
  rtx bench ws -c 50 --duration 10s ws://127.0.0.1:8080/echo
  rtx bench ws --pattern fanout -c 500 --publishers 2 --rate 200
  rtx bench mqtt -c 100 --publishers 4 --qos 1 --duration 10s mqtt://127.0.0.1:1883
  rtx bench sse -c 1000 --rate 100 --duration 30s http://127.0.0.1:8080
  rtx bench poll -c 200 --publishers 4 --topics 4 --messages 10000
  rtx bench sse -c 100 -d 30s --stamp-pointer /ts http://127.0.0.1:8000/events  # any server
  rtx bench sse -c 100 --rate 50 --publish-url http://127.0.0.1:8000/publish \
      --check 'payload~^~' --max-check-fail-rate 0.1% http://127.0.0.1:8000/events
  rtx bench mqtt --subscribe-only --topic 'sensors/#' -c 50 mqtt://127.0.0.1:1883
  rtx bench tcp -c 10000 --connect-rate 2000 --rate-per-conn 1 --duration 60s \
      --source-ip 127.0.0.2,127.0.0.3 --json run.json --html run.html
  rtx bench ws -c 100000 --procs 5 ws://127.0.0.1:8081/echo ws://127.0.0.1:8082/echo
  rtx bench ws -c 40000 --shard 1/2 --start-at 2026-12-07T03:00:00Z --json s1.json URL
  rtx bench merge s0.json s1.json --html all.html --max-p99 20ms

Exit status: 0 done, 1 a --procs shard crashed or was killed (its partial report is kept),
2 usage, 3 no connection could be opened, 10 a --max-*/--min-rate threshold was breached,
130 SIGINT, 143 SIGTERM (rtx(1) has the full table).)");
    add_shard_flags(*app, options->scale);
    auto merge_files = add_merge_subcommand(*app);
    return [options, merge_files, app] {
        if (app->get_subcommand("merge")->parsed()) {
            return run_bench_merge(*merge_files, resolve_thresholds(*options), options->json_file,
                                   options->html_file);
        }
        return run_bench(*options);
    };
}

} // namespace rtx::cmd
