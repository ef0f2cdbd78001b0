// `rtx bench mqtt`: subscribers and publishers that speak MQTT 3.1.1 through
// lib/proto/mqtt_codec (the codec the `rtx serve` broker uses) over a raw TcpConnection on
// the worker's own loop. Not Paho: its async client runs I/O threads of its own shared by
// every client in the process, which would put all connections of all workers behind
// the same few threads and measure Paho's scheduling rather than the broker.
#include "bench/clients.hpp"

#include "bench/delivery.hpp"
#include "bench/payload.hpp"
#include "bench/send_clock.hpp"
#include "bench/sequence_tracker.hpp"
#include "core/log.hpp"
#include "proto/mqtt_codec.hpp"
#include "transport/connect.hpp"

#include <fmt/format.h>

#include <deque>

namespace rtx::bench {

namespace {

namespace pm = proto::mqtt;

/// Seconds of CONNECT's keep alive; a PINGREQ goes out every half of it, so that runs
/// longer than the keep alive are not dropped by the broker on an idle connection.
constexpr std::uint16_t k_keep_alive_seconds = 60;
/// Open model: QoS 1/2 publishes awaiting their acknowledgement, per publisher; past this
/// the due messages wait (their latency still counts from the intended time).
constexpr std::size_t k_max_in_flight = 1000;

std::unique_ptr<transport::Connection>
connect_broker(const ClientContext& context, std::size_t index, transport::Handler& handler) {
    const Plan& plan = context.plan;
    transport::ConnectOptions options;
    options.connect_timeout = plan.connect_timeout;
    options.framing = proto::Framing::raw; // the decoder cuts the byte stream into packets
    options.source_ip = source_ip(plan, index);
    options.tls = plan.foreign.tls;
    return transport::connect(context.loop, plan.target_for(index), std::move(options), handler,
                              index + 1);
}

/// The codec side of one broker connection: the CONNECT, the decoder, the keepalive
/// PINGREQ and an output buffer reused for every packet.
class MqttLink {
public:
    explicit MqttLink(core::Loop& loop)
        : m_keepalive(loop) {}

    /// The TCP connection opened: CONNECT as `client_id` (clean session), start pinging.
    void open(transport::Connection& connection, const std::string& client_id,
              const std::string& user = {}) {
        m_decoder = pm::Decoder(pm::Version::v311);
        m_connection = &connection;
        pm::ConnectFields fields;
        fields.client_id = client_id;
        fields.keep_alive = k_keep_alive_seconds;
        fields.clean_start = true;
        if (!user.empty()) {
            // --user NAME:PASSWORD: CONNECT's user name and password (MQTT 3.1.1 3.1.3.4).
            const auto colon = user.find(':');
            fields.has_username = true;
            fields.username = std::string_view(user).substr(0, colon);
            if (colon != std::string::npos) {
                fields.has_password = true;
                fields.password = std::string_view(user).substr(colon + 1);
            }
        }
        pm::encode_connect(m_out, fields);
        flush();
        m_keepalive.start(
            std::chrono::seconds(k_keep_alive_seconds / 2),
            [this] {
                if (m_connection != nullptr) {
                    pm::encode_pingreq(m_out);
                    flush();
                    m_keepalive_pings.push_back(true);
                }
            },
            std::chrono::seconds(k_keep_alive_seconds / 2));
    }

    void closed() {
        m_keepalive.stop();
        m_connection = nullptr;
        m_keepalive_pings.clear();
    }

    /// Feeds received bytes; calls `on_packet(packet)` for each whole one. False when the
    /// stream is not MQTT (logged; the caller counts a protocol error and closes).
    template <class OnPacket> bool feed(std::string_view bytes, OnPacket&& on_packet) {
        pm::DecodeStatus status;
        while ((status = m_decoder.decode(bytes, m_packet)) == pm::DecodeStatus::packet) {
            on_packet(m_packet);
            if (m_connection == nullptr) {
                return true; // on_packet closed the connection
            }
        }
        if (status == pm::DecodeStatus::error) {
            core::log_verbose("mqtt: {}", m_decoder.error().what);
            return false;
        }
        return true;
    }

