#include "serve/mqtt/mqtt_listener.hpp"

#include "core/encoding.hpp"
#include "core/log.hpp"
#include "proto/mqtt_codec.hpp"
#include "serve/mqtt/shared_subscription.hpp"
#include "serve/server_stream.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <span>
#include <unordered_set>

namespace rtx::serve::mqtt {

namespace pm = proto::mqtt;
using pm::PacketType;
using pm::PropertyId;
using pm::Version;

namespace {

/// Session Expiry Interval meaning "never" (MQTT 5 section 3.1.2.11.2).
constexpr std::uint32_t k_never_expires = 0xFFFFFFFF;
/// A QoS 0 message to a client with this much unsent output is dropped (slow consumer).
constexpr std::size_t k_qos0_high_water = 16 * 1024 * 1024;

/// Subscription options byte fields (MQTT 5 section 3.8.3.1).
constexpr std::uint8_t k_option_no_local = 0x04;
constexpr std::uint8_t k_option_retain_as_published = 0x08;

/// Lets an unordered_map keyed by std::string be searched with a string_view.
struct TopicHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const {
        return std::hash<std::string_view>{}(text);
    }
};

/// The properties of `block` but those in `drop`.
template <class Drop> std::string filter_properties(std::string_view block, Drop drop) {
    std::string out;
    pm::for_each_property(block, [&](PropertyId id, std::string_view bytes) {
        if (!drop(id)) {
            out.append(bytes);
        }
    });
    return out;
}

} // namespace

/// A will message (MQTT 3.1.2.5): published when its connection ends without a normal
/// DISCONNECT, possibly after its delay (MQTT 5).
struct MqttListener::Will {
    std::string topic;
    std::string payload;
    std::string properties; ///< Will properties but the delay and the message expiry.
    std::uint8_t qos = 0;
    bool retain = false;
    std::uint32_t delay_s = 0;
    bool expires = false;
    std::uint32_t expiry_s = 0;
    std::unique_ptr<core::Timer> timer; ///< The pending delay, once the connection ended.
};

namespace detail {

/// A QoS 1 or 2 message on its way to one session.
struct Outgoing {
    std::shared_ptr<const HubMessage> message; ///< Null once PUBREC came (only PUBREL left).
    std::uint8_t qos = 1;
    bool retain = false;
    std::uint16_t packet_id = 0;
    bool released = false; ///< QoS 2: PUBREC received, PUBREL sent, waiting for PUBCOMP.
    /// The Subscription Identifiers it is sent with, on every try (MQTT 5 section 3.3.4).
    std::vector<std::uint32_t> identifiers;
    /// The shared subscription ("$share/...") it came through, if any: should the session
    /// end before it is delivered, another member gets it (MQTT 5 section 4.8.2).
    std::string shared_key;
};

} // namespace detail

using detail::Outgoing;

/// One subscription of a session; its address is the key in the subscription tree (or
/// the member of a shared group), so the match finds the options and the identifier.
struct MqttListener::SessionSubscription {
    Session* session = nullptr;
    std::uint8_t options = 0;     ///< The SUBSCRIBE options byte (MQTT 5 section 3.8.3.1).
    std::uint32_t identifier = 0; ///< The Subscription Identifier; 0: none.
    SharedGroup* group = nullptr; ///< The shared subscription it is a member of, if any.
};

/// A shared subscription (MQTT 5 section 4.8.2): its members take the messages of its
/// filter in turn.
struct MqttListener::SharedGroup {
    std::string key;    ///< The whole "$share/{group}/{filter}" text.
    std::string filter; ///< The filter proper, as held in the shared tree.
    RoundRobin members; ///< Of SessionSubscription*.
};

/// The state that outlives a connection (MQTT 4.1): subscriptions, messages in flight
/// and queued, QoS 2 packet ids received and not yet released.
struct MqttListener::Session {
    std::string client_id;
    /// The user name of its last CONNECT (for --mqtt-acl); nullopt: none given.
    std::optional<std::string> user;
    Connection* connection = nullptr;
    /// Topic filter as subscribed ("$share/..." included) -> the subscription.
    std::map<std::string, SessionSubscription, std::less<>> subscriptions;
    std::deque<Outgoing> inflight;
    std::deque<Outgoing> queue;
    std::unordered_set<std::uint16_t> incoming_qos2;
    std::uint16_t next_packet_id = 1;
    std::uint32_t expiry_s = 0;
    std::unique_ptr<core::Timer> expiry_timer;
    std::unique_ptr<Will> will; ///< A delayed will waiting for its time or the session end.
    // Scratch for routing one message: the best of the session's matching subscriptions.
    std::uint64_t match_round = 0;
    std::uint8_t match_qos = 0;
    bool match_retain_as_published = false;
    std::vector<std::uint32_t> match_identifiers;

    std::uint16_t allocate_packet_id() {
        for (;;) {
            const std::uint16_t id = next_packet_id;
            next_packet_id = static_cast<std::uint16_t>(next_packet_id == 0xFFFF ? 1 : id + 1);
            const bool used = std::any_of(inflight.begin(), inflight.end(),
                                          [id](const Outgoing& o) { return o.packet_id == id; });
            if (!used) {
                return id;
            }
        }
    }
};

/// One client connection: decodes its packets and answers them. Owned by the listener;
/// once closed it goes to the graveyard and is freed on the next loop turn (it may be
/// closed from inside its own callbacks).
class MqttListener::Connection final : private transport::StreamHandler {
public:
    Connection(MqttListener& listener)
        : m_listener(listener)
        , m_stream(listener.m_loop.native(), *this, listener.m_options.tls)
        , m_timer(listener.m_loop)
        , m_decoder(Version::v311, listener.m_options.max_packet) {}

