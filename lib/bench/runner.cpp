#include "bench/runner.hpp"

#include "bench/embedded_server.hpp"
#include "bench/worker.hpp"
#include "core/log.hpp"
#include "core/signals.hpp"
#include "core/timer.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

namespace rtx::bench {

unsigned long raise_open_files(unsigned long needed) {
    unsigned long soft = core::raise_open_files_limit();
    if (soft >= needed) {
        return soft;
    }
    rlimit limit{};
    limit.rlim_cur = needed;
    limit.rlim_max = needed;
    if (setrlimit(RLIMIT_NOFILE, &limit) == 0) {
        return needed;
    }
    return soft;
}

namespace {

/// "http://127.0.0.1:80" with scheme "ws": "ws://127.0.0.1:80".
std::string replace_scheme(const std::string& url, std::string_view scheme) {
    auto colon = url.find("://");
    return colon == std::string::npos ? url : std::string(scheme) + url.substr(colon);
}

/// Waits until `when` on a loop of its own; SIGINT or SIGTERM end the wait early, and
/// their number is returned.
std::optional<int> wait_until(std::chrono::system_clock::time_point when) {
    core::Loop loop;
    std::optional<int> signal;
    core::Timer timer(loop);
    core::SignalWatcher watcher(loop, [&](int signum) {
        signal = signum;
        loop.stop();
    });
    const auto delay =
        std::chrono::duration_cast<core::Duration>(when - std::chrono::system_clock::now());
    timer.start(std::max(delay, core::Duration{0}), [&loop] { loop.stop(); });
    loop.run();
    return signal;
}

enum class Phase { ramp, measure, drain, finish };

/// The control loop of one run (the calling thread): phases, samples, results.
class Control final : public WorkerListener {
public:
    Control(const Plan& plan, bool live)
        : m_plan(plan)
        , m_live(live)
        , m_check(m_loop)
        , m_second(m_loop)
        , m_signals(m_loop, [this](int signum) { interrupt(signum); }) {}

    RunResult run() {
        for (unsigned i = 0; i < m_plan.threads; ++i) {
            m_workers.push_back(std::make_unique<Worker>(m_plan, i, *this));
        }
        m_results.resize(m_workers.size());
        m_run_start_ns = m_plan.now_ns();
        m_phase_start_ns = m_run_start_ns;
        for (auto& worker : m_workers) {
            worker->start();
        }
        m_check.start(
            std::chrono::milliseconds(20), [this] { check(); }, std::chrono::milliseconds(20));
        m_second.start(
            std::chrono::seconds(1), [this] { sample(); }, std::chrono::seconds(1));
        m_loop.run();
        if (m_live) {
            std::fputs("\r\x1b[K", stderr);
        }
        m_workers.clear(); // joins the threads
        return RunResult{merged(), m_signal};
    }

    void on_interval(unsigned worker, IntervalSample sample) override {
        m_loop.post([this, worker, sample = std::move(sample)]() mutable {
            collect(worker, std::move(sample));
        });
    }

    void on_finished(unsigned worker, WorkerResult result) override {
        auto shared = std::make_shared<WorkerResult>(std::move(result));
        m_loop.post([this, worker, shared] {
            m_results[worker] = std::move(*shared);
            if (++m_finished == m_workers.size()) {
                m_check.stop();
                m_second.stop();
                m_loop.stop();
            }
        });
    }

private:
    struct Pending {
        std::size_t reports = 0;
        Interval interval;
        Histogram latency;
    };

    std::uint64_t sum(std::atomic<std::uint64_t> WorkerProgress::*field) const {
        std::uint64_t total = 0;
        for (const auto& worker : m_workers) {
            total += (worker->progress().*field).load(std::memory_order_relaxed);
        }
        return total;
    }

    /// Fan-out: deliveries expected so far (every subscriber of a topic gets every
    /// acknowledged publish to it; one of them with a shared subscription); echo: replies
    /// expected.
    std::uint64_t expected() const {
        if (!m_plan.fanout) {
            return sum(&WorkerProgress::sent);
        }
        if (m_plan.shard.sharded()) {
            // The subscribers here also receive the other shards' publishes, which this
            // process does not see: the drain lasts --drain.
            return UINT64_MAX;
        }
        std::uint64_t total = 0;
        for (std::size_t t = 0; t < m_plan.topics; ++t) {
            std::uint64_t acked = 0;
            for (const auto& worker : m_workers) {
                acked += worker->progress().acked[t].load(std::memory_order_relaxed);
            }
            total += acked * m_plan.deliveries_per_message(t);
        }
        return total;
    }

