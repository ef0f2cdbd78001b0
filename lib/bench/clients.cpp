#include "bench/clients.hpp"

#include "bench/delivery.hpp"
#include "bench/line_command.hpp"
#include "bench/payload.hpp"
#include "bench/send_clock.hpp"
#include "bench/sequence_tracker.hpp"
#include "core/fifo.hpp"
#include "core/log.hpp"
#include "transport/connect.hpp"
#include "transport/http/curl_multi.hpp"
#include "transport/http/http_stream_connection.hpp"
#include "transport/http/poll_connection.hpp"
#include "transport/ws/ws_client.hpp"

#include <fmt/format.h>

#include <map>
#include <random>

namespace rtx::bench {

using core::ExitCode;

std::optional<ErrorKind> error_kind(const transport::CloseInfo& info) {
    switch (info.exit_code) {
    case ExitCode::ok:
        if (!info.by_peer) {
            return std::nullopt; // we closed it
        }
        return ErrorKind::closed_by_peer;
    case ExitCode::connect_failed:
        return info.was_open ? ErrorKind::reset : ErrorKind::refused;
    case ExitCode::timeout:
        return ErrorKind::timeout;
    case ExitCode::connection_lost:
        return ErrorKind::reset;
    case ExitCode::protocol_error:
    case ExitCode::http_status:
    case ExitCode::closed_abnormally:
    case ExitCode::tls_failed:
        return ErrorKind::protocol;
    default:
        return ErrorKind::other;
    }
}

namespace {

/// The base URL of the fan-out server for HTTP: "http://127.0.0.1:8080" (also when ws
/// subscribers take ws://127.0.0.1:8080: the publishers POST to the same server).
std::string base_url(const Plan& plan, std::size_t index) {
    const core::Url& target = plan.target_for(index);
    std::string scheme = target.scheme;
    if (scheme == "ws") {
        scheme = "http";
    } else if (scheme == "wss") {
        scheme = "https";
    }
    return scheme + "://" + target.authority();
}

/// Bench connections do not offer permessage-deflate: the payloads are filler that would
/// compress to nothing, and the run would measure zlib rather than the server.
transport::WsOptions ws_options() {
    transport::WsOptions options;
    options.compress = false;
    options.linger = std::chrono::seconds(1);
    return options;
}

} // namespace

const std::string& source_ip(const Plan& plan, std::size_t index) {
    static const std::string none;
    return plan.source_ips.empty() ? none : plan.source_ips[index % plan.source_ips.size()];
}

std::uint64_t seed_for(const Plan& plan, std::size_t index) {
    return (std::uint64_t{plan.run_id} << 32) ^ (index * 0x9e3779b97f4a7c15ULL);
}

OpenScheduler::Clock::time_point first_due(double rate, std::uint64_t seed) {
    std::mt19937_64 random(seed);
    double phase = std::uniform_real_distribution<double>(0.0, 1.0 / rate)(random);
    return OpenScheduler::Clock::now() +
           std::chrono::nanoseconds(static_cast<std::int64_t>(phase * 1e9));
}

// --- Client ----------------------------------------------------------------------------

Client::Client(ClientContext context, std::size_t index)
    : m_context(context)
    , m_index(index) {}

Client::~Client() {
    m_connection.reset();
}

void Client::connect() {
    m_parked = false;
    attempt();
    if (settles_on_start()) {
        settle();
    }
}

void Client::park() {
    m_parked = true;
    if (m_retry) {
        m_retry->stop();
    }
    if (m_open) {
        m_open = false;
        m_context.recorder.record_disconnected();
    }
    closed();
    settle();
    m_connection.reset(); // destroying a connection closes it without calling back
}

void Client::attempt() {
    m_attempt_started_ns = m_context.plan.now_ns();
    m_connection = make_connection();
}

void Client::settle() {
    if (!m_settled) {
        m_settled = true;
        m_context.recorder.record_settled();
    }
}

void Client::on_open(transport::Connection&) {
    m_open = true;
    bool first = !m_ever_opened;
    m_ever_opened = true;
    m_context.recorder.record_connected(m_context.plan.now_ns() - m_attempt_started_ns, first);
    settle();
    opened();
}

void Client::on_close(transport::Connection&, const transport::CloseInfo& info) {
    if (m_open) {
        m_open = false;
        m_context.recorder.record_disconnected();
    }
    closed();
    Recorder& recorder = m_context.recorder;
    if (recorder.running()) {
        if (auto kind = error_kind(info)) {
            recorder.record_error(*kind);
            core::log_verbose("connection {}: {}", m_index + 1, info.reason);
        }
    }
    settle();
    m_connection.reset(); // allowed inside on_close; nothing touches it afterwards
    if (!recorder.running()) {
        return;
    }
    // A load test goes on through failures: the connection comes back after a pause.
    if (!m_retry) {
        m_retry = std::make_unique<core::Timer>(m_context.loop);
    }
    m_retry->start(m_context.plan.reconnect_delay, [this] {
        if (m_context.recorder.running() && !m_connection && !m_parked) {
            attempt();
        }
    });
}

// --- Echo ------------------------------------------------------------------------------

namespace {

class EchoClient final : public Client, public Sender {
public:
    EchoClient(ClientContext context, std::size_t index, std::size_t sender)
        : Client(context, index)
        , m_sender(sender)
        , m_quota(context.plan.quota(index))
        , m_builder(context.plan.payload_text, context.plan.size) {}