    ServerStream& stream() { return m_stream; }
    /// --fault: refusal at CONNECT, then drop, delay and throttle of the PUBLISH it is sent.
    void set_faults(std::unique_ptr<fault::ConnectionFaults> faults) {
        m_faults = std::move(faults);
        m_faults->on_drop([this] { close(std::nullopt, true); });
    }

    void start() {
        m_last_rx = m_listener.m_loop.now_ms();
        m_stream.start_reading();
        m_timer.start(std::chrono::milliseconds(m_listener.m_options.connect_timeout_ms), [this] {
            core::log_verbose("mqtt: {}: no CONNECT in time", m_peer);
            close(std::nullopt, false);
        });
    }

    /// Ends the connection: DISCONNECT with `reason` first (MQTT 5, after CONNACK), the will
    /// if `with_will`. Safe to call more than once.
    void close(std::optional<std::uint8_t> reason, bool with_will) {
        if (m_closed) {
            return;
        }
        m_closed = true;
        if (reason && m_connected && m_version == Version::v5) {
            std::string& out = scratch();
            pm::encode_disconnect(out, m_version, *reason);
            m_stream.write(out);
        }
        m_timer.stop();
        m_stream.close();
        m_listener.detach(*this, with_will);
        m_listener.bury(this);
    }

    bool closed() const { return m_closed; }
    Session* session() const { return m_session; }
    void set_session(Session* session) { m_session = session; }
    std::unique_ptr<Will> take_will() { return std::move(m_will); }
    std::size_t inflight_limit() const {
        return std::min<std::size_t>(m_receive_maximum, m_listener.m_options.max_inflight);
    }
    bool can_take_qos0() const { return m_stream.buffered() < k_qos0_high_water; }

    /// Sends one PUBLISH with these Subscription Identifiers (MQTT 5); false if it cannot
    /// go (expired, or past the client's maximum packet size: MQTT 5 section 3.1.2.11.4 says
    /// drop it as if delivered).
    bool send_publish(const HubMessage& message, std::uint8_t qos, bool retain, bool dup,
                      std::uint16_t packet_id, std::span<const std::uint32_t> identifiers) {
        std::string& props = m_listener.m_properties_scratch;
        props.clear();
        std::string_view topic = message.topic;
        std::uint16_t new_alias = 0;
        if (m_version == Version::v5) {
            if (message.expires_at_ms != 0) {
                const std::uint64_t now = m_listener.m_loop.now_ms();
                if (now >= message.expires_at_ms) {
                    return false;
                }
                const auto left =
                    static_cast<std::uint32_t>((message.expires_at_ms - now + 999) / 1000);
                pm::put_property_u32(props, PropertyId::message_expiry_interval, left);
            }
            props.append(message.properties);
            for (const std::uint32_t id : identifiers) {
                pm::put_property_varint(props, PropertyId::subscription_identifier, id);
            }
            if (m_topic_alias_max != 0) {
                // Server topic aliases (MQTT 5 section 3.3.2.3.4): the first PUBLISH on a
                // topic names it and sets an alias; later ones send the alias alone. Once
                // the client's Topic Alias Maximum is used up, new topics go by name.
                auto known = m_aliases.find(topic);
                if (known != m_aliases.end()) {
                    pm::put_property_u16(props, PropertyId::topic_alias, known->second);
                    topic = {};
                } else if (m_aliases.size() < m_topic_alias_max) {
                    new_alias = static_cast<std::uint16_t>(m_aliases.size() + 1);
                    pm::put_property_u16(props, PropertyId::topic_alias, new_alias);
                }
            }
        }
        std::string& out = scratch();
        if (!pm::encode_publish(out, m_version, topic, message.payload, qos, retain, dup, packet_id,
                                props)) {
            return false;
        }
        if (m_client_max_packet != 0 && out.size() > m_client_max_packet) {
            return false; // and an alias it would have set stays unassigned
        }
        if (new_alias != 0) {
            m_aliases.emplace(message.topic, new_alias);
        }
        if (!m_faults) {
            m_stream.write(out);
        } else if (m_faults->shapes()) {
            m_faults->send(out.size(), [this, held = out] { m_stream.write(held); });
        } else {
            m_faults->send(out.size(), [this, &out] { m_stream.write(out); });
        }
        return true;
    }

    void send_ack(PacketType type, std::uint16_t packet_id, std::uint8_t reason = 0) {
        std::string& out = scratch();
        pm::encode_ack(out, m_version, type, packet_id, reason);
        m_stream.write(out);
    }

private:
    std::string& scratch() {
        std::string& out = m_listener.m_scratch;
        out.clear();
        return out;
    }

    void on_stream_data(std::string_view bytes) override {
        m_last_rx = m_listener.m_loop.now_ms();
        std::string_view in = bytes;
        while (!m_closed) {
            const pm::DecodeStatus status = m_decoder.decode(in, m_packet);
            if (status == pm::DecodeStatus::need_more) {
                break;
            }
            if (status == pm::DecodeStatus::error) {
                on_decode_error();
                break;
            }
            handle(m_packet);
        }
    }

    void on_stream_end(int status) override {
        core::log_debug("mqtt: {}: connection lost ({})", m_peer,
                        status == UV_EOF ? "EOF" : uv_strerror(status));
        close(std::nullopt, true);
    }

    void on_decode_error() {
        const pm::DecodeError& error = m_decoder.error();
        core::log_verbose("mqtt: {}: {} (reason 0x{:02x})", m_peer, error.what, error.reason);
        if (!m_connected) {
            std::string& out = scratch();
            if (error.reason == pm::reason::unsupported_protocol_version) {
                // Answer in the 3.1.1 format, which every version's client can read.
                pm::encode_connack(out, Version::v311, false,
                                   pm::k_v311_unacceptable_protocol_version);
                m_stream.write(out);
            } else if (m_packet.type == PacketType::connect &&
                       m_packet.connect.protocol_level == 5) {
                // A broken MQTT 5 CONNECT: the reason goes in CONNACK (MQTT 5 section 4.13).
                pm::encode_connack(out, Version::v5, false, error.reason);
                m_stream.write(out);
            }
            close(std::nullopt, false);
            return;
        }
        close(error.reason, true);
    }

