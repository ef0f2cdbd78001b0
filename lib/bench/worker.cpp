#include "bench/worker.hpp"

#include "bench/clients.hpp"
#include "bench/payload.hpp"
#include "bench/send_clock.hpp"
#include "core/log.hpp"
#include "core/timer.hpp"
#include "transport/http/curl_multi.hpp"
#include "transport/ws/ws_client.hpp"

#include <cmath>
#include <list>
#include <random>

namespace rtx::bench {

namespace {
constexpr std::size_t k_subscribers_per_multi = 32;
}

/// Everything a worker owns, on its thread. The clients call back into it to record.
class Worker::Session final : public Recorder {
public:
    Session(const Plan& plan, unsigned index, WorkerProgress& progress, WorkerListener& listener,
            core::Loop& loop)
        : m_plan(plan)
        , m_index(index)
        , m_progress(progress)
        , m_listener(listener)
        , m_loop(loop)
        , m_keepalive(loop)
        , m_ramp(loop)
        , m_stage_timer(loop)
        , m_interval(std::make_shared<Histogram>()) {}

    ~Session() override {
        teardown();
        // Last, and here: every connection is gone, and the destructor runs the loop to let
        // lws close its handles, which it cannot do inside a loop callback (finish()).
        m_ws.reset();
    }

    /// Prepares what the clients need before start(): the lws client context for ws.
    core::Result<bool> init() {
        if (m_plan.protocol != Protocol::ws) {
            return true;
        }
        // lws allocates the receive buffer of every connection up front, and with thousands
        // of idle connections it was most of their memory: 256 bytes take a default 64-byte
        // message whole (handed over without a copy); larger ones are joined from pieces.
        // lws reads the socket into one buffer per loop, so this costs no system calls.
        constexpr std::size_t k_rx_buffer = 256;
        m_ws = std::make_unique<transport::WsClient>(m_loop, m_plan.foreign.tls, std::string{},
                                                     k_rx_buffer);
        auto ready = m_ws->init();
        if (!ready) {
            m_ws.reset();
        }
        return ready;
    }

    void start() {
        // Keeps run() going between phases, when nothing else may be pending.
        m_keepalive.start(
            std::chrono::hours(1), [] {}, std::chrono::hours(1));
        m_started_ns = m_plan.now_ns();
        m_clock = std::make_unique<SendClock>(
            m_loop, m_plan.local_senders(),
            [this](std::size_t sender, OpenScheduler::Clock::time_point intended) {
                send_scheduled(sender, intended);
            });
        ClientContext context{m_plan, m_loop, nullptr, m_ws.get(), *this, *m_clock};
        const bool http_fanout =
            m_plan.fanout && m_plan.protocol != Protocol::ws && m_plan.protocol != Protocol::mqtt;
        // Global indices (this shard's block of them), so ids and stamps stay distinct
        // across shards.
        const IndexRange connections = m_plan.connection_range();
        for (std::size_t i = connections.begin + m_index; i < connections.end;
             i += m_plan.threads) {
            if (m_plan.fanout) {
                context.multi = http_fanout ? multi_for(m_clients.size()) : nullptr;
                m_clients.push_back(make_subscriber(context, i));
            } else {
                m_clients.push_back(make_echo_client(context, i, m_senders.size()));
                m_senders.push_back(dynamic_cast<Sender*>(m_clients.back().get()));
            }
        }
        if (m_plan.fanout) {
            // Publishers and the poll probe share the first group's multi handle.
            context.multi = m_plan.protocol == Protocol::mqtt ? nullptr : multi_for(0);
            const IndexRange publishers = m_plan.publisher_range();
            for (std::size_t i = publishers.begin + m_index; i < publishers.end;
                 i += m_plan.threads) {
                m_publishers.push_back(m_plan.protocol == Protocol::mqtt
                                           ? make_mqtt_publisher(context, i, m_senders.size())
                                           : make_publisher(context, i, m_senders.size()));
                m_senders.push_back(m_publishers.back().get());
            }
        }
        if (m_plan.protocol == Protocol::ws && !m_ws) {
            // init() failed (logged): no connection can be made; each counts as failed.
            for (std::size_t i = 0; i < m_clients.size(); ++i) {
                record_error(ErrorKind::other);
                record_settled();
            }
            return;
        }
        if (m_plan.protocol == Protocol::poll && !m_plan.foreign.subscribe_only) {
            m_probe = std::make_unique<CursorProbe>(context, [this] { start_connecting(); });
            m_probe->start(m_clients);
            return;
        }
        start_connecting();
    }

