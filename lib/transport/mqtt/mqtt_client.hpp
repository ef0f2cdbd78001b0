#pragma once

#include "core/duration.hpp"
#include "core/loop.hpp"
#include "transport/connection.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rtx::transport::mqtt {

/// One `-t` of `rtx mqtt sub`.
struct Subscription {
    std::string filter; ///< Topic filter, wildcards allowed (MQTT 3.1.1 section 4.7).
    int qos = 0;
    bool no_local = false;            ///< v5: not our own publications.
    bool retain_as_published = false; ///< v5: keep the retain flag as the publisher set it.
    int retain_handling = 0; ///< v5: 0 send retained, 1 only for a new subscription, 2 never.
};

/// A v5 user property (name, value).
struct UserProperty {
    std::string name;
    std::string value;
};

/// How `send()` publishes: one topic for every message of the run.
struct PublishSettings {
    std::string topic;
    int qos = 0;
    bool retain = false;
    // MQTT 5 properties (section 3.3.2.3); empty or unset: not sent.
    std::string content_type;
    std::string response_topic;
    std::string correlation_data;
    std::optional<std::uint32_t> message_expiry; ///< Seconds.
    std::vector<UserProperty> user_properties;
};

/// The size of the PUBLISH packet that carries `payload_size` bytes with these settings,
/// fixed header included, as MQTT `version` (4: 3.1.1, 5) encodes it.
std::uint64_t publish_packet_size(const PublishSettings& settings, int version,
                                  std::uint64_t payload_size);
/// The largest payload such a PUBLISH can carry: MQTT's Remaining Length is at most
/// 268,435,455 bytes, topic, packet id and properties included.
std::uint64_t max_publish_payload(const PublishSettings& settings, int version);

/// The last-will message the broker publishes when the client vanishes.
struct Will {
    std::string topic;
    std::string payload;
    int qos = 0;
    bool retain = false;
    std::uint32_t delay = 0; ///< v5 will delay interval, seconds.
};

/// Everything one MQTT client needs; filled by cmd/mqtt.cpp.
struct MqttOptions {
    /// The broker as Paho spells it: tcp://, ssl://, ws:// or wss://, host and port (and a
    /// path for WebSocket).
    std::string server_uri;
    bool tls = false;
    /// The broker's host and port, for the plain TCP probe that tells a TLS failure from an
    /// unreachable broker (Paho reports both with one generic code).
    std::string host;
    std::uint16_t port = 0;
    int version = 4; ///< 4: MQTT 3.1.1, 5: MQTT 5.
    std::string client_id;
    core::Duration keepalive{std::chrono::seconds(60)};
    /// 3.1.1 clean session / v5 clean start. false: a persistent session, so QoS 1/2
    /// messages queued at the broker while offline and in flight at a drop are delivered.
    bool clean = true;
    std::optional<std::uint32_t> session_expiry; ///< v5, seconds.
    std::string username;
    std::optional<std::string> password;
    std::optional<Will> will;
    std::vector<UserProperty> connect_user_properties;
    TlsOptions tls_options;
    core::Duration connect_timeout{std::chrono::seconds(10)};
    std::vector<Subscription> subscriptions;
    /// sub --retained-only: deliver retained messages, end at the first live one.
    bool retained_only = false;
    PublishSettings publish;
};

/// One MQTT client whose session outlives connection attempts: each attempt() runs on a
/// fresh Paho async_client restored from rtx's in-memory session store (a persistent
/// session), so the QoS 1/2 messages in flight at a drop are resent after a reconnect with
/// their packet ids (see mqtt_client.cpp for why not the same Paho client). Paho's own
/// threads only post to the loop; everything here runs on the loop thread. Destroy it
/// before the Loop (it stops Paho's callbacks from posting first).
class MqttClient {
public:
    /// Throws core::UsageError when Paho rejects the URI or the client id.
    MqttClient(core::Loop& loop, MqttOptions options);
    ~MqttClient();
    MqttClient(const MqttClient&) = delete;
    MqttClient& operator=(const MqttClient&) = delete;

    /// Starts one connection attempt reporting to `handler`: open after CONNACK (and after
    /// the SUBACKs when there are subscriptions). send() publishes with the PublishSettings;
    /// finish_sending() waits until every QoS 1/2 message is acknowledged, then disconnects
    /// (on_close: ok, by_peer). A refused CONNACK or SUBACK closes it with ExitCode::refused
    /// and the reason code in protocol_code.
    std::unique_ptr<Connection> attempt(Handler& handler, std::uint64_t id);

    struct Impl;

private:
    std::shared_ptr<Impl> m_impl;
};

} // namespace rtx::transport::mqtt