    void check() {
        const std::uint64_t now = m_plan.now_ns();
        const std::uint64_t in_phase = now - m_phase_start_ns;
        switch (m_phase) {
        case Phase::ramp:
            // --stages: the stages ramp the connections; the run measures from the start.
            if (m_plan.connection_stages.empty() &&
                sum(&WorkerProgress::settled) < m_plan.connection_range().size()) {
                return;
            }
            m_ramp_end_ns = now;
            // A poll subscriber opens only with its first answer, which needs a publish; a
            // fan-out shard's publishers publish for the other shards' subscribers too.
            if (sum(&WorkerProgress::opened) == 0 && m_plan.protocol != Protocol::poll &&
                m_plan.connection_stages.empty() && !publishes_for_other_shards()) {
                enter(Phase::drain, now); // nothing to measure
                return;
            }
            m_measure_start_ns = now;
            for (auto& worker : m_workers) {
                worker->begin_measure();
            }
            enter(Phase::measure, now);
            return;
        case Phase::measure: {
            bool time_up = m_plan.duration.count() > 0 &&
                           in_phase >= static_cast<std::uint64_t>(m_plan.duration.count()) * 1000;
            bool all_sent = m_plan.senders_end() &&
                            std::all_of(m_workers.begin(), m_workers.end(), [](const auto& w) {
                                return w->progress().sending_done.load(std::memory_order_relaxed);
                            });
            if (time_up || all_sent) {
                stop_sending(now);
            }
            return;
        }
        case Phase::drain:
            if (sum(&WorkerProgress::received) >= expected() ||
                in_phase >= static_cast<std::uint64_t>(m_plan.drain.count()) * 1000) {
                enter(Phase::finish, now);
                for (auto& worker : m_workers) {
                    worker->finish();
                }
            }
            return;
        case Phase::finish:
            return;
        }
    }

    bool publishes_for_other_shards() const {
        return m_plan.fanout && m_plan.shard.sharded() && m_plan.publisher_range().size() > 0;
    }

    void stop_sending(std::uint64_t now) {
        m_measure_end_ns = now;
        for (auto& worker : m_workers) {
            worker->stop_sending();
        }
        enter(Phase::drain, now);
    }

    void enter(Phase phase, std::uint64_t now) {
        m_phase = phase;
        m_phase_start_ns = now;
    }

    void interrupt(int signum) {
        if (m_signal) {
            core::log_info("second signal: stopping now");
            for (auto& worker : m_workers) {
                worker->finish();
            }
            return;
        }
        m_signal = signum;
        if (m_phase == Phase::ramp || m_phase == Phase::measure) {
            if (m_measure_start_ns == 0) {
                m_measure_start_ns = m_plan.now_ns();
            }
            stop_sending(m_plan.now_ns());
        }
    }

    void sample() {
        ++m_tick;
        for (auto& worker : m_workers) {
            worker->sample(m_tick);
        }
    }

    void collect(unsigned, IntervalSample sample) {
        Pending& pending = m_pending[sample.tick];
        pending.interval.t_seconds = static_cast<double>(sample.tick);
        pending.interval.sent += sample.sent;
        pending.interval.received += sample.received;
        pending.interval.errors += sample.errors;
        pending.interval.connections_up += sample.connections_up;
        if (sample.latency) {
            pending.latency.merge(*sample.latency);
        }
        if (++pending.reports < m_workers.size()) {
            return;
        }
        pending.interval.p50_us = pending.latency.value_at_percentile(50);
        pending.interval.p99_us = pending.latency.value_at_percentile(99);
        mark_stage(pending.interval);
        m_timeline.push_back(pending.interval);
        if (m_live) {
            std::string line = "\r\x1b[K" + render_live_line(pending.interval);
            (void)!::write(STDERR_FILENO, line.data(), line.size());
        }
        m_pending.erase(sample.tick);
    }