    /// The ramp is over: an open connection starts sending (one that opens later starts
    /// in opened()).
    void begin() override {
        if (m_connection && m_connection->is_open()) {
            start_sending();
        }
    }

    void send_at(std::uint64_t intended_ns) override { send(intended_ns); }

private:
    std::unique_ptr<transport::Connection> make_connection() override {
        const Plan& plan = m_context.plan;
        transport::ConnectOptions options;
        options.connect_timeout = plan.connect_timeout;
        options.framing = proto::Framing::lines;
        options.source_ip = source_ip(plan, m_index);
        options.tls = plan.foreign.tls;
        if (plan.protocol == Protocol::ws) {
            transport::WsOptions ws = ws_options();
            ws.headers = foreign_ws_headers(plan.foreign);
            return m_context.ws->connect(plan.target_for(m_index), options, ws, *this, m_index + 1);
        }
        return transport::connect(m_context.loop, plan.target_for(m_index), std::move(options),
                                  *this, m_index + 1);
    }

    void opened() override {
        if (m_context.recorder.sending()) {
            start_sending();
        }
    }

    void start_sending() {
        const Plan& plan = m_context.plan;
        if (!plan.open_model) {
            send(plan.now_ns());
            return;
        }
        double rate = plan.rate / static_cast<double>(plan.connections);
        std::uint64_t seed = seed_for(plan, m_index) + m_sent;
        m_context.clock.start(m_sender, rate, plan.arrival, seed, first_due(rate, seed), 0);
    }

    void closed() override {
        m_context.clock.stop(m_sender);
        m_outstanding.clear(); // their replies will not come: lost
    }

    void send(std::uint64_t intended_ns) {
        if (!m_context.recorder.sending() || !m_connection || !m_connection->is_open() ||
            (m_quota > 0 && m_sent >= m_quota)) {
            return;
        }
        const Plan& plan = m_context.plan;
        std::string_view bytes;
        if (plan.echo_messages.active()) {
            // The user's message: the round trip ends with the next (matching) reply.
            const auto& templates = plan.echo_messages.templates;
            templates[m_sequence % templates.size()].render(m_text, m_sequence, m_index + 1,
                                                            wall_ms());
            ++m_sequence;
            m_outstanding.push_back(intended_ns);
            bytes = m_text;
        } else {
            Stamp stamp{plan.run_id, static_cast<std::uint32_t>(m_index), m_sequence++,
                        intended_ns};
            bytes = m_builder.build(stamp);
        }
        m_connection->send(transport::Message{bytes});
        m_context.recorder.record_sent(bytes.size(), intended_ns);
        if (m_quota > 0 && ++m_sent == m_quota) {
            m_context.clock.stop(m_sender);
            m_context.recorder.sender_done();
        }
    }

