#pragma once

#include "core/error.hpp"
#include "core/loop.hpp"
#include "core/timer.hpp"
#include "serve/fault/injector.hpp"
#include "serve/hub.hpp"
#include "serve/listener.hpp"
#include "serve/mqtt/acl.hpp"
#include "serve/mqtt/topic_tree.hpp"
#include "serve/socket_address.hpp"
#include "serve/tls_config.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rtx::serve::mqtt {

/// The broker's settings (`rtx serve --mqtt-*`).
struct MqttOptions {
    /// When set, CONNECT must carry this user name and `password` (else CONNACK "bad user
    /// name or password").
    std::optional<std::string> user;
    std::string password;
    /// The largest packet accepted from a client (MQTT 5 clients are told in CONNACK);
    /// larger ones disconnect the client (reason 0x95).
    std::size_t max_packet = 1024 * 1024;
    /// QoS 1 and 2 messages queued per session while its client is away or busy; past it
    /// new ones are dropped.
    std::size_t max_queued = 10000;
    /// QoS 1 and 2 messages sent to a client and not yet acknowledged (further bounded by
    /// an MQTT 5 client's Receive Maximum).
    std::size_t max_inflight = 100;
    /// A connection must send CONNECT within this time.
    std::uint32_t connect_timeout_ms = 10000;
    /// The broker's Receive Maximum, announced to MQTT 5 clients in CONNACK: a client with
    /// more QoS 1/2 PUBLISH unacknowledged than this is disconnected (0x93, MQTT 5 section
    /// 3.3.4). 3.1.1 has no such limit.
    std::uint16_t receive_max = 100;
    /// When set, the Server Keep Alive (seconds) given to MQTT 5 clients in CONNACK, which
    /// then replaces the keep alive of their CONNECT (0: none); 3.1.1 clients keep theirs.
    std::optional<std::uint16_t> keep_alive;
    /// When set (it must outlive the listener), clients connect over TLS (mqtts://).
    const TlsServerContext* tls = nullptr;
    /// Per-topic read/write rules (--mqtt-acl); null: every client may do everything.
    std::shared_ptr<const Acl> acl;
    /// --fault (must outlive the listener); null: none.
    fault::Injector* faults = nullptr;
};

/// The MQTT 3.1.1 and 5 broker of `rtx serve`, on the core loop. Every PUBLISH goes through
/// the hub, and the broker takes every hub message (subscribe_all) and routes it to its
/// sessions by topic filter: so MQTT clients, SSE, streams, long-polls and WebSockets all
/// see each other's messages. Retained messages live in the hub's retained slot (one per
/// topic, cleared by an empty retained publish, whichever protocol published it).
/// Sessions (subscriptions, QoS 1/2 messages in flight or queued) outlive their connection
/// until they expire (clean session false / MQTT 5 session expiry); they are in memory
/// only. Loop thread only.
class MqttListener final : public Listener, private Subscriber {
public:
    /// Binds and listens; ExitCode::bind_failed if the address is taken or invalid.
    static core::Result<std::unique_ptr<MqttListener>>
    create(core::Loop& loop, Hub& hub, const SocketAddress& address, MqttOptions options);
    ~MqttListener() override;

    std::string name() const override { return "mqtt"; }
    std::string url() const override;
    void shutdown() override;
    std::size_t connections() const override { return m_connections.size(); }
    /// Sessions held, connected or not.
    std::size_t sessions() const { return m_sessions.size(); }

    class Connection;
    struct Session;
    struct SessionSubscription;
    struct SharedGroup;
    struct Will;

private:
    MqttListener(core::Loop& loop, Hub& hub, MqttOptions options);
    void on_connection(int status);
    void on_hub_message(const std::shared_ptr<const HubMessage>& message) override;

    /// Finds, takes over or creates the session of `client_id` for a new connection.
    Session* attach(Connection& connection, const std::string& client_id, bool clean_start,
                    std::uint32_t expiry_s);
    /// A session's connection is (back): resend what was in flight, then the queue.
    void resume(Session& session);
    /// Adds or updates a subscription (`filter` may be "$share/{group}/{filter}", already
    /// checked): the SUBACK code (granted QoS or an error) and whether it is new.
    std::pair<std::uint8_t, bool> subscribe(Session& session, std::string_view filter,
                                            std::uint8_t options, std::uint32_t identifier);
    bool unsubscribe(Session& session, std::string_view filter);
    /// Takes `subscription` (of `filter`) out of the tree or its shared group.
    void drop_subscription(const std::string& filter, SessionSubscription& subscription);
    /// Sends the retained messages matching `filter` (after a SUBSCRIBE), with the
    /// subscription's identifier (0: none).
    void send_retained(Session& session, std::string_view filter, std::uint8_t qos,
                       std::uint32_t identifier);
    /// Publishes to the hub (and so to every subscriber); `from` is the publishing
    /// connection (no-local), null for wills. False if the hub refused (topic limit).
    bool publish(std::string_view topic, std::string payload, std::uint8_t qos, bool retain,
                 std::string properties, std::uint64_t expires_at_ms, const Connection* from);
    /// Queues or sends one message to a session, with these Subscription Identifiers;
    /// `group` is the shared subscription it is delivered for, if any.
    void deliver(Session& session, const std::shared_ptr<const HubMessage>& message,
                 std::uint8_t qos, bool retain, std::span<const std::uint32_t> identifiers,
                 const SharedGroup* group = nullptr);
    /// Hands a message to one member of each shared subscription that matches it.
    void deliver_shared(const std::shared_ptr<const HubMessage>& message);
    /// Hands a message to the member of `group` whose turn it is.
    void deliver_to_group(SharedGroup& group, const std::shared_ptr<const HubMessage>& message);
    /// Sends queued messages while the session's in-flight window has room.
    void pump(Session& session);
    /// Called when a connection ends: the will, and the session's expiry.
    void detach(Connection& connection, bool publish_will);
    void publish_will(Will& will);
    void end_session(const std::string& client_id);
    void remove_subscriptions(Session& session);
    void bury(Connection* connection);

    core::Loop& m_loop;
    Hub& m_hub;
    MqttOptions m_options;
    uv_tcp_t* m_server;
    SocketAddress m_bound;
    Subscription m_hub_subscription;
    std::unordered_map<Connection*, std::unique_ptr<Connection>> m_connections;
    std::unordered_map<std::string, std::unique_ptr<Session>> m_sessions;
    SubscriptionTree m_tree;        ///< Ordinary subscriptions; keys are SessionSubscription*.
    SubscriptionTree m_shared_tree; ///< Shared subscriptions; keys are SharedGroup*.
    /// "$share/{group}/{filter}" -> its group, while it has members.
    std::unordered_map<std::string, std::unique_ptr<SharedGroup>> m_groups;
    std::size_t m_shared_members = 0; ///< Members over every group (the subscriber limit).
    /// Connections closed from inside their own callbacks, freed on the next loop turn.
    std::vector<std::unique_ptr<Connection>> m_graveyard;
    core::Timer m_reaper;
    const Connection* m_publishing = nullptr; ///< The connection whose PUBLISH is in the hub.
    std::uint64_t m_match_round = 0;
    std::vector<Session*> m_matched;
    std::vector<SharedGroup*> m_matched_groups;
    std::uint64_t m_assigned_ids = 0;
    bool m_shutting_down = false;
    std::string m_scratch;            ///< Every outgoing packet is encoded here.
    std::string m_properties_scratch; ///< Properties of the packet being encoded.
};

} // namespace rtx::serve::mqtt