    /// A PINGRESP arrived: true if it answers a PINGREQ sent by ping(), false if it answers
    /// a keepalive one (PINGRESPs come in the order of the PINGREQs).
    bool pong() {
        if (m_keepalive_pings.empty()) {
            return false;
        }
        bool keepalive = m_keepalive_pings.front();
        m_keepalive_pings.pop_front();
        return !keepalive;
    }

    /// The caller appended a PINGREQ to out(): pong() reports its answer.
    void expect_pong() { m_keepalive_pings.push_back(false); }

    std::string& out() { return m_out; }

    /// Sends what the encoders appended to out().
    void flush() {
        if (m_connection != nullptr && !m_out.empty()) {
            m_connection->send(transport::Message{m_out, transport::PayloadKind::binary});
        }
        m_out.clear();
    }

private:
    transport::Connection* m_connection = nullptr;
    pm::Decoder m_decoder{pm::Version::v311};
    pm::Packet m_packet;
    std::string m_out;
    core::Timer m_keepalive;
    std::deque<bool> m_keepalive_pings; ///< Per PINGREQ not yet answered: keepalive or ping().
};

// --- Subscriber ------------------------------------------------------------------------

class MqttSubscriber final : public Client {
public:
    MqttSubscriber(ClientContext context, std::size_t index)
        : Client(context, index)
        , m_filter(context.plan.subscription_filter(index))
        , m_client_id(fmt::format("rtx-bench-{:04x}-s{}", context.plan.run_id, index))
        , m_tally(context.plan.publishers)
        , m_link(context.loop) {}

    ~MqttSubscriber() override { m_connection.reset(); }

    std::uint64_t delivered() const override { return m_tally.counted; }

private:
    std::unique_ptr<transport::Connection> make_connection() override {
        return connect_broker(m_context, m_index, *this);
    }

    // Open for the run (and its connect time) once subscribed, not when TCP connects:
    // publishing starts when every subscriber is open, and must not outrun SUBSCRIBE.
    void on_open(transport::Connection& connection) override {
        m_link.open(connection, m_client_id, m_context.plan.foreign.user);
    }

    void on_close(transport::Connection& connection, const transport::CloseInfo& info) override {
        m_link.closed();
        Client::on_close(connection, info);
    }

    void closed() override { m_link.closed(); } // also when parked (--stages)

    void on_message(transport::Connection& connection, const transport::Message& message) override {
        bool ok = m_link.feed(message.payload,
                              [&](const pm::Packet& packet) { on_packet(connection, packet); });
        if (!ok) {
            fail(connection);
        }
    }

    void on_packet(transport::Connection& connection, const pm::Packet& packet) {
        switch (packet.type) {
        case pm::PacketType::connack: {
            if (packet.reason_code != 0) {
                core::log_verbose("subscriber {}: CONNACK refused (code {})", m_index + 1,
                                  packet.reason_code);
                fail(connection);
                return;
            }
            pm::SubscribeTopic topic;
            topic.filter = m_filter;
            topic.qos = static_cast<std::uint8_t>(m_context.plan.qos);
            pm::encode_subscribe(m_link.out(), pm::Version::v311, 1, std::span(&topic, 1));
            m_link.flush();
            return;
        }
        case pm::PacketType::suback:
            if (packet.reason_codes.empty() || packet.reason_codes[0] >= 0x80) {
                core::log_verbose("subscriber {}: SUBSCRIBE refused", m_index + 1);
                fail(connection);
                return;
            }
            Client::on_open(connection);
            return;
        case pm::PacketType::publish:
            record_delivery(m_context, m_tally, packet.payload);
            if (packet.qos == 1) {
                pm::encode_ack(m_link.out(), pm::Version::v311, pm::PacketType::puback,
                               packet.packet_id);
                m_link.flush();
            } else if (packet.qos == 2) {
                pm::encode_ack(m_link.out(), pm::Version::v311, pm::PacketType::pubrec,
                               packet.packet_id);
                m_link.flush();
            }
            return;
        case pm::PacketType::pubrel:
            pm::encode_ack(m_link.out(), pm::Version::v311, pm::PacketType::pubcomp,
                           packet.packet_id);
            m_link.flush();
            return;
        case pm::PacketType::pingresp:
            m_link.pong();
            return;
        default:
            core::log_verbose("subscriber {}: unexpected {}", m_index + 1,
                              pm::packet_type_name(packet.type));
            fail(connection);
            return;
        }
    }