    void on_message(transport::Connection&, const transport::Message& message) override {
        const Plan& plan = m_context.plan;
        if (plan.echo_messages.active()) {
            on_reply(message.payload);
            return;
        }
        auto stamp = find_stamp(message.payload);
        if (!stamp || stamp->run != plan.run_id || stamp->sender != m_index) {
            m_context.recorder.record_error(ErrorKind::protocol); // not what we sent
            return;
        }
        m_context.recorder.record_received(message.payload.size(), stamp->sent_ns);
        if (!plan.checks.empty()) {
            m_context.recorder.record_check(passes(plan.checks, message.payload));
        }
        if (!plan.open_model) {
            send(plan.now_ns());
        }
    }

    /// --message: a reply to the user's message. With --expect only a matching one ends
    /// the oldest round trip (a server may send other messages between); others are
    /// ignored, as are replies when nothing is outstanding.
    void on_reply(std::string_view payload) {
        const Plan& plan = m_context.plan;
        const auto& expect = plan.echo_messages.expect;
        if (m_outstanding.empty() ||
            (expect && !std::regex_search(payload.begin(), payload.end(), *expect))) {
            return;
        }
        const std::uint64_t sent_ns = m_outstanding.front();
        m_outstanding.pop_front();
        m_context.recorder.record_received(payload.size(), sent_ns);
        if (!plan.checks.empty()) {
            m_context.recorder.record_check(passes(plan.checks, payload));
        }
        if (!plan.open_model) {
            send(plan.now_ns());
        }
    }

    static std::int64_t wall_ms() {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }

    std::size_t m_sender;
    std::uint64_t m_quota;
    std::uint64_t m_sent = 0;
    std::uint64_t m_sequence = 0;
    PayloadBuilder m_builder;
    std::string m_text; ///< --message: the message being sent.
    /// --message: send times awaiting replies. Not a std::deque, which allocates 512 bytes
    /// with every connection, idle or not.
    core::Fifo<std::uint64_t> m_outstanding;
};

} // namespace

namespace {

// --- Fan-out subscriber ----------------------------------------------------------------

class SubscriberClient final : public Client {
public:
    SubscriberClient(ClientContext context, std::size_t index)
        : Client(context, index)
        , m_topic(context.plan.topic_name(index))
        , m_tally(context.plan.publishers) {}

    std::uint64_t delivered() const override { return m_tally.counted; }
    const std::string& topic() const { return m_topic; }
    void start_from(const std::string& cursor) { m_poll_state->cursor = cursor; }

private:
    bool settles_on_start() const override { return m_context.plan.protocol == Protocol::poll; }