    void begin_measure() {
        m_measuring = true;
        m_measure_start_ns = m_plan.now_ns();
        if (!m_plan.fanout && m_plan.messages == 0) {
            // Echo with --duration: messages stamped before now are warm-up, and so are
            // their replies, however late they come back (a server still digesting the
            // ramp answers them seconds later; counting them would put the ramp's latency
            // into the measured window and count more replies than sends).
            m_window_start_ns = m_plan.now_ns();
            m_latency.reset();
            m_warmup_sent = m_sent;
            m_warmup_received = m_received;
            m_warmup_bytes_sent = m_bytes_sent;
            m_warmup_bytes_received = m_bytes_received;
        }
        for (Sender* sender : m_senders) {
            sender->begin();
        }
        check_sending_done();
    }

    void sample(std::uint64_t tick) {
        IntervalSample sample;
        sample.tick = tick;
        sample.sent = m_sent - m_sample_sent;
        sample.received = m_received - m_sample_received;
        sample.errors = m_errors.total() - m_sample_errors;
        sample.connections_up = m_open;
        m_sample_sent = m_sent;
        m_sample_received = m_received;
        m_sample_errors = m_errors.total();
        sample.latency = std::exchange(m_interval, std::make_shared<Histogram>());
        m_listener.on_interval(m_index, std::move(sample));
    }

    void stop_sending() {
        m_sending = false;
        m_clock->stop_all();
    }

    void finish() {
        m_finishing = true;
        m_listener.on_finished(m_index, result());
        teardown();
        m_keepalive.stop();
        m_loop.stop();
    }

    // Recorder
    const Plan& plan() const override { return m_plan; }
    bool sending() const override { return m_sending && may_send(); }
    bool running() const override { return !m_finishing; }
    void record_sent(std::size_t bytes, std::uint64_t stamp_ns) override {
        ++m_sent;
        m_bytes_sent += bytes;
        m_progress.sent.store(m_sent, std::memory_order_relaxed);
        if (stamp_ns < m_window_start_ns) {
            ++m_warmup_sent;
            m_warmup_bytes_sent += bytes;
        }
    }
    void record_received(std::size_t bytes, std::uint64_t sent_ns) override {
        ++m_received;
        m_bytes_received += bytes;
        m_progress.received.store(m_received, std::memory_order_relaxed);
        std::uint64_t now = m_plan.now_ns();
        std::uint64_t us = now > sent_ns ? (now - sent_ns) / 1000 : 0;
        m_interval->record(us);
        if (sent_ns < m_window_start_ns) {
            ++m_warmup_received;
            m_warmup_bytes_received += bytes;
            return;
        }
        m_latency.record(us);
    }
    void record_untimed(std::size_t bytes) override {
        ++m_received;
        ++m_untimed;
        m_bytes_received += bytes;
        m_progress.received.store(m_received, std::memory_order_relaxed);
    }
    void record_gap(std::uint64_t us) override {
        if (m_measuring) {
            m_gap.record(us);
        }
    }
    bool measuring() const override { return m_measuring && !m_finishing; }
    void record_check(bool passed) override { ++(passed ? m_checks_passed : m_checks_failed); }
    void record_duplicate() override { ++m_duplicates; }
    void record_reordered() override { ++m_reordered; }
    void record_acked(std::size_t topic_index) override {
        ++m_acked[topic_index];
        m_progress.acked[topic_index].store(m_acked[topic_index], std::memory_order_relaxed);
    }
    void record_error(ErrorKind kind) override {
        if (m_finishing) {
            return;
        }
        switch (kind) {
        case ErrorKind::refused:
            ++m_errors.refused;
            break;
        case ErrorKind::timeout:
            ++m_errors.timeout;
            break;
        case ErrorKind::reset:
            ++m_errors.reset;
            break;
        case ErrorKind::protocol:
            ++m_errors.protocol;
            break;
        case ErrorKind::closed_by_peer:
            ++m_errors.closed_by_peer;
            break;
        case ErrorKind::other:
            ++m_errors.other;
            break;
        }
    }
    void record_connected(std::uint64_t connect_ns, bool first_time) override {
        ++m_open;
        m_connect_time.record(connect_ns / 1000);
        if (first_time) {
            m_progress.opened.fetch_add(1, std::memory_order_relaxed);
        } else {
            ++m_reconnects;
        }
    }
    void record_disconnected() override { --m_open; }
    void record_settled() override {
        m_progress.settled.fetch_add(1, std::memory_order_relaxed);
        if (m_in_flight > 0) {
            --m_in_flight;
            connect_within_window();
        }
    }
    void sender_done() override {
        ++m_senders_done;
        check_sending_done();
    }

private:
    bool may_send() const {
        // Nobody sends before the ramp's end: publishers, so that every subscriber is up
        // for the first publish; echo connections, because a server echoing for the open
        // connections at full speed (the closed model) answers the handshakes of the others
        // late: with 10,000 ws connections the ramp took 106 s instead of a few.
        return m_measuring;
    }