    void protocol_error(std::string_view what, std::uint8_t reason = pm::reason::protocol_error) {
        core::log_verbose("mqtt: {}: {}", m_peer, what);
        close(reason, true);
    }

    void handle(const pm::Packet& p) {
        if (!m_connected) {
            if (p.type != PacketType::connect) {
                core::log_verbose("mqtt: {}: {} before CONNECT", m_peer,
                                  pm::packet_type_name(p.type));
                close(std::nullopt, false);
                return;
            }
            on_connect(p);
            return;
        }
        switch (p.type) {
        case PacketType::publish:
            on_publish(p);
            return;
        case PacketType::puback:
            on_puback(p);
            return;
        case PacketType::pubrec:
            on_pubrec(p);
            return;
        case PacketType::pubrel:
            on_pubrel(p);
            return;
        case PacketType::pubcomp:
            on_pubcomp(p);
            return;
        case PacketType::subscribe:
            on_subscribe(p);
            return;
        case PacketType::unsubscribe:
            on_unsubscribe(p);
            return;
        case PacketType::pingreq: {
            std::string& out = scratch();
            pm::encode_pingresp(out);
            m_stream.write(out);
            return;
        }
        case PacketType::disconnect:
            on_disconnect(p);
            return;
        case PacketType::connect:
            protocol_error("second CONNECT");
            return;
        default:
            protocol_error(fmt::format("unexpected {}", pm::packet_type_name(p.type)));
            return;
        }
    }

    void refuse(std::uint8_t v5_reason, std::uint8_t v311_code, std::string_view why) {
        core::log_verbose("mqtt: {}: CONNECT refused: {}", m_peer, why);
        std::string& out = scratch();
        const bool v5 = m_version == Version::v5;
        pm::encode_connack(out, m_version, false, v5 ? v5_reason : v311_code);
        m_stream.write(out);
        close(std::nullopt, false);
    }

    void on_connect(const pm::Packet& p) {
        const pm::ConnectFields& c = p.connect;
        m_version = static_cast<Version>(c.protocol_level);
        const bool v5 = m_version == Version::v5;
        m_peer = fmt::format("{} ({})", m_stream.peer_name(), c.client_id);
        if (v5 && p.properties.has(PropertyId::authentication_method)) {
            refuse(pm::reason::bad_authentication_method, pm::k_v311_not_authorized,
                   "enhanced authentication is not supported");
            return;
        }
        if (m_faults && m_faults->refused()) {
            refuse(pm::reason::server_unavailable, pm::k_v311_server_unavailable,
                   "server unavailable (--fault refuse)");
            return;
        }
        const MqttOptions& options = m_listener.m_options;
        if (options.user) {
            const std::string_view password = c.has_password ? c.password : std::string_view();
            if (!c.has_username || c.username != *options.user || password != options.password) {
                refuse(pm::reason::bad_user_name_or_password, pm::k_v311_bad_user_name_or_password,
                       "bad user name or password");
                return;
            }
        }
        std::string client_id(c.client_id);
        bool assigned = false;
        if (client_id.empty()) {
            if (!v5 && !c.clean_start) {
                refuse(pm::reason::client_identifier_not_valid, pm::k_v311_identifier_rejected,
                       "empty client id with clean session 0");
                return;
            }
            client_id =
                fmt::format("rtx-{:x}-{}", m_listener.m_loop.now_ms(), ++m_listener.m_assigned_ids);
            assigned = true;
        }
        if (v5) {
            if (p.properties.has(PropertyId::receive_maximum)) {
                m_receive_maximum = p.properties.receive_maximum;
            }
            m_client_max_packet = p.properties.maximum_packet_size;
            m_topic_alias_max = p.properties.topic_alias_maximum;
        }
        if (c.will) {
            auto will = std::make_unique<Will>();
            will->topic = std::string(c.will_topic);
            will->payload = std::string(c.will_payload);
            will->qos = c.will_qos;
            will->retain = c.will_retain;
            const pm::Properties& wp = c.will_properties;
            will->delay_s = wp.will_delay_interval;
            will->expires = wp.has(PropertyId::message_expiry_interval);
            will->expiry_s = wp.message_expiry_interval;
            will->properties = filter_properties(wp.raw, [](PropertyId id) {
                return id == PropertyId::will_delay_interval ||
                       id == PropertyId::message_expiry_interval;
            });
            m_will = std::move(will);
        }
        const std::uint32_t expiry =
            v5 ? p.properties.session_expiry_interval : (c.clean_start ? 0 : k_never_expires);
        m_connect_expiry = expiry;

        Session* session = m_listener.attach(*this, client_id, c.clean_start, expiry);
        session->user = c.has_username ? std::optional<std::string>(c.username) : std::nullopt;
        const bool session_present =
            session->inflight.size() + session->queue.size() + session->subscriptions.size() != 0 ||
            m_resumed;
        m_connected = true;
        m_decoder.set_version(m_version);

        std::string& props = m_listener.m_properties_scratch;
        props.clear();
        if (v5) {
            if (assigned) {
                pm::put_property(props, PropertyId::assigned_client_identifier, client_id);
            }
            pm::put_property_u32(props, PropertyId::maximum_packet_size,
                                 static_cast<std::uint32_t>(std::min<std::size_t>(
                                     options.max_packet, pm::k_max_packet_size)));
            if (options.receive_max != 0xFFFF) {
                pm::put_property_u16(props, PropertyId::receive_maximum, options.receive_max);
            }
            if (options.keep_alive) {
                pm::put_property_u16(props, PropertyId::server_keep_alive, *options.keep_alive);
            }
            pm::put_property(props, PropertyId::subscription_identifier_available, std::uint8_t{1});
            pm::put_property(props, PropertyId::shared_subscription_available, std::uint8_t{1});
        }
        std::string& out = scratch();
        pm::encode_connack(out, m_version, session_present, 0, props);
        m_stream.write(out);
        // The Server Keep Alive replaces the client's (MQTT 5 section 3.2.2.3.14); either
        // way a client silent for 1.5 times it is gone (section 3.1.2.10).
        const std::uint16_t keep_alive =
            v5 && options.keep_alive ? *options.keep_alive : c.keep_alive;
        core::log_debug("mqtt: {}: connected (MQTT {}, keepalive {}s)", m_peer, v5 ? "5" : "3.1.1",
                        keep_alive);

        m_timer.stop();
        if (keep_alive > 0) {
            m_keepalive_ms = static_cast<std::uint64_t>(keep_alive) * 1500;
            arm_keepalive(m_keepalive_ms);
        }
        m_listener.resume(*session);
    }