    std::unique_ptr<transport::Connection> make_connection() override {
        using namespace transport::http;
        const Plan& plan = m_context.plan;
        const bool foreign = plan.foreign.subscribe_only;
        if (plan.protocol == Protocol::ws) {
            // A foreign server: the URL as given; rtx serve: its /ws/{topic}.
            const core::Url& target = plan.target_for(m_index);
            auto url = foreign ? core::Result<core::Url>(target)
                               : core::parse_url(fmt::format("{}://{}/ws/{}", target.scheme,
                                                             target.authority(), m_topic),
                                                 "ws");
            transport::ConnectOptions options;
            options.connect_timeout = plan.connect_timeout;
            options.source_ip = source_ip(plan, m_index);
            options.tls = plan.foreign.tls;
            transport::WsOptions ws = ws_options();
            ws.headers = foreign_ws_headers(plan.foreign);
            return m_context.ws->connect(url.value(), options, ws, *this, m_index + 1);
        }
        HttpRequest request;
        request.url = foreign ? plan.target_for(m_index).to_string()
                              : fmt::format("{}/{}/{}", base_url(plan, m_index),
                                            protocol_name(plan.protocol), m_topic);
        request.http2 = false;
        request.connect_timeout = plan.connect_timeout;
        request.source_ip = source_ip(plan, m_index);
        apply_foreign_http(plan.foreign, request);
        if (plan.protocol == Protocol::poll) {
            PollOptions poll;
            // A foreign server's answer is one message per body, with the cursor (if any)
            // in X-Cursor; rtx serve's is JSON with both.
            poll.cursor_pointer = foreign ? "" : "/cursor";
            poll.items_pointer = foreign ? "" : "/messages";
            auto connection = std::make_unique<PollConnection>(
                *m_context.multi, std::move(request), poll, m_poll_state, *this, m_index + 1);
            connection->start();
            return connection;
        }
        auto format = plan.protocol == Protocol::sse ? BodyFormat::sse : BodyFormat::lines;
        auto connection = std::make_unique<HttpStreamConnection>(
            *m_context.multi, std::move(request), format, m_sse_state, *this, m_index + 1);
        connection->start();
        return connection;
    }

    void on_message(transport::Connection&, const transport::Message& message) override {
        record_delivery(m_context, m_tally, message.payload);
    }