    /// --stages / --rate-stages: the stage and the targets at the end of the interval.
    void mark_stage(Interval& interval) const {
        const Stages& conns = m_plan.connection_stages;
        const Stages& rates = m_plan.rate_stages;
        if ((conns.empty() && rates.empty()) || m_measure_start_ns == 0) {
            return;
        }
        const std::uint64_t now = m_plan.now_ns();
        const auto since = core::Duration((now - std::min(now, m_measure_start_ns)) / 1000);
        interval.stage = conns.empty() ? rates.index_at(since) : conns.index_at(since);
        interval.target_connections =
            conns.empty() ? m_plan.connections
                          : static_cast<std::uint64_t>(std::llround(conns.value_at(since)));
        interval.target_rate = rates.empty() ? m_plan.rate : rates.value_at(since);
    }

    Report merged() {
        std::vector<Report> reports;
        std::vector<std::uint64_t> acked(m_plan.topics, 0);
        for (auto& result : m_results) {
            reports.push_back(std::move(result.report));
            for (std::size_t t = 0; t < acked.size() && t < result.acked_per_topic.size(); ++t) {
                acked[t] += result.acked_per_topic[t];
            }
        }
        auto merged = merge_reports(reports);
        Report report = merged ? std::move(merged.value()) : Report{};
        // Nothing is sent before the ramp's end: the measured time starts there.
        std::uint64_t start = m_measure_start_ns;
        std::uint64_t end = m_measure_end_ns != 0 ? m_measure_end_ns : m_plan.now_ns();
        report.duration_seconds =
            start != 0 && end > start ? static_cast<double>(end - start) / 1e9 : 0.0;
        // A run cut short during the ramp: the ramp so far.
        std::uint64_t ramp_end = m_ramp_end_ns != 0 ? m_ramp_end_ns : end;
        report.ramp_seconds = static_cast<double>(ramp_end - m_run_start_ns) / 1e9;
        std::uint64_t expected_deliveries = report.messages_sent;
        if (m_plan.fanout) {
            expected_deliveries = 0;
            for (std::size_t t = 0; t < acked.size(); ++t) {
                expected_deliveries += acked[t] * m_plan.deliveries_per_message(t);
            }
        }
        report.lost = expected_deliveries > report.messages_received
                          ? expected_deliveries - report.messages_received
                          : 0;
        add_shard_fields(report, acked);
        std::sort(m_timeline.begin(), m_timeline.end(),
                  [](const Interval& a, const Interval& b) { return a.t_seconds < b.t_seconds; });
        report.timeline = std::move(m_timeline);
        return report;
    }

    /// What merging shards needs: the shard, the wall-clock start, and for fan-out the
    /// per-topic counts that give the loss once every shard's publishes are known.
    void add_shard_fields(Report& report, const std::vector<std::uint64_t>& acked) const {
        if (m_plan.shard.sharded()) {
            report.shard = shard_text(m_plan.shard);
        }
        report.started_at = m_started_at;
        if (!m_plan.fanout) {
            return;
        }
        report.acked_per_topic = acked;
        report.subscribers_per_topic.assign(m_plan.topics, 0);
        const IndexRange mine = m_plan.connection_range();
        for (std::size_t i = mine.begin; i < mine.end; ++i) {
            ++report.subscribers_per_topic[i % m_plan.topics];
        }
        report.shared_subscription = !m_plan.share_group.empty();
        if (m_plan.shard.sharded()) {
            report.lost = 0; // known after the merge (rtx bench merge)
        }
    }

