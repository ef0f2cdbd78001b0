#pragma once

#include "core/error.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rtx::serve {

/// One published message as the hub keeps it. Immutable once published and shared by the
/// history, the retained slot and every subscriber (no payload copy per subscriber).
struct HubMessage {
    std::uint64_t id = 0; ///< Per topic, monotonic from 1 (SSE `id:`, long-poll cursor).
    std::string topic;
    std::string payload;
    bool binary = false;  ///< Bytes rather than UTF-8 text (WebSocket opcode, SSE base64).
    std::string event;    ///< SSE `event:` name; empty: none (clients see "message").
    std::string source;   ///< Protocol that published it: "http", "ws", "mqtt", "tcp".
    bool retain = false;  ///< Published with the MQTT retain flag.
    std::uint8_t qos = 0; ///< MQTT QoS it was published with (0 for other protocols).
    /// MQTT 5 PUBLISH properties as encoded on the wire (payload format, content type,
    /// response topic, correlation data, user properties), passed through to MQTT 5
    /// subscribers; empty for other protocols. Message expiry is expires_at_ms instead.
    std::string properties;
    /// Loop time (ms) after which MQTT no longer delivers it (MQTT 5 message expiry); 0: never.
    std::uint64_t expires_at_ms = 0;
};

/// The optional attributes of a publish; everything but the topic and the payload.
struct PublishOptions {
    bool binary = false;
    std::string event;
    std::string source;
    /// MQTT retain (MQTT 3.1.1 section 3.3.1.3): the message becomes the topic's retained
    /// message; with an empty payload it clears the retained message instead. Either way it
    /// is also delivered and kept in the history like any other message.
    bool retain = false;
    std::uint8_t qos = 0;
    std::string properties;          ///< See HubMessage::properties.
    std::uint64_t expires_at_ms = 0; ///< See HubMessage::expires_at_ms.
};

/// Bounds on what one hub keeps. A limit reached on publish or subscribe is an Error, never
/// a crash; a history bound reached evicts the oldest messages (since() reports the gap).
struct HubLimits {
    /// Messages kept per topic for replay; 0: no history (live delivery only).
    std::size_t history_per_topic = 1000;
    /// Payload bytes kept per topic; the oldest messages go first. The history is always
    /// the topic's latest messages with no hole, so a message larger than this is delivered
    /// but leaves the topic's history empty.
    std::size_t history_bytes_per_topic = 4 * 1024 * 1024;
    /// Payload bytes kept over all topics; the oldest messages of the whole hub go first.
    std::size_t history_bytes_total = 64 * 1024 * 1024;
    /// Distinct topics; a topic exists once published to or subscribed to. A topic that was
    /// never published to is forgotten when its last subscriber leaves; one that was
    /// published to is kept for the hub's life (its ids must stay monotonic).
    std::size_t max_topics = 10000;
    /// Live subscriptions over all topics, subscribe_all() included.
    std::size_t max_subscribers = 100000;
    /// The id of a topic's first message. `rtx serve` starts ids at its start time in
    /// microseconds, so a restarted server hands out ids above any it gave before and a
    /// client resuming with an old Last-Event-ID or cursor gets the new history replayed.
    std::uint64_t first_id = 1;
};

/// Receives the messages of the topics it subscribed to. Implemented by the connections of
/// every listener. Loop thread only.
class Subscriber {
public:
    virtual ~Subscriber() = default;
    /// A message was published. Called synchronously from Hub::publish(), in id order per
    /// topic. The subscriber may keep `message` (shared, immutable) to send it later. It
    /// may subscribe, unsubscribe (itself or others) and publish from inside the call;
    /// a publish made here is delivered after the current message has reached everyone.
    /// Must not throw and must not destroy the Hub.
    virtual void on_hub_message(const std::shared_ptr<const HubMessage>& message) = 0;
};

namespace detail {
struct HubNode;
} // namespace detail

class Hub;

