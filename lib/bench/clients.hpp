#pragma once

#include "bench/payload.hpp"
#include "bench/plan.hpp"
#include "bench/scheduler.hpp"
#include "core/loop.hpp"
#include "core/timer.hpp"
#include "transport/connection.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rtx::transport {
class WsClient;
}
namespace rtx::transport::http {
class CurlMulti;
}

namespace rtx::bench {

class LineCommand;
class SendClock;
class SequenceTracker;

/// The kinds of failure a run counts (ErrorCounts in the report).
enum class ErrorKind { refused, timeout, reset, protocol, closed_by_peer, other };

/// The kind of a connection's end, or nullopt when it is not a failure (we closed it).
std::optional<ErrorKind> error_kind(const transport::CloseInfo& info);

/// What the clients of a worker record into: the worker's counters and histograms. Loop
/// thread only.
class Recorder {
public:
    virtual ~Recorder() = default;
    virtual const Plan& plan() const = 0;
    /// Senders may send (echo: always until the end; publishers: once measuring).
    virtual bool sending() const = 0;
    /// The run goes on: dropped connections reconnect, failures count.
    virtual bool running() const = 0;
    /// A message went out (fan-out: the server acknowledged it), stamped `stamp_ns`: its
    /// intended send time, which also decides whether it is warm-up (see record_received).
    virtual void record_sent(std::size_t bytes, std::uint64_t stamp_ns) = 0;
    /// A reply or a new delivery whose stamp says it was (meant to be) sent at `sent_ns`.
    virtual void record_received(std::size_t bytes, std::uint64_t sent_ns) = 0;
    /// Subscribe-only: a delivery with no time this run can read (no stamp of its own, no
    /// --stamp-pointer field): counted, without latency.
    virtual void record_untimed(std::size_t bytes) = 0;
    /// Microseconds between a subscriber's message and its previous one.
    virtual void record_gap(std::uint64_t us) = 0;
    /// The measured phase has begun (the ramp is over) and the run is not finishing.
    virtual bool measuring() const = 0;
    /// A received message passed (or failed) the --check list.
    virtual void record_check(bool passed) = 0;
    virtual void record_duplicate() = 0;
    virtual void record_reordered() = 0;
    /// Fan-out: the server acknowledged a publish to topic `topic_index`.
    virtual void record_acked(std::size_t topic_index) = 0;
    virtual void record_error(ErrorKind kind) = 0;
    /// A connection opened after `connect_ns`; first_time: for the first time.
    virtual void record_connected(std::uint64_t connect_ns, bool first_time) = 0;
    virtual void record_disconnected() = 0;
    /// A connection's first attempt ended (opened or failed): the ramp's progress.
    virtual void record_settled() = 0;
    /// A sender sent its whole quota (--messages).
    virtual void sender_done() = 0;
};

/// The --source-ip address connection `index` binds to; empty: none.
const std::string& source_ip(const Plan& plan, std::size_t index);
/// The random seed of sender `index` (open model send times).
std::uint64_t seed_for(const Plan& plan, std::size_t index);
/// The first intended time of an open-model sender: a random phase within one interval,
/// so that senders started together do not all send at the same instant.
OpenScheduler::Clock::time_point first_due(double rate, std::uint64_t seed);

/// What the client factories need from their worker.
struct ClientContext {
    const Plan& plan;
    core::Loop& loop;
    transport::http::CurlMulti* multi; ///< HTTP fan-out (subscribers, POST publishers) only.
    transport::WsClient* ws;           ///< ws only: the worker's one lws client context.
    Recorder& recorder;
    SendClock& clock;
};

/// Something that sends messages: an echo connection or a publisher.
class Sender {
public:
    virtual ~Sender() = default;
    /// The measured phase begins (publishers start; echo is already going).
    virtual void begin() = 0;
    /// Open model: send one message whose intended send time is `intended_ns`.
    virtual void send_at(std::uint64_t intended_ns) = 0;
};

/// One benchmark connection: connects (again after a drop, while the run goes on), counts
/// its failures by kind and its connect time. Subclasses make the connection and handle
/// its messages. Loop thread only.
class Client : public transport::Handler {
public:
    Client(ClientContext context, std::size_t index);
    ~Client() override;
    /// Starts the first attempt (or, after park(), a new one).
    void connect();
    /// --stages: closes the connection for good (no reconnect) until connect() is called
    /// again; not a failure.
    void park();
    bool ever_opened() const { return m_ever_opened; }
    /// Subscribers: the messages this one counted (per-subscriber rates); others 0.
    virtual std::uint64_t delivered() const { return 0; }

protected:
    virtual std::unique_ptr<transport::Connection> make_connection() = 0;
    /// The connection opened / closed (after the bookkeeping).
    virtual void opened() {}
    virtual void closed() {}
    /// True when the first attempt counts as settled as soon as it starts (poll: the
    /// connection opens only when the first answer comes, which may be much later).
    virtual bool settles_on_start() const { return false; }

    void on_open(transport::Connection& connection) override;
    void on_close(transport::Connection& connection, const transport::CloseInfo& info) override;