    const Plan& m_plan;
    bool m_live;
    double m_started_at = unix_seconds(std::chrono::system_clock::now());
    core::Loop m_loop;
    core::Timer m_check;
    core::Timer m_second;
    core::SignalWatcher m_signals;
    std::vector<std::unique_ptr<Worker>> m_workers;
    std::vector<WorkerResult> m_results;
    std::size_t m_finished = 0;
    Phase m_phase = Phase::ramp;
    std::uint64_t m_run_start_ns = 0;
    std::uint64_t m_phase_start_ns = 0;
    std::uint64_t m_ramp_end_ns = 0; ///< When every connection's first attempt had ended.
    std::uint64_t m_measure_start_ns = 0;
    std::uint64_t m_measure_end_ns = 0;
    std::uint64_t m_tick = 0;
    std::map<std::uint64_t, Pending> m_pending;
    std::vector<Interval> m_timeline;
    std::optional<int> m_signal;
};

} // namespace

core::Result<std::unique_ptr<EmbeddedServer>> Runner::start_embedded_server(bool own_process) {
    return bench::start_embedded_server(m_plan, own_process);
}

core::Result<std::unique_ptr<EmbeddedServer>> start_embedded_server(Plan& m_plan,
                                                                    bool own_process) {
    serve::ServeOptions options;
    options.tcp_port = 0;
    options.http_port = 0;
    // The MQTT listener on a free port too: the default 1883 may be taken (a broker).
    options.mqtt_port = 0;
    options.max_subscribers =
        std::max<std::size_t>(options.max_subscribers, 2 * m_plan.connections + 16);
    options.ws_max_connections =
        std::max<std::size_t>(options.ws_max_connections, m_plan.connections + 16);
    // The listener the run connects to: its URL becomes the target.
    const char* endpoint = "http";
    if (m_plan.protocol == Protocol::tcp) {
        endpoint = "tcp-echo";
    } else if (m_plan.protocol == Protocol::ws && !m_plan.fanout) {
        endpoint = "ws-echo";
    } else if (m_plan.protocol == Protocol::mqtt) {
        endpoint = "mqtt";
    }
    auto started = own_process ? EmbeddedServer::start_process(options, endpoint)
                               : EmbeddedServer::start_thread(options, endpoint);
    if (!started) {
        return started.error();
    }
    std::string url = started.value()->url();
    if (m_plan.protocol == Protocol::ws) {
        url = replace_scheme(url, "ws"); // fan-out: the http base URL, as ws://
    } else if (m_plan.protocol == Protocol::mqtt) {
        url = replace_scheme(url, "tcp");
    }
    auto parsed = core::parse_url(url, "tcp");
    if (!parsed) {
        return parsed.error();
    }
    m_plan.target = parsed.value();
    core::log_verbose("embedded rtx serve at {}", url);
    return started;
}

Runner::Runner(Plan plan, bool live)
    : m_plan(std::move(plan))
    , m_live(live) {}

core::Result<RunResult> Runner::run() {
    const bool embedded = m_plan.target.host.empty();
    // Each process's descriptors: one per connection and publisher, and a margin for the
    // loops, the lws contexts, stdio and the report files.
    const unsigned long one_side =
        m_plan.connection_range().size() + m_plan.publisher_range().size() + 64;
    const unsigned long both_sides =
        one_side + m_plan.connection_range().size() + m_plan.publisher_range().size();
    unsigned long limit = raise_open_files(embedded ? both_sides : one_side);
    // The embedded server shares bench's fd table when it fits, else it takes its own.
    const bool own_process = embedded && limit < both_sides;
    if (limit < one_side) {
        core::log_info("warning: the open-files limit is {} and this run needs about {}; "
                       "connections past it will fail (ulimit -Hn)",
                       limit, one_side);
    }
    std::unique_ptr<EmbeddedServer> server;
    if (embedded) {
        auto started = start_embedded_server(own_process);
        if (!started) {
            return started.error();
        }
        server = std::move(started.value());
        if (own_process) {
            core::log_verbose("the open-files limit {} cannot hold both ends of {} connections "
                              "in one process: the embedded rtx serve runs in its own",
                              limit, m_plan.connections);
        }
    }
    if (m_plan.start_at > std::chrono::system_clock::now()) {
        // --start-at: every shard begins its ramp at the same instant.
        core::log_verbose("waiting until --start-at");
        if (auto signum = wait_until(m_plan.start_at)) {
            return core::Error{static_cast<core::ExitCode>(core::exit_status_for_signal(*signum)),
                               "interrupted while waiting for --start-at"};
        }
    }
    m_plan.epoch = std::chrono::steady_clock::now();
    Control control(m_plan, m_live);
    RunResult result = control.run();
    server.reset();
    return result;
}

} // namespace rtx::bench