/// The RAII handle of one subscription: destroying it (or reset()) unsubscribes. Owned by
/// the subscribing connection, usually next to the Subscriber it names; it must not
/// outlive that Subscriber while active. It may outlive the Hub (it then does nothing).
/// Move-only. Loop thread only.
class Subscription {
public:
    /// An empty handle, subscribed to nothing.
    Subscription();
    Subscription(Subscription&& other) noexcept;
    Subscription& operator=(Subscription&& other) noexcept;
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    ~Subscription();

    /// Unsubscribes now (no more on_hub_message calls, even for a message being delivered
    /// right now). Safe to call from inside on_hub_message and more than once.
    void reset();
    /// True while subscribed to a live hub.
    bool active() const;
    explicit operator bool() const { return active(); }

private:
    friend class Hub;
    explicit Subscription(std::unique_ptr<detail::HubNode> node);
    std::unique_ptr<detail::HubNode> m_node;
};

/// What since() found: the messages after a cursor that the history still holds.
struct HubReplay {
    /// Oldest first, ids consecutive.
    std::vector<std::shared_ptr<const HubMessage>> messages;
    /// Some messages after the cursor are missing: evicted from the history, or the cursor
    /// is ahead of the topic's last id (it came from an earlier hub, e.g. before a restart:
    /// all the history is returned). Callers tell the client (SSE comment, long-poll flag).
    bool gap = false;
};

/// The in-process hub of `rtx serve`: topic -> subscribers, with a bounded history and a
/// retained message per topic. Every listener publishes to and subscribes from the one
/// hub, so a message published over one protocol reaches subscribers on every protocol.
/// Pure data structure: no I/O, no clock, no threads. Loop thread only. Not copyable or
/// movable (subscriptions point to it).
///
/// Topic names are opaque, non-empty strings compared byte for byte; MQTT wildcards are
/// matched by the MQTT listener, which sees every publish through subscribe_all().
class Hub {
public:
    /// An empty hub; `limits` are fixed for its life.
    explicit Hub(HubLimits limits = {});
    /// Live Subscription handles become inactive (they may outlive the hub). Must not run
    /// from inside on_hub_message.
    ~Hub();
    Hub(const Hub&) = delete;
    Hub& operator=(const Hub&) = delete;

    /// Assigns the topic's next id, keeps the message in the history (evicting the oldest
    /// past the limits), updates the retained message and delivers it synchronously to
    /// every subscriber of the topic, then to every subscribe_all() subscriber (called from
    /// inside on_hub_message, the delivery waits until the current one is done, so everyone
    /// sees the hub's messages in publish order). Fails (and changes nothing) for an empty
    /// topic name or a new topic past max_topics.
    /// The returned message is shared with the hub; the caller may keep it.
    core::Result<std::shared_ptr<const HubMessage>>
    publish(std::string_view topic, std::string payload, PublishOptions options = {});

    /// Delivers to `subscriber` exactly the messages published to `topic` after this call,
    /// until the returned handle is destroyed; so one added during a delivery does not get
    /// the message being delivered (since() replays what it needs). Subscribing twice means
    /// receiving twice. Fails for an empty topic name, past max_subscribers, or for a new
    /// topic past max_topics. `subscriber` is not owned and must outlive the handle.
    core::Result<Subscription> subscribe(std::string_view topic, Subscriber& subscriber);

    /// Called after each successful subscribe() (not subscribe_all()) with the topic's name:
    /// how the mock push service learns that a subscriber of push/{id} has connected. The
    /// hook must not publish, subscribe or unsubscribe (the new subscriber is not set up
    /// yet): it defers such work to a later loop turn. An empty function removes it.
    void set_subscribe_hook(std::function<void(std::string_view topic)> hook) {
        m_subscribe_hook = std::move(hook);
    }

    /// Like subscribe() but for every message of every topic, present and future: the hook
    /// for listeners that match topics themselves (MQTT wildcards, a firehose endpoint).
    core::Result<Subscription> subscribe_all(Subscriber& subscriber);