    std::string m_topic;
    SubscriberTally m_tally;
    /// Kept across reconnects, as `rtx sse` and `rtx poll` do: Last-Event-ID and the poll
    /// cursor let a reconnected subscriber catch up from the server's history.
    std::shared_ptr<transport::http::SseState> m_sse_state =
        std::make_shared<transport::http::SseState>();
    std::shared_ptr<transport::http::PollState> m_poll_state =
        std::make_shared<transport::http::PollState>();
};

} // namespace

// --- Fan-out publisher -----------------------------------------------------------------

ScheduledPublisher::ScheduledPublisher(ClientContext context, std::size_t index, std::size_t sender)
    : m_context(context)
    , m_index(index)
    , m_topic_index(index % std::max<std::size_t>(1, context.plan.topics))
    , m_sender(sender)
    , m_quota(context.plan.quota(index))
    , m_builder(context.plan.payload_text, context.plan.size) {}

ScheduledPublisher::~ScheduledPublisher() = default;

void ScheduledPublisher::begin() {
    const Plan& plan = m_context.plan;
    m_began = true;
    if (!plan.foreign.publish_cmd.empty()) {
        start_command();
        return;
    }
    if (!plan.open_model) {
        enqueue(plan.now_ns());
        return;
    }
    double rate = plan.rate / static_cast<double>(plan.publishers);
    std::uint64_t seed = seed_for(plan, m_index);
    m_context.clock.start(m_sender, rate, plan.arrival, seed, first_due(rate, seed), 0);
}

void ScheduledPublisher::enqueue(std::uint64_t intended_ns) {
    if (!m_context.recorder.sending() || (m_quota > 0 && m_published >= m_quota)) {
        return;
    }
    m_waiting.push_back(intended_ns);
    if (m_quota > 0 && ++m_published == m_quota) {
        m_context.clock.stop(m_sender);
    }
    pump();
}

void ScheduledPublisher::start_command() {
    m_command = std::make_unique<LineCommand>(
        m_context.loop, m_context.plan.foreign.publish_cmd,
        [this](std::string_view line) { command_line(line); }, [this] { command_ended(); });
    if (auto started = m_command->start(); !started) {
        core::log_error("{}", started.error().message);
        m_command.reset();
        command_ended();
    }
}

void ScheduledPublisher::command_line(std::string_view line) {
    if (!m_context.recorder.sending()) {
        return;
    }
    m_waiting.push_back(m_context.plan.now_ns()); // the line's time is when it was read
    m_bodies.emplace_back(line);
    ++m_published;
    pump();
}

void ScheduledPublisher::command_ended() {
    // The run's messages are the lines read: done once each is answered (completed()).
    m_quota = m_published;
    if (m_completed >= m_published) {
        m_quota = m_completed + 1; // completed() never reaches it again
        m_context.recorder.sender_done();
    }
}

void ScheduledPublisher::queue_next_if_closed() {
    if (m_began && !m_context.plan.open_model && m_waiting.empty() &&
        m_context.plan.foreign.publish_cmd.empty()) {
        enqueue(m_context.plan.now_ns());
    }
}

std::string_view ScheduledPublisher::take_next(std::uint64_t& intended_ns) {
    intended_ns = m_waiting.front();
    m_waiting.pop_front();
    const Plan& plan = m_context.plan;
    const Stamp stamp{plan.run_id, static_cast<std::uint32_t>(m_index), m_sequence++, intended_ns};
    if (m_bodies.empty()) {
        return m_builder.build(stamp);
    }
    // A line of --publish-cmd: the stamp where it says {stamp}, else before it.
    std::string body = std::move(m_bodies.front());
    m_bodies.pop_front();
    char text[k_stamp_size];
    write_stamp(stamp, text);
    const std::string_view stamp_text(text, k_stamp_size);
    if (auto at = body.find("{stamp}"); at != std::string::npos) {
        m_message = body.replace(at, 7, stamp_text);
    } else {
        m_message.assign(stamp_text);
        m_message += ' ';
        m_message += body;
    }
    return m_message;
}

void ScheduledPublisher::acknowledged(std::size_t bytes, std::uint64_t intended_ns) {
    m_context.recorder.record_acked(m_topic_index);
    m_context.recorder.record_sent(bytes, intended_ns);
    completed();
}

void ScheduledPublisher::completed() {
    if (++m_completed == m_quota) {
        m_context.recorder.sender_done(); // the last one is answered, not just queued
    }
}

namespace {

/// One POST at a time per publisher, so the server sees its messages in sequence order
/// (several in flight would travel on several connections and arrive reordered, which
/// would be the bench's doing, not the server's). In the open model, messages that come
/// due while a POST is in flight wait in order; their latency still counts from the
/// intended time.
class Publisher final : public ScheduledPublisher, private transport::http::HttpTransferHandler {
public:
    Publisher(ClientContext context, std::size_t index, std::size_t sender)
        : ScheduledPublisher(context, index, sender)
        , m_next(context.loop) {
        m_request.method = "POST";
        const ForeignOptions& foreign = context.plan.foreign;
        m_request.url = !foreign.publish_url.empty()
                            ? foreign.publish_url
                            : fmt::format("{}/publish/{}", base_url(context.plan, index),
                                          context.plan.topic_name(index));
        m_request.has_body = true;
        m_request.headers.push_back("Content-Type: text/plain");
        if (!foreign.publish_url.empty()) {
            apply_foreign_http(foreign, m_request);
        }
        m_request.http2 = false;
        m_request.connect_timeout = context.plan.connect_timeout;
        m_request.timeout = std::chrono::seconds(30);
    }

    ~Publisher() override {
        m_next.stop();
        m_transfer.reset();
    }

private:
    void pump() override {
        if (m_transfer || !has_waiting() || !m_context.recorder.sending()) {
            return;
        }
        m_request.body.assign(take_next(m_intended_ns));
        m_status = 0;
        transport::http::HttpTransferHandler& handler = *this;
        m_transfer =
            std::make_unique<transport::http::HttpTransfer>(*m_context.multi, m_request, handler);
        m_transfer->start();
    }

    bool on_response_head(const transport::http::HttpResponseHead& head) override {
        m_status = head.status;
        return true;
    }

    bool on_body(std::string_view) override { return true; }