    void arm_keepalive(std::uint64_t delay_ms) {
        m_timer.start(std::chrono::milliseconds(delay_ms), [this] {
            const std::uint64_t idle = m_listener.m_loop.now_ms() - m_last_rx;
            if (idle >= m_keepalive_ms) {
                core::log_verbose("mqtt: {}: keepalive timeout", m_peer);
                close(pm::reason::keep_alive_timeout, true);
                return;
            }
            arm_keepalive(m_keepalive_ms - idle);
        });
    }

    void on_publish(const pm::Packet& p) {
        if (p.properties.has(PropertyId::topic_alias)) {
            // CONNACK announced no Topic Alias Maximum, so the client must not use one.
            protocol_error("topic alias not allowed", pm::reason::topic_alias_invalid);
            return;
        }
        if (p.properties.has(PropertyId::subscription_identifier)) {
            protocol_error("subscription identifier in PUBLISH");
            return;
        }
        if (p.qos == 2 && m_session->incoming_qos2.contains(p.packet_id)) {
            send_ack(PacketType::pubrec, p.packet_id); // a retry: already published once
            return;
        }
        // Receive Maximum (MQTT 5 section 3.3.4): QoS 1 is acknowledged at once, so what is
        // unacknowledged is the QoS 2 exchanges waiting for PUBREL, plus this PUBLISH.
        if (m_version == Version::v5 && p.qos > 0 &&
            m_session->incoming_qos2.size() >= m_listener.m_options.receive_max) {
            protocol_error(fmt::format("more than {} QoS 1/2 PUBLISH unacknowledged",
                                       m_listener.m_options.receive_max),
                           pm::reason::receive_maximum_exceeded);
            return;
        }
        std::uint64_t expires_at = 0;
        std::string properties;
        if (m_version == Version::v5 && !p.properties.raw.empty()) {
            if (p.properties.has(PropertyId::message_expiry_interval)) {
                expires_at =
                    m_listener.m_loop.now_ms() +
                    static_cast<std::uint64_t>(p.properties.message_expiry_interval) * 1000;
            }
            properties = filter_properties(p.properties.raw, [](PropertyId id) {
                return id == PropertyId::message_expiry_interval;
            });
        }
        const Acl* acl = m_listener.m_options.acl.get();
        if (acl != nullptr && !acl->can_write(m_session->user, m_session->client_id, p.topic)) {
            // Not published; MQTT 5 says so in the acknowledgement (0x87), 3.1.1 cannot.
            core::log_verbose("mqtt: {}: may not publish to '{}' (--mqtt-acl)", m_peer, p.topic);
            if (p.qos == 1) {
                send_ack(PacketType::puback, p.packet_id, pm::reason::not_authorized);
            } else if (p.qos == 2) {
                send_ack(PacketType::pubrec, p.packet_id, pm::reason::not_authorized);
            }
            return;
        }
        const bool ok = m_listener.publish(p.topic, std::string(p.payload), p.qos, p.retain,
                                           std::move(properties), expires_at, this);
        if (m_closed) {
            return;
        }
        const std::uint8_t reason = ok ? pm::reason::success : pm::reason::quota_exceeded;
        if (p.qos == 1) {
            send_ack(PacketType::puback, p.packet_id, reason);
        } else if (p.qos == 2) {
            if (ok) {
                m_session->incoming_qos2.insert(p.packet_id);
            }
            send_ack(PacketType::pubrec, p.packet_id, reason);
        }
    }

    void on_pubrel(const pm::Packet& p) {
        const bool known = m_session->incoming_qos2.erase(p.packet_id) != 0;
        // On a resumed session an unknown id is a PUBREL resent because our PUBCOMP was lost
        // in the drop: the exchange did complete. MQTT 5 says 0x92 is "not an error during
        // recovery", but Paho reports a PUBCOMP >= 0x80 as a failed publish, so recovery
        // answers success (as mosquitto does); 0x92 stays for a real mismatch.
        send_ack(PacketType::pubcomp, p.packet_id,
                 known || m_resumed ? pm::reason::success
                                    : pm::reason::packet_identifier_not_found);
    }

    void on_puback(const pm::Packet& p) {
        auto& inflight = m_session->inflight;
        auto it = std::find_if(inflight.begin(), inflight.end(), [&](const Outgoing& o) {
            return o.packet_id == p.packet_id && o.qos == 1;
        });
        if (it != inflight.end()) {
            inflight.erase(it);
            m_listener.pump(*m_session);
        }
    }