    void start_connecting() {
        if (m_plan.connection_stages.empty()) {
            ramp();
            return;
        }
        m_stage_timer.start(
            std::chrono::milliseconds(0), [this] { follow_stages(); },
            std::chrono::milliseconds(100));
    }

    /// --stages: this worker's connections up or down to its share of the target now
    /// (connection i of the run is up when i < target: the shares add up to the target).
    void follow_stages() {
        const auto elapsed = core::Duration((m_plan.now_ns() - m_started_ns) / 1000);
        // A shard (--shard, --procs) follows its own share of the whole test's stages.
        const double share = m_plan.connections == 0
                                 ? 0.0
                                 : static_cast<double>(m_plan.connection_range().size()) /
                                       static_cast<double>(m_plan.connections);
        const auto target = static_cast<std::size_t>(
            std::llround(m_plan.connection_stages.value_at(elapsed) * share));
        const std::size_t local =
            target > m_index ? (target - m_index + m_plan.threads - 1) / m_plan.threads : 0;
        const std::size_t wanted = std::min(local, m_clients.size());
        while (m_stage_up < wanted) {
            m_clients[m_stage_up++]->connect();
        }
        while (m_stage_up > wanted) {
            m_clients[--m_stage_up]->park();
        }
    }

    /// --rate-stages: whether the message `sender` has due at `intended_ns` is sent: the
    /// schedule runs at the peak rate and keeps the stage's share of its messages.
    bool keep_at_stage_rate(std::size_t sender, std::uint64_t intended_ns) {
        if (m_plan.rate_stages.empty()) {
            return true;
        }
        if (m_thinning.size() <= sender) {
            m_thinning.resize(m_senders.size(), 0.0);
        }
        const std::uint64_t since =
            intended_ns > m_measure_start_ns ? intended_ns - m_measure_start_ns : 0;
        const double share =
            m_plan.rate_stages.value_at(core::Duration(since / 1000)) / m_plan.rate;
        m_thinning[sender] += share;
        if (m_thinning[sender] < 1.0) {
            return false;
        }
        m_thinning[sender] -= 1.0;
        return true;
    }

    void ramp() {
        if (m_plan.connect_rate <= 0) {
            // This worker's share of the window (the shares add up to the whole); with no
            // window, all at once.
            m_window = m_plan.connect_window == 0
                           ? m_clients.size()
                           : std::max<std::size_t>(1, share(m_plan.connect_window));
            connect_within_window();
            return;
        }
        // This worker's share of the rate, paced by a 10 ms timer: after t seconds,
        // floor(t * rate) + 1 connections have been started.
        const double rate = m_plan.connect_rate / m_plan.threads;
        m_ramp.start(
            std::chrono::milliseconds(0),
            [this, rate] {
                double elapsed = static_cast<double>(m_plan.now_ns() - m_started_ns) / 1e9;
                auto due = static_cast<std::size_t>(elapsed * rate) + 1;
                while (m_next_connect < m_clients.size() && m_next_connect < due) {
                    m_clients[m_next_connect++]->connect();
                }
                if (m_next_connect >= m_clients.size()) {
                    m_ramp.stop();
                }
            },
            std::chrono::milliseconds(10));
    }

    /// Starts first attempts while fewer than m_window are in flight. A connect() may
    /// settle at once (a failure, or poll, which settles on start) and call back here:
    /// the outer call keeps going instead.
    void connect_within_window() {
        if (m_connecting) {
            return;
        }
        m_connecting = true;
        while (m_next_connect < m_clients.size() && m_in_flight < m_window) {
            ++m_in_flight;
            m_clients[m_next_connect++]->connect();
        }
        m_connecting = false;
    }

    /// This worker's part of `total` when it is split over the workers as the connections
    /// are (the first total % threads workers take one more).
    std::size_t share(std::size_t total) const {
        return total / m_plan.threads + (m_index < total % m_plan.threads ? 1 : 0);
    }