    ClientContext m_context;
    std::size_t m_index; ///< In the whole run (names the connection, picks the source IP).
    std::unique_ptr<transport::Connection> m_connection;

private:
    void attempt();
    void settle();

    bool m_ever_opened = false;
    bool m_settled = false;
    bool m_open = false;
    bool m_parked = false;
    std::uint64_t m_attempt_started_ns = 0;
    std::unique_ptr<core::Timer> m_retry; ///< Made on the first drop only.
};

/// What every fan-out publisher shares (HTTP POST and MQTT): its schedule, its quota and
/// the queue of intended send times not yet published. Closed model: the next message is
/// queued when the previous one is answered (answered_closed_model()); open model: the
/// SendClock queues them, late or not, and their latency counts from the intended time.
/// Subclasses publish what waits in pump(), as far as their window allows. Loop thread only.
class ScheduledPublisher : public Sender {
public:
    ScheduledPublisher(ClientContext context, std::size_t index, std::size_t sender);
    ~ScheduledPublisher() override;

    void begin() final;
    void send_at(std::uint64_t intended_ns) final { enqueue(intended_ns); }

protected:
    /// Publishes waiting messages (take_next()) while the connection and window allow.
    virtual void pump() = 0;

    /// Queues one message meant for `intended_ns` (within the quota) and pumps.
    void enqueue(std::uint64_t intended_ns);
    /// Closed model: the previous message was answered; queue the next (if none waits).
    void queue_next_if_closed();
    bool has_waiting() const { return !m_waiting.empty(); }
    /// The next waiting message, built into the publisher's reused buffer (valid until the
    /// next call), and its intended send time.
    std::string_view take_next(std::uint64_t& intended_ns);
    /// The server acknowledged a message stamped `intended_ns` with `bytes` of payload.
    void acknowledged(std::size_t bytes, std::uint64_t intended_ns);
    /// One message reached its end, acknowledged or lost with its connection: it counts
    /// toward the quota, so that --messages still ends.
    void completed();
    bool began() const { return m_began; }

    ClientContext m_context;
    std::size_t m_index;
    std::size_t m_topic_index;

private:
    std::size_t m_sender;
    std::uint64_t m_quota;
    std::uint64_t m_published = 0; ///< Messages taken from the schedule (or the quota).
    std::uint64_t m_completed = 0; ///< Acknowledged, or lost with their connection.
    std::uint64_t m_sequence = 0;
    /// --publish-cmd: each line of the command's output is one message, published when read.
    void start_command();
    void command_line(std::string_view line);
    void command_ended();

    PayloadBuilder m_builder;
    std::deque<std::uint64_t> m_waiting; ///< Intended send times not yet published.
    bool m_began = false;
    std::unique_ptr<LineCommand> m_command;
    std::deque<std::string> m_bodies; ///< --publish-cmd: the lines waiting, by m_waiting.
    std::string m_message;            ///< --publish-cmd: the stamped line being published.
};

/// An echo connection (tcp, ws): sends a stamped message, measures the round trip when the same
/// bytes come back; closed model: the next one then; open model: on the SendClock.
/// `sender` is its index among the worker's senders.
std::unique_ptr<Client> make_echo_client(ClientContext context, std::size_t index,
                                         std::size_t sender);
/// A fan-out subscriber (sse, stream, poll, ws, mqtt) on topic plan.topic_name(index).
std::unique_ptr<Client> make_subscriber(ClientContext context, std::size_t index);
/// The MQTT subscriber behind make_subscriber for mqtt (lib/bench/mqtt_clients.cpp): it
/// counts as open once its SUBSCRIBE is acknowledged.
std::unique_ptr<Client> make_mqtt_subscriber(ClientContext context, std::size_t index);
/// A fan-out publisher: HTTP POST /publish/{topic} of stamped messages; closed model: the
/// next when the server answered the previous one.
std::unique_ptr<Sender> make_publisher(ClientContext context, std::size_t index,
                                       std::size_t sender);
/// An MQTT publisher: its own broker connection (it connects at once), PUBLISH at
/// plan.qos; closed model: the next when the previous one is answered (PUBACK, PUBCOMP,
/// or for QoS 0 the PINGRESP to a PINGREQ sent right after it).
std::unique_ptr<Sender> make_mqtt_publisher(ClientContext context, std::size_t index,
                                            std::size_t sender);

/// Poll subscribers start from the topic's current cursor, so that they get every message
/// published after the ramp even if their first request reaches the server late: one
/// `GET /poll/{topic}?timeout=0` per topic (answered at once with X-Cursor) before they
/// start. Loop thread only.
class CursorProbe {
public:
    CursorProbe(ClientContext context, std::function<void()> done);
    ~CursorProbe();
    /// Probes the topics of `subscribers` (made by make_subscriber), gives each its
    /// starting cursor, then calls done.
    void start(const std::vector<std::unique_ptr<Client>>& subscribers);

private:
    struct Call;
    void finished();

    ClientContext m_context;
    std::function<void()> m_done;
    std::vector<std::unique_ptr<Call>> m_calls;
    std::vector<Client*> m_subscribers;
    std::size_t m_pending = 0;
};

} // namespace rtx::bench