    void on_pubrec(const pm::Packet& p) {
        auto& inflight = m_session->inflight;
        auto it = std::find_if(inflight.begin(), inflight.end(), [&](const Outgoing& o) {
            return o.packet_id == p.packet_id && o.qos == 2;
        });
        if (it == inflight.end()) {
            send_ack(PacketType::pubrel, p.packet_id, pm::reason::packet_identifier_not_found);
            return;
        }
        if (p.reason_code >= 0x80) {
            inflight.erase(it); // the client refused it: the exchange ends here (MQTT 5)
            m_listener.pump(*m_session);
            return;
        }
        it->released = true;
        it->message.reset();
        send_ack(PacketType::pubrel, p.packet_id);
    }

    void on_pubcomp(const pm::Packet& p) {
        auto& inflight = m_session->inflight;
        auto it = std::find_if(inflight.begin(), inflight.end(), [&](const Outgoing& o) {
            return o.packet_id == p.packet_id && o.released;
        });
        if (it != inflight.end()) {
            inflight.erase(it);
            m_listener.pump(*m_session);
        }
    }

    void on_subscribe(const pm::Packet& p) {
        const bool v5 = m_version == Version::v5;
        std::uint32_t identifier = 0;
        if (v5 && !p.properties.subscription_identifiers.empty()) {
            if (p.properties.subscription_identifiers.size() > 1) {
                protocol_error("SUBSCRIBE with more than one subscription identifier");
                return;
            }
            identifier = p.properties.subscription_identifiers.front(); // never 0 (decoder)
        }
        const auto is_shared = [](std::string_view filter) {
            SharedFilter shared;
            return parse_shared_filter(filter, shared);
        };
        for (const pm::SubscribeTopic& topic : p.topics) {
            if (topic.no_local && is_shared(topic.filter) == ShareParse::shared) {
                protocol_error("no local on a shared subscription"); // MQTT-3.8.3-4
                return;
            }
        }
        std::vector<std::uint8_t> codes;
        codes.reserve(p.topics.size());
        std::vector<std::pair<std::string, std::uint8_t>> retained_for;
        for (const pm::SubscribeTopic& topic : p.topics) {
            const std::uint8_t fail =
                v5 ? pm::reason::topic_filter_invalid : pm::k_v311_subscribe_failure;
            const ShareParse share = is_shared(topic.filter);
            if (share == ShareParse::invalid || !valid_topic_filter(topic.filter)) {
                codes.push_back(fail);
                continue;
            }
            const std::uint8_t options = topic.options_byte();
            auto [code, is_new] =
                m_listener.subscribe(*m_session, topic.filter, options, identifier);
            if (code >= 0x80 && !v5) {
                code = pm::k_v311_subscribe_failure;
            }
            codes.push_back(code);
            // No retained messages for a shared subscription (MQTT 5 section 4.8.2).
            if (code < 0x80 && share == ShareParse::not_shared &&
                (topic.retain_handling == 0 || (topic.retain_handling == 1 && is_new))) {
                retained_for.emplace_back(std::string(topic.filter), topic.qos);
            }
        }
        std::string& out = scratch();
        pm::encode_suback(out, m_version, p.packet_id, codes);
        m_stream.write(out);
        for (const auto& [filter, qos] : retained_for) {
            m_listener.send_retained(*m_session, filter, qos, identifier);
        }
    }

    void on_unsubscribe(const pm::Packet& p) {
        std::vector<std::uint8_t> codes;
        codes.reserve(p.topics.size());
        for (const pm::SubscribeTopic& topic : p.topics) {
            codes.push_back(m_listener.unsubscribe(*m_session, topic.filter)
                                ? pm::reason::success
                                : pm::reason::no_subscription_existed);
        }
        std::string& out = scratch();
        pm::encode_unsuback(out, m_version, p.packet_id, codes);
        m_stream.write(out);
    }

    void on_disconnect(const pm::Packet& p) {
        if (m_version == Version::v5 && p.properties.has(PropertyId::session_expiry_interval)) {
            const std::uint32_t expiry = p.properties.session_expiry_interval;
            if (m_connect_expiry == 0 && expiry != 0) {
                protocol_error("DISCONNECT sets a session expiry after CONNECT set none");
                return;
            }
            m_session->expiry_s = expiry;
        }
        const bool with_will =
            m_version == Version::v5 && p.reason_code == pm::reason::disconnect_with_will;
        core::log_debug("mqtt: {}: DISCONNECT (reason 0x{:02x})", m_peer, p.reason_code);
        close(std::nullopt, with_will);
    }

public:
    /// Set by MqttListener::attach when an existing session was taken up.
    bool m_resumed = false;
    std::uint16_t m_receive_maximum = 65535;

private:
    MqttListener& m_listener;
    ServerStream m_stream;
    core::Timer m_timer; ///< The CONNECT deadline, then the keepalive check.
    pm::Decoder m_decoder;
    pm::Packet m_packet;
    Version m_version = Version::v311;
    std::string m_peer;
    Session* m_session = nullptr;
    std::unique_ptr<Will> m_will;
    std::unique_ptr<fault::ConnectionFaults> m_faults; ///< Null without --fault machinery.
    std::uint64_t m_last_rx = 0;
    std::uint64_t m_keepalive_ms = 0;
    std::uint32_t m_client_max_packet = 0; ///< 0: no limit.
    std::uint16_t m_topic_alias_max = 0;   ///< The client's Topic Alias Maximum (MQTT 5).
    /// Topic -> the alias this connection's client was given for it (aliases are per
    /// connection, MQTT 5 section 3.3.2.3.4).
    std::unordered_map<std::string, std::uint16_t, TopicHash, std::equal_to<>> m_aliases;
    std::uint32_t m_connect_expiry = 0;
    bool m_connected = false;
    bool m_closed = false;
};

MqttListener::MqttListener(core::Loop& loop, Hub& hub, MqttOptions options)
    : m_loop(loop)
    , m_hub(hub)
    , m_options(std::move(options))
    , m_server(new uv_tcp_t)
    , m_reaper(loop) {
    uv_tcp_init(loop.native(), m_server);
    m_server->data = this;
}