    /// The messages of `topic` with an id greater than `after_id` that the history still
    /// holds: SSE Last-Event-ID replay (after_id 0: the whole history) and long-poll
    /// cursors. An unknown topic has an empty history. An after_id below first_id (other
    /// than 0) comes from another run of the server: the whole history, with gap set.
    HubReplay since(std::string_view topic, std::uint64_t after_id) const;

    /// The id of the last message published to `topic`; 0 if none.
    std::uint64_t last_id(std::string_view topic) const;

    /// The topic's retained message (MQTT): the last one published with retain and a
    /// non-empty payload, unless a later retained empty payload cleared it; null if none.
    /// Not subject to history eviction.
    std::shared_ptr<const HubMessage> retained(std::string_view topic) const;

    /// Calls `visit` with the name of every topic, in no particular order (MQTT wildcard
    /// subscriptions use it with retained()). `visit` must not publish or subscribe.
    void for_each_topic(const std::function<void(std::string_view topic)>& visit) const;

    /// Topics the hub knows (see HubLimits::max_topics).
    std::size_t topic_count() const { return m_topics.size(); }
    /// Live subscriptions over all topics, subscribe_all() included.
    std::size_t subscriber_count() const { return m_subscriber_count; }
    /// Live subscriptions to `topic` (subscribe_all() not included).
    std::size_t subscriber_count(std::string_view topic) const;
    /// Payload bytes held by the history of every topic (see history_bytes_total).
    std::size_t history_bytes() const { return m_history_bytes; }
    /// The limits given to the constructor.
    const HubLimits& limits() const { return m_limits; }

private:
    friend class Subscription;
    friend struct detail::HubNode;
    struct Topic;

    /// Subscriptions in subscription order. Removing one leaves a null slot (a delivery may
    /// be walking the vector); slots are compacted when no delivery is running.
    struct SlotList {
        std::vector<detail::HubNode*> nodes;
        std::size_t dead = 0;
        bool dirty = false; ///< Queued in m_dirty for compaction after the delivery.
        std::size_t live() const { return nodes.size() - dead; }
    };

    /// A published message waiting for its turn: deliveries never nest, so every
    /// subscriber sees the messages of the hub in publish order.
    struct Pending {
        Topic* topic;
        std::shared_ptr<const HubMessage> message;
        std::uint64_t seq; ///< Hub-wide publish number; subscribers after it are skipped.
    };

    core::Result<Topic*> find_or_create(std::string_view name);
    const Topic* find(std::string_view name) const;
    void keep_in_history(Topic& topic, const std::shared_ptr<const HubMessage>& message);
    void evict_oldest(Topic& topic);
    core::Result<Subscription> add(SlotList& list, Topic* topic, Subscriber& subscriber);
    void remove(detail::HubNode& node);
    void deliver_pending();
    void deliver(SlotList& list, const Pending& pending);
    void compact(SlotList& list);
    void tidy(Topic* topic);

    HubLimits m_limits;
    /// Keys view Topic::name.
    std::unordered_map<std::string_view, std::unique_ptr<Topic>> m_topics;
    SlotList m_all; ///< subscribe_all() subscribers.
    std::size_t m_subscriber_count = 0;
    /// Every history entry of every topic, oldest first: the eviction order for
    /// history_bytes_total. Each entry names its topic, whose oldest entry it is when it
    /// reaches the front.
    std::list<Topic*> m_history_order;
    std::size_t m_history_bytes = 0;
    std::uint64_t m_published = 0; ///< Publishes so far (the last Pending::seq).
    std::deque<Pending> m_pending;
    bool m_delivering = false;
    std::vector<Topic*> m_dirty; ///< Topics whose slots wait for compaction (null: m_all).
    mutable bool m_visiting = false;
    std::function<void(std::string_view topic)> m_subscribe_hook;
};

} // namespace rtx::serve