    /// The broker broke the protocol (or refused us): count it, close; the connection comes
    /// back after the reconnect delay as after any drop.
    void fail(transport::Connection& connection) {
        m_context.recorder.record_error(ErrorKind::protocol);
        m_link.closed();
        connection.close();
    }

    std::string m_filter; ///< The topic, or its shared subscription.
    std::string m_client_id;
    SubscriberTally m_tally;
    MqttLink m_link;
};

// --- Publisher -------------------------------------------------------------------------

/// One broker connection per publisher, made at once (not counted among the run's
/// connections, like the HTTP publishers). Closed model: one message at a time, the next
/// when the broker answered it. Open model: on the SendClock, up to k_max_in_flight
/// unacknowledged; messages stay in sequence order either way.
class MqttPublisher final : public ScheduledPublisher, private transport::Handler {
public:
    MqttPublisher(ClientContext context, std::size_t index, std::size_t sender)
        : ScheduledPublisher(context, index, sender)
        , m_topic(context.plan.topic_name(index))
        , m_client_id(fmt::format("rtx-bench-{:04x}-p{}", context.plan.run_id, index))
        , m_link(context.loop)
        , m_retry(context.loop)
        , m_in_flight_ids(65536, k_free) {
        m_connection = connect_broker(m_context, m_index, *this);
    }

    ~MqttPublisher() override {
        m_retry.stop();
        m_connection.reset();
    }

private:
    /// m_in_flight_ids: the identifier is not in use.
    static constexpr std::uint64_t k_free = ~std::uint64_t{0};

    void pump() override {
        const Plan& plan = m_context.plan;
        const std::size_t window = plan.open_model ? k_max_in_flight : 1;
        while (m_ready && has_waiting() && m_in_flight < window && m_context.recorder.sending()) {
            std::uint64_t intended_ns = 0;
            std::string_view payload = take_next(intended_ns);
            std::uint16_t id = plan.qos > 0 ? next_id() : 0;
            pm::encode_publish(m_link.out(), pm::Version::v311, m_topic, payload,
                               static_cast<std::uint8_t>(plan.qos), false, false, id);
            if (plan.qos == 0) {
                // QoS 0 has no acknowledgement: it counts as published once written. The
                // closed model waits for the PINGRESP to a PINGREQ right behind it, which
                // the broker answers after it has handled the PUBLISH.
                if (!plan.open_model) {
                    pm::encode_pingreq(m_link.out());
                    m_link.expect_pong();
                    ++m_in_flight;
                }
                m_link.flush();
                acknowledged(payload.size(), intended_ns);
            } else {
                m_link.flush();
                m_payload_size = payload.size();
                m_in_flight_ids[id] = intended_ns;
                ++m_in_flight;
            }
        }
    }

    std::uint16_t next_id() {
        do {
            m_next_id = m_next_id == 65535 ? 1 : m_next_id + 1;
        } while (m_in_flight_ids[m_next_id] != k_free);
        return m_next_id;
    }

    /// An acknowledgement in the closed model: the next message.
    void answered() {
        if (m_in_flight > 0) {
            --m_in_flight;
        }
        queue_next_if_closed();
        pump();
    }