MqttListener::~MqttListener() {
    m_hub_subscription.reset();
    m_connections.clear();
    m_graveyard.clear();
    for (auto& [id, session] : m_sessions) {
        session->connection = nullptr;
    }
    m_sessions.clear();
    core::close_and_delete(m_server);
}

core::Result<std::unique_ptr<MqttListener>> MqttListener::create(core::Loop& loop, Hub& hub,
                                                                 const SocketAddress& address,
                                                                 MqttOptions options) {
    std::unique_ptr<MqttListener> listener(new MqttListener(loop, hub, std::move(options)));
    auto port = bind_and_listen(listener->m_server, address, [](uv_stream_t* server, int status) {
        static_cast<MqttListener*>(server->data)->on_connection(status);
    });
    if (!port) {
        return port.error();
    }
    listener->m_bound = address;
    listener->m_bound.port = port.value();
    auto subscription = hub.subscribe_all(*listener);
    if (!subscription) {
        return subscription.error();
    }
    listener->m_hub_subscription = std::move(subscription.value());
    return listener;
}

std::string MqttListener::url() const {
    return (m_options.tls != nullptr ? "mqtts://" : "mqtt://") + m_bound.authority();
}

void MqttListener::on_connection(int status) {
    if (status != 0) {
        core::log_verbose("mqtt: accept: {}", uv_strerror(status));
        return;
    }
    auto connection = std::make_unique<Connection>(*this);
    if (uv_accept(reinterpret_cast<uv_stream_t*>(m_server), connection->stream().stream()) != 0) {
        return;
    }
    if (m_options.faults != nullptr) {
        connection->set_faults(m_options.faults->open(fault::Protocol::mqtt));
    }
    connection->start();
    Connection* key = connection.get();
    m_connections.emplace(key, std::move(connection));
}

void MqttListener::bury(Connection* connection) {
    auto it = m_connections.find(connection);
    if (it == m_connections.end()) {
        return;
    }
    m_graveyard.push_back(std::move(it->second));
    m_connections.erase(it);
    if (!m_reaper.active()) {
        m_reaper.start(std::chrono::milliseconds(0), [this] { m_graveyard.clear(); });
    }
}

MqttListener::Session* MqttListener::attach(Connection& connection, const std::string& client_id,
                                            bool clean_start, std::uint32_t expiry_s) {
    auto it = m_sessions.find(client_id);
    if (it != m_sessions.end() && it->second->connection != nullptr) {
        // Client id takeover (MQTT 3.1.4-3): the old connection goes, its will with it.
        core::log_verbose("mqtt: client id '{}' taken over by a new connection", client_id);
        it->second->connection->close(pm::reason::session_taken_over, true);
        it = m_sessions.find(client_id); // the close may have ended the session
    }
    if (it != m_sessions.end() && clean_start) {
        end_session(client_id);
        it = m_sessions.end();
    }
    Session* session = nullptr;
    if (it == m_sessions.end()) {
        auto created = std::make_unique<Session>();
        created->client_id = client_id;
        session = created.get();
        m_sessions.emplace(client_id, std::move(created));
    } else {
        session = it->second.get();
        session->expiry_timer.reset();
        session->will.reset(); // reconnected within the will delay: no will (MQTT 3.1.3.2.2)
        connection.m_resumed = true;
    }
    session->connection = &connection;
    session->expiry_s = expiry_s;
    connection.set_session(session);
    return session;
}

void MqttListener::resume(Session& session) {
    Connection* connection = session.connection;
    // Retry what was in flight, in order, with DUP set (MQTT 4.4).
    for (auto it = session.inflight.begin(); it != session.inflight.end();) {
        if (it->released) {
            connection->send_ack(PacketType::pubrel, it->packet_id);
            ++it;
        } else if (it->message && connection->send_publish(*it->message, it->qos, it->retain, true,
                                                           it->packet_id, it->identifiers)) {
            ++it;
        } else {
            it = session.inflight.erase(it);
        }
    }
    pump(session);
}

void MqttListener::detach(Connection& connection, bool publish_will_now) {
    Session* session = connection.session();
    if (session == nullptr) {
        return;
    }
    connection.set_session(nullptr);
    session->connection = nullptr;
    std::unique_ptr<Will> will = connection.take_will();
    if (m_shutting_down) {
        return; // the sessions go with the server
    }
    const std::string client_id = session->client_id;
    if (will && publish_will_now) {
        if (will->delay_s == 0 || session->expiry_s == 0) {
            publish_will(*will);
        } else {
            session->will = std::move(will);
            session->will->timer = std::make_unique<core::Timer>(m_loop);
            session->will->timer->start(
                std::chrono::seconds(session->will->delay_s), [this, client_id] {
                    auto it = m_sessions.find(client_id);
                    if (it != m_sessions.end() && it->second->will) {
                        std::unique_ptr<Will> due = std::move(it->second->will);
                        publish_will(*due);
                    }
                });
        }
    }
    if (session->expiry_s == 0) {
        end_session(client_id);
    } else if (session->expiry_s != k_never_expires) {
        session->expiry_timer = std::make_unique<core::Timer>(m_loop);
        session->expiry_timer->start(std::chrono::seconds(session->expiry_s), [this, client_id] {
            core::log_debug("mqtt: session '{}' expired", client_id);
            end_session(client_id);
        });
    }
}

void MqttListener::publish_will(Will& will) {
    const std::uint64_t expires_at =
        will.expires ? m_loop.now_ms() + static_cast<std::uint64_t>(will.expiry_s) * 1000 : 0;
    publish(will.topic, std::move(will.payload), will.qos, will.retain, std::move(will.properties),
            expires_at, nullptr);
}