    void on_done(const transport::http::HttpResult& result) override {
        bool ok = result.ok && m_status / 100 == 2;
        if (ok) {
            acknowledged(m_request.body.size(), m_intended_ns);
        } else {
            if (!result.ok) {
                transport::CloseInfo info;
                info.exit_code = result.exit_code;
                info.by_peer = true;
                m_context.recorder.record_error(error_kind(info).value_or(ErrorKind::other));
            } else {
                m_context.recorder.record_error(ErrorKind::protocol);
            }
            completed();
        }
        m_transfer.reset(); // on_done may destroy its transfer
        // The next POST on the next loop turn, outside curl's completion handling; after a
        // failure only after a pause, so that a dead server is not hammered.
        m_next.start(ok ? core::Duration{0} : m_context.plan.reconnect_delay, [this] {
            queue_next_if_closed();
            pump();
        });
    }

    transport::http::HttpRequest m_request;
    std::unique_ptr<transport::http::HttpTransfer> m_transfer; ///< The POST in flight.
    std::uint64_t m_intended_ns = 0;                           ///< Of the POST in flight.
    long m_status = 0;
    core::Timer m_next;
};

} // namespace

std::unique_ptr<Client> make_echo_client(ClientContext context, std::size_t index,
                                         std::size_t sender) {
    return std::make_unique<EchoClient>(context, index, sender);
}

std::unique_ptr<Client> make_subscriber(ClientContext context, std::size_t index) {
    if (context.plan.protocol == Protocol::mqtt) {
        return make_mqtt_subscriber(context, index);
    }
    return std::make_unique<SubscriberClient>(context, index);
}

std::unique_ptr<Sender> make_publisher(ClientContext context, std::size_t index,
                                       std::size_t sender) {
    return std::make_unique<Publisher>(context, index, sender);
}

// --- Cursor probe ----------------------------------------------------------------------

struct CursorProbe::Call final : transport::http::HttpTransferHandler {
    CursorProbe* owner = nullptr;
    std::string topic;
    std::string cursor;
    std::unique_ptr<transport::http::HttpTransfer> transfer;
    bool on_response_head(const transport::http::HttpResponseHead& head) override {
        cursor = std::string(head.header("x-cursor"));
        return true;
    }
    bool on_body(std::string_view) override { return true; }
    void on_done(const transport::http::HttpResult& result) override {
        if (!result.ok) {
            transport::CloseInfo info;
            info.exit_code = result.exit_code;
            owner->m_context.recorder.record_error(error_kind(info).value_or(ErrorKind::other));
        }
        owner->finished();
    }
};

CursorProbe::CursorProbe(ClientContext context, std::function<void()> done)
    : m_context(context)
    , m_done(std::move(done)) {}

CursorProbe::~CursorProbe() = default;

void CursorProbe::start(const std::vector<std::unique_ptr<Client>>& subscribers) {
    std::map<std::string, bool> topics;
    for (const auto& client : subscribers) {
        auto* subscriber = static_cast<SubscriberClient*>(client.get());
        m_subscribers.push_back(subscriber);
        topics[subscriber->topic()] = true;
    }
    if (topics.empty()) {
        m_done();
        return;
    }
    m_pending = topics.size();
    for (const auto& [topic, unused] : topics) {
        auto call = std::make_unique<Call>();
        call->owner = this;
        call->topic = topic;
        transport::http::HttpRequest request;
        request.url = fmt::format("{}/poll/{}?timeout=0", base_url(m_context.plan, 0), topic);
        request.http2 = false;
        request.connect_timeout = m_context.plan.connect_timeout;
        call->transfer =
            std::make_unique<transport::http::HttpTransfer>(*m_context.multi, request, *call);
        call->transfer->start();
        m_calls.push_back(std::move(call));
    }
}

void CursorProbe::finished() {
    if (--m_pending > 0) {
        return;
    }
    std::map<std::string, std::string> cursors;
    for (const auto& call : m_calls) {
        cursors[call->topic] = call->cursor;
    }
    for (Client* client : m_subscribers) {
        auto* subscriber = static_cast<SubscriberClient*>(client);
        subscriber->start_from(cursors[subscriber->topic()]);
    }
    m_done();
}

} // namespace rtx::bench