    /// The curl multi handle of the subscriber with local index `local`: one per group of
    /// k_subscribers_per_multi. curl looks for a reusable connection by scanning every
    /// connection its multi handle holds to the same host, on each new request; with
    /// thousands of subscribers on one handle that scan made each connect (and each
    /// long-poll request) cost O(subscribers) and the 10,000-subscriber ramp O(n^2).
    /// Small groups keep keep-alive reuse for the poll loop and bound the scan.
    transport::http::CurlMulti* multi_for(std::size_t local) {
        std::size_t group = local / k_subscribers_per_multi;
        while (m_multis.size() <= group) {
            m_multis.push_back(std::make_unique<transport::http::CurlMulti>(m_loop));
            // Every subscriber of the group, plus the publisher and the probe of group 0.
            m_multis.back()->keep_idle_connections(k_subscribers_per_multi + 2);
        }
        return m_multis[group].get();
    }

    void send_scheduled(std::size_t sender, OpenScheduler::Clock::time_point intended) {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(intended - m_plan.epoch);
        const auto intended_ns = static_cast<std::uint64_t>(std::max<std::int64_t>(0, ns.count()));
        if (keep_at_stage_rate(sender, intended_ns)) {
            m_senders[sender]->send_at(intended_ns);
        }
    }

    void check_sending_done() {
        if (m_plan.senders_end() && m_senders_done >= m_senders.size()) {
            m_progress.sending_done.store(true, std::memory_order_relaxed);
        }
    }

    WorkerResult result() {
        WorkerResult out;
        Report& r = out.report;
        r.protocol = std::string(protocol_name(m_plan.protocol));
        r.pattern = m_plan.fanout ? "fanout" : "echo";
        r.load_model = m_plan.open_model ? "open" : "closed";
        // The broker's own scheme, not the raw TCP the codec runs on.
        auto url_text = [this](const core::Url& url) {
            return (m_plan.protocol == Protocol::mqtt ? std::string("mqtt") : url.scheme) + "://" +
                   url.authority();
        };
        r.target = url_text(m_plan.target);
        if (m_plan.foreign.subscribe_only && m_plan.protocol != Protocol::mqtt) {
            r.target = m_plan.target.to_string(); // the URL every subscriber takes
        }
        for (std::size_t i = 1; i < m_plan.targets.size(); ++i) {
            r.target += " " + (m_plan.foreign.subscribe_only && m_plan.protocol != Protocol::mqtt
                                   ? m_plan.targets[i].to_string()
                                   : url_text(m_plan.targets[i])); // several servers
        }
        r.rate = m_index == 0 && m_plan.open_model
                     ? shard_rate(m_plan.rate, m_plan.senders(), m_plan.shard)
                     : 0;
        r.arrival =
            m_plan.open_model ? (m_plan.arrival == Arrival::poisson ? "poisson" : "uniform") : "";
        r.threads = 1;
        r.connect_rate = m_index == 0 ? m_plan.connect_rate : 0;
        r.connect_window = m_plan.connect_rate <= 0 && m_plan.connect_window > 0
                               ? std::max<std::size_t>(1, share(m_plan.connect_window))
                               : 0;
        r.message_size = std::max(m_plan.size, k_stamp_size);
        std::uint64_t never_opened = 0;
        for (const auto& client : m_clients) {
            never_opened += client->ever_opened() ? 0U : 1U;
        }
        r.connections = m_clients.size();
        r.connections_failed = never_opened;
        if (m_plan.fanout) {
            r.subscribers = m_clients.size();
            r.publishers = m_publishers.size();
            for (const auto& client : m_clients) {
                r.per_subscriber.record(client->delivered());
            }
        }
        r.gap = m_gap;
        r.reconnects = m_reconnects;
        r.untimed = m_untimed;
        r.checks_passed = m_checks_passed;
        r.checks_failed = m_checks_failed;
        r.messages_sent = m_sent - m_warmup_sent;
        r.messages_received = m_received - m_warmup_received;
        r.bytes_sent = m_bytes_sent - m_warmup_bytes_sent;
        r.bytes_received = m_bytes_received - m_warmup_bytes_received;
        r.duplicates = m_duplicates;
        r.reordered = m_reordered;
        r.errors = m_errors;
        r.latency = m_latency;
        r.connect_time = m_connect_time;
        out.acked_per_topic = m_acked;
        return out;
    }

    void teardown() {
        // Clients before publishers before the curl multi they run on; the clock last, as
        // clients stop their schedules when they close. Closing clients settle: a closed
        // window keeps them from starting others.
        m_ramp.stop();
        m_stage_timer.stop();
        m_window = 0;
        m_probe.reset();
        m_senders.clear();
        m_clients.clear();
        m_publishers.clear();
        m_multis.clear();
        m_clock.reset();
    }