void MqttListener::end_session(const std::string& client_id) {
    auto it = m_sessions.find(client_id);
    if (it == m_sessions.end()) {
        return;
    }
    std::unique_ptr<Session> session = std::move(it->second);
    m_sessions.erase(it);
    std::vector<Outgoing> orphans; // shared-subscription messages not yet delivered
    for (auto* list : {&session->inflight, &session->queue}) {
        for (Outgoing& outgoing : *list) {
            if (!outgoing.shared_key.empty() && outgoing.message && !outgoing.released) {
                orphans.push_back(std::move(outgoing));
            }
        }
    }
    remove_subscriptions(*session);
    for (const Outgoing& orphan : orphans) {
        auto group = m_groups.find(orphan.shared_key);
        if (group != m_groups.end()) {
            deliver_to_group(*group->second, orphan.message);
        }
    }
    if (session->will) {
        publish_will(*session->will); // the session ended before the will delay did
    }
}

std::pair<std::uint8_t, bool> MqttListener::subscribe(Session& session, std::string_view filter,
                                                      std::uint8_t options,
                                                      std::uint32_t identifier) {
    auto existing = session.subscriptions.find(filter);
    if (existing != session.subscriptions.end()) {
        // The same filter again replaces the options and the identifier (MQTT 3.8.4-3).
        SessionSubscription& subscription = existing->second;
        subscription.options = options;
        subscription.identifier = identifier;
        if (subscription.group == nullptr) {
            m_tree.add(filter, &subscription, options);
        }
        return {static_cast<std::uint8_t>(options & 0x03), false};
    }
    if (m_tree.size() + m_shared_members + m_hub.subscriber_count() >=
        m_hub.limits().max_subscribers) {
        return {pm::reason::quota_exceeded, false};
    }
    SessionSubscription& subscription =
        session.subscriptions.emplace(std::string(filter), SessionSubscription{}).first->second;
    subscription.session = &session;
    subscription.options = options;
    subscription.identifier = identifier;
    SharedFilter shared;
    if (parse_shared_filter(filter, shared) == ShareParse::shared) {
        auto group = m_groups.find(std::string(filter));
        if (group == m_groups.end()) {
            auto created = std::make_unique<SharedGroup>();
            created->key = std::string(filter);
            created->filter = std::string(shared.filter);
            m_shared_tree.add(created->filter, created.get(), 0);
            group = m_groups.emplace(created->key, std::move(created)).first;
        }
        group->second->members.add(&subscription);
        subscription.group = group->second.get();
        ++m_shared_members;
    } else {
        m_tree.add(filter, &subscription, options);
    }
    return {static_cast<std::uint8_t>(options & 0x03), true};
}

void MqttListener::drop_subscription(const std::string& filter, SessionSubscription& subscription) {
    SharedGroup* group = subscription.group;
    if (group == nullptr) {
        m_tree.remove(filter, &subscription);
        return;
    }
    group->members.remove(&subscription);
    --m_shared_members;
    if (group->members.empty()) {
        m_shared_tree.remove(group->filter, group);
        m_groups.erase(group->key);
    }
}

bool MqttListener::unsubscribe(Session& session, std::string_view filter) {
    auto it = session.subscriptions.find(filter);
    if (it == session.subscriptions.end()) {
        return false;
    }
    drop_subscription(it->first, it->second);
    session.subscriptions.erase(it);
    return true;
}

void MqttListener::remove_subscriptions(Session& session) {
    for (auto& [filter, subscription] : session.subscriptions) {
        drop_subscription(filter, subscription);
    }
    session.subscriptions.clear();
}

void MqttListener::send_retained(Session& session, std::string_view filter, std::uint8_t qos,
                                 std::uint32_t identifier) {
    std::vector<std::shared_ptr<const HubMessage>> found;
    if (!has_wildcard(filter)) {
        if (auto message = m_hub.retained(filter)) {
            found.push_back(std::move(message));
        }
    } else {
        m_hub.for_each_topic([&](std::string_view topic) {
            if (topic_matches(filter, topic) && valid_topic_name(topic)) {
                if (auto message = m_hub.retained(topic)) {
                    found.push_back(std::move(message));
                }
            }
        });
    }
    const std::span<const std::uint32_t> identifiers(&identifier, identifier != 0 ? 1 : 0);
    for (const auto& message : found) {
        // A message sent because of a new subscription keeps its retain flag (MQTT 3.3.1.3).
        deliver(session, message, std::min(message->qos, qos), true, identifiers);
    }
}

bool MqttListener::publish(std::string_view topic, std::string payload, std::uint8_t qos,
                           bool retain, std::string properties, std::uint64_t expires_at_ms,
                           const Connection* from) {
    PublishOptions options;
    options.source = "mqtt";
    options.qos = qos;
    options.retain = retain;
    options.binary = !core::is_valid_utf8(payload);
    options.properties = std::move(properties);
    options.expires_at_ms = expires_at_ms;
    m_publishing = from;
    auto published = m_hub.publish(topic, std::move(payload), std::move(options));
    m_publishing = nullptr;
    if (!published) {
        core::log_verbose("mqtt: publish to '{}': {}", topic, published.error().message);
        return false;
    }
    return true;
}