    void on_open(transport::Connection& connection) override {
        m_link.open(connection, m_client_id, m_context.plan.foreign.user);
    }

    void on_message(transport::Connection& connection, const transport::Message& message) override {
        bool ok = m_link.feed(message.payload,
                              [&](const pm::Packet& packet) { on_packet(connection, packet); });
        if (!ok) {
            fail(connection);
        }
    }

    void on_packet(transport::Connection& connection, const pm::Packet& packet) {
        switch (packet.type) {
        case pm::PacketType::connack:
            if (packet.reason_code != 0) {
                core::log_verbose("publisher {}: CONNACK refused (code {})", m_index + 1,
                                  packet.reason_code);
                fail(connection);
                return;
            }
            m_ready = true;
            queue_next_if_closed(); // after a reconnect: the chain goes on
            pump();
            return;
        case pm::PacketType::puback:
        case pm::PacketType::pubcomp:
            if (m_in_flight_ids[packet.packet_id] == k_free) {
                return; // not ours (a stale id after a reconnect)
            }
            acknowledged(m_payload_size, std::exchange(m_in_flight_ids[packet.packet_id], k_free));
            answered();
            return;
        case pm::PacketType::pubrec:
            pm::encode_ack(m_link.out(), pm::Version::v311, pm::PacketType::pubrel,
                           packet.packet_id);
            m_link.flush();
            return;
        case pm::PacketType::pingresp:
            if (m_link.pong()) {
                answered();
            }
            return;
        default:
            core::log_verbose("publisher {}: unexpected {}", m_index + 1,
                              pm::packet_type_name(packet.type));
            fail(connection);
            return;
        }
    }

    void on_close(transport::Connection&, const transport::CloseInfo& info) override {
        m_link.closed();
        m_ready = false;
        Recorder& recorder = m_context.recorder;
        if (recorder.running()) {
            if (auto kind = error_kind(info)) {
                recorder.record_error(*kind);
                core::log_verbose("publisher {}: {}", m_index + 1, info.reason);
            }
        }
        // Unacknowledged messages are not counted as published (so not as lost either);
        // they count toward the quota, so that --messages still ends.
        for (std::size_t id = 1; id < m_in_flight_ids.size(); ++id) {
            if (m_in_flight_ids[id] != k_free) {
                m_in_flight_ids[id] = k_free;
                completed();
            }
        }
        m_in_flight = 0;
        m_connection.reset(); // allowed inside on_close; nothing touches it afterwards
        if (!recorder.running()) {
            return;
        }
        m_retry.start(m_context.plan.reconnect_delay, [this] {
            if (m_context.recorder.running() && !m_connection) {
                m_connection = connect_broker(m_context, m_index, *this);
            }
        });
    }

    void fail(transport::Connection& connection) {
        m_context.recorder.record_error(ErrorKind::protocol);
        m_link.closed();
        connection.close();
    }

    std::string m_topic;
    std::string m_client_id;
    MqttLink m_link;
    core::Timer m_retry;
    std::unique_ptr<transport::Connection> m_connection;
    bool m_ready = false;        ///< CONNACK received.
    std::size_t m_in_flight = 0; ///< Awaiting PUBACK / PUBCOMP / the closed-model PINGRESP.
    /// By packet identifier (QoS 1 and 2): the intended send time, or k_free.
    std::vector<std::uint64_t> m_in_flight_ids;
    std::uint16_t m_next_id = 0;
    std::size_t m_payload_size = 0; ///< Every payload has the same size (--size).
};

} // namespace

std::unique_ptr<Client> make_mqtt_subscriber(ClientContext context, std::size_t index) {
    return std::make_unique<MqttSubscriber>(context, index);
}

std::unique_ptr<Sender> make_mqtt_publisher(ClientContext context, std::size_t index,
                                            std::size_t sender) {
    return std::make_unique<MqttPublisher>(context, index, sender);
}

} // namespace rtx::bench