    const Plan& m_plan;
    unsigned m_index;
    WorkerProgress& m_progress;
    WorkerListener& m_listener;
    core::Loop& m_loop;
    core::Timer m_keepalive;
    core::Timer m_ramp;
    core::Timer m_stage_timer;      ///< --stages: follows the connection target.
    std::size_t m_stage_up = 0;     ///< --stages: clients [0, m_stage_up) are connected.
    std::vector<double> m_thinning; ///< --rate-stages: per sender, the share carried over.
    std::uint64_t m_measure_start_ns = 0;
    std::unique_ptr<transport::WsClient> m_ws; ///< ws: shared by this worker's connections.
    std::vector<std::unique_ptr<transport::http::CurlMulti>> m_multis;
    std::unique_ptr<SendClock> m_clock;
    std::unique_ptr<CursorProbe> m_probe;
    std::vector<std::unique_ptr<Client>> m_clients;
    std::vector<std::unique_ptr<Sender>> m_publishers;
    std::vector<Sender*> m_senders; ///< Echo clients or publishers, by local sender index.
    std::size_t m_next_connect = 0;
    std::size_t m_window = 0;    ///< Without a connect rate: first attempts in flight at most.
    std::size_t m_in_flight = 0; ///< First attempts started and not yet settled.
    bool m_connecting = false;   ///< connect_within_window() is on the stack.
    std::uint64_t m_started_ns = 0;
    bool m_measuring = false;
    bool m_sending = true;
    bool m_finishing = false;
    std::size_t m_senders_done = 0;

    Histogram m_latency;
    Histogram m_connect_time;
    std::shared_ptr<Histogram> m_interval;
    std::uint64_t m_sent = 0;
    std::uint64_t m_received = 0;
    std::uint64_t m_bytes_sent = 0;
    std::uint64_t m_bytes_received = 0;
    /// Echo with --duration: messages stamped before this are warm-up (0: none are).
    std::uint64_t m_window_start_ns = 0;
    std::uint64_t m_warmup_sent = 0;
    std::uint64_t m_warmup_received = 0;
    std::uint64_t m_warmup_bytes_sent = 0;
    std::uint64_t m_warmup_bytes_received = 0;
    std::uint64_t m_sample_sent = 0;
    std::uint64_t m_sample_received = 0;
    std::uint64_t m_sample_errors = 0;
    std::uint64_t m_duplicates = 0;
    std::uint64_t m_reordered = 0;
    std::uint64_t m_open = 0;
    std::uint64_t m_reconnects = 0;
    std::uint64_t m_untimed = 0;
    std::uint64_t m_checks_passed = 0;
    std::uint64_t m_checks_failed = 0;
    Histogram m_gap;
    ErrorCounts m_errors;
    std::vector<std::uint64_t> m_acked = std::vector<std::uint64_t>(m_plan.topics, 0);
};

Worker::Worker(const Plan& plan, unsigned index, WorkerListener& listener)
    : m_plan(plan)
    , m_index(index)
    , m_listener(listener) {
    m_progress.acked = std::vector<std::atomic<std::uint64_t>>(plan.topics);
}

Worker::~Worker() {
    if (m_thread.joinable()) {
        m_thread.join();
    }
}

std::size_t Worker::connection_count() const {
    const std::size_t connections = m_plan.connection_range().size();
    return connections / m_plan.threads + (m_index < connections % m_plan.threads ? 1 : 0);
}

void Worker::start() {
    m_thread = std::thread([this] {
        // Started before run(): a loop with nothing active would return at once, without
        // looking at posted tasks.
        Session session(m_plan, m_index, m_progress, m_listener, m_loop);
        m_session = &session;
        if (auto ready = session.init(); !ready) {
            // Without its client context the worker cannot connect: every connection fails.
            core::log_error("{}", ready.error().message);
        }
        session.start();
        m_loop.run();
        m_session = nullptr;
    });
}

void Worker::begin_measure() {
    m_loop.post([this] {
        if (m_session != nullptr) {
            m_session->begin_measure();
        }
    });
}

void Worker::sample(std::uint64_t tick) {
    m_loop.post([this, tick] {
        if (m_session != nullptr) {
            m_session->sample(tick);
        }
    });
}

void Worker::stop_sending() {
    m_loop.post([this] {
        if (m_session != nullptr) {
            m_session->stop_sending();
        }
    });
}

void Worker::finish() {
    m_loop.post([this] {
        if (m_session != nullptr) {
            m_session->finish();
        }
    });
}

} // namespace rtx::bench