void MqttListener::on_hub_message(const std::shared_ptr<const HubMessage>& message) {
    if (!valid_topic_name(message->topic)) {
        return; // a topic from another protocol that MQTT cannot name (it has '+' or '#')
    }
    if (message->expires_at_ms != 0 && m_loop.now_ms() >= message->expires_at_ms) {
        return;
    }
    // The best of each session's matching subscriptions: one copy per session (MQTT 5
    // section 3.3.4), at the highest QoS granted, retained as published if any says so, with
    // the identifier of every matching subscription that has one.
    const std::uint64_t round = ++m_match_round;
    m_matched.clear();
    const Connection* publisher = m_publishing;
    m_tree.match(message->topic, [&](SubscriptionTree::Key key, std::uint8_t options) {
        const auto* subscription = static_cast<const SessionSubscription*>(key);
        Session* session = subscription->session;
        if ((options & k_option_no_local) != 0 && publisher != nullptr &&
            session->connection == publisher) {
            return;
        }
        const auto qos = static_cast<std::uint8_t>(options & 0x03);
        const bool rap = (options & k_option_retain_as_published) != 0;
        if (session->match_round != round) {
            session->match_round = round;
            session->match_qos = qos;
            session->match_retain_as_published = rap;
            session->match_identifiers.clear();
            m_matched.push_back(session);
        } else {
            session->match_qos = std::max(session->match_qos, qos);
            session->match_retain_as_published = session->match_retain_as_published || rap;
        }
        if (subscription->identifier != 0) {
            session->match_identifiers.push_back(subscription->identifier);
        }
    });
    for (Session* session : m_matched) {
        std::sort(session->match_identifiers.begin(), session->match_identifiers.end());
        deliver(*session, message, std::min(message->qos, session->match_qos),
                session->match_retain_as_published && message->retain, session->match_identifiers);
    }
    if (m_shared_members != 0) {
        deliver_shared(message);
    }
}

void MqttListener::deliver_shared(const std::shared_ptr<const HubMessage>& message) {
    // Each matching shared subscription gives the message to one of its members, in turn,
    // preferring a member whose client is connected (MQTT 5 section 4.8.2). This copy is
    // apart from the ones sent for the session's ordinary subscriptions.
    m_matched_groups.clear();
    m_shared_tree.match(message->topic, [&](SubscriptionTree::Key key, std::uint8_t) {
        m_matched_groups.push_back(const_cast<SharedGroup*>(static_cast<const SharedGroup*>(key)));
    });
    for (SharedGroup* group : m_matched_groups) {
        deliver_to_group(*group, message);
    }
}

void MqttListener::deliver_to_group(SharedGroup& group,
                                    const std::shared_ptr<const HubMessage>& message) {
    const auto* member = static_cast<const SessionSubscription*>(
        group.members.pick([](RoundRobin::Member candidate) {
            return static_cast<const SessionSubscription*>(candidate)->session->connection !=
                   nullptr;
        }));
    const auto qos = static_cast<std::uint8_t>(member->options & 0x03);
    const bool rap = (member->options & k_option_retain_as_published) != 0;
    const std::uint32_t id = member->identifier;
    deliver(*member->session, message, std::min(message->qos, qos), rap && message->retain,
            std::span<const std::uint32_t>(&id, id != 0 ? 1 : 0), &group);
}

void MqttListener::deliver(Session& session, const std::shared_ptr<const HubMessage>& message,
                           std::uint8_t qos, bool retain,
                           std::span<const std::uint32_t> identifiers, const SharedGroup* group) {
    if (m_options.acl &&
        !m_options.acl->can_read(session.user, session.client_id, message->topic)) {
        return; // --mqtt-acl: this client may not read the topic
    }
    Connection* connection = session.connection;
    if (qos == 0) {
        // QoS 0 is not kept for a client that is away, nor piled up for one that is slow.
        if (connection != nullptr && connection->can_take_qos0()) {
            connection->send_publish(*message, 0, retain, false, 0, identifiers);
        }
        return;
    }
    Outgoing outgoing;
    outgoing.message = message;
    outgoing.qos = qos;
    outgoing.retain = retain;
    outgoing.identifiers.assign(identifiers.begin(), identifiers.end());
    if (group != nullptr) {
        outgoing.shared_key = group->key;
    }
    if (connection != nullptr && session.queue.empty() &&
        session.inflight.size() < connection->inflight_limit()) {
        outgoing.packet_id = session.allocate_packet_id();
        session.inflight.push_back(std::move(outgoing));
        if (!connection->send_publish(*message, qos, retain, false,
                                      session.inflight.back().packet_id, identifiers)) {
            session.inflight.pop_back();
        }
        return;
    }
    if (session.queue.size() >= m_options.max_queued) {
        core::log_verbose("mqtt: session '{}': queue full, message on '{}' dropped",
                          session.client_id, message->topic);
        return;
    }
    session.queue.push_back(std::move(outgoing));
}

void MqttListener::pump(Session& session) {
    Connection* connection = session.connection;
    while (connection != nullptr && !session.queue.empty() &&
           session.inflight.size() < connection->inflight_limit()) {
        session.inflight.push_back(std::move(session.queue.front()));
        session.queue.pop_front();
        Outgoing& outgoing = session.inflight.back();
        outgoing.packet_id = session.allocate_packet_id();
        if (!connection->send_publish(*outgoing.message, outgoing.qos, outgoing.retain, false,
                                      outgoing.packet_id, outgoing.identifiers)) {
            session.inflight.pop_back();
        }
    }
}

void MqttListener::shutdown() {
    m_shutting_down = true;
    if (m_server != nullptr) {
        core::close_and_delete(m_server);
        m_server = nullptr;
    }
    m_hub_subscription.reset();
    std::vector<Connection*> open;
    open.reserve(m_connections.size());
    for (auto& entry : m_connections) {
        open.push_back(entry.first);
    }
    for (Connection* connection : open) {
        connection->close(pm::reason::server_shutting_down, false);
    }
    // Session timers (expiry, will delay) must not keep the loop alive.
    std::vector<std::string> ids;
    for (auto& [id, session] : m_sessions) {
        ids.push_back(id);
    }
    for (const auto& id : ids) {
        auto it = m_sessions.find(id);
        remove_subscriptions(*it->second);
        m_sessions.erase(it);
    }
}

} // namespace rtx::serve::mqtt
