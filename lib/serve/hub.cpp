#include "serve/hub.hpp"

#include <fmt/format.h>

#include <cassert>
#include <iterator>
#include <utility>

namespace rtx::serve {

using core::Error;
using core::ExitCode;
using core::Result;

namespace detail {

/// One subscription, owned by its Subscription handle; the hub's SlotList points to it.
struct HubNode {
    Hub* hub;                ///< Null once unsubscribed or the hub is gone.
    Subscriber* subscriber;  ///< Not owned.
    Hub::Topic* topic;       ///< Null for subscribe_all().
    std::size_t index;       ///< Position in the SlotList.
    std::uint64_t after_seq; ///< Receives only publishes numbered after this.
};

} // namespace detail

struct Hub::Topic {
    /// One kept message and its place in Hub::m_history_order.
    struct Entry {
        std::shared_ptr<const HubMessage> message;
        std::list<Topic*>::iterator order;
    };

    std::string name;
    std::uint64_t last_id = 0; ///< first_id - 1 until the first publish.
    bool published = false;
    std::deque<Entry> history; ///< Consecutive ids, oldest first, ending at last_id.
    std::size_t history_bytes = 0;
    std::shared_ptr<const HubMessage> retained;
    SlotList subscribers;
};

Subscription::Subscription() = default;

Subscription::Subscription(std::unique_ptr<detail::HubNode> node)
    : m_node(std::move(node)) {}

Subscription::Subscription(Subscription&& other) noexcept = default;

Subscription& Subscription::operator=(Subscription&& other) noexcept {
    if (this != &other) {
        reset();
        m_node = std::move(other.m_node);
    }
    return *this;
}

Subscription::~Subscription() {
    reset();
}

void Subscription::reset() {
    std::unique_ptr<detail::HubNode> node = std::move(m_node);
    if (node && node->hub != nullptr) {
        node->hub->remove(*node);
    }
}

bool Subscription::active() const {
    return m_node && m_node->hub != nullptr;
}

Hub::Hub(HubLimits limits)
    : m_limits(limits) {}

Hub::~Hub() {
    assert(!m_delivering && "a Hub must not be destroyed from inside on_hub_message");
    auto detach = [](SlotList& list) {
        for (detail::HubNode* node : list.nodes) {
            if (node != nullptr) {
                node->hub = nullptr;
            }
        }
    };
    for (auto& [name, topic] : m_topics) {
        detach(topic->subscribers);
    }
    detach(m_all);
}

Result<std::shared_ptr<const HubMessage>>
Hub::publish(std::string_view topic_name, std::string payload, PublishOptions options) {
    Result<Topic*> found = find_or_create(topic_name);
    if (!found) {
        return found.error();
    }
    Topic& topic = **found;

    auto message = std::make_shared<HubMessage>();
    message->id = ++topic.last_id;
    topic.published = true;
    message->topic = topic.name;
    message->payload = std::move(payload);
    message->binary = options.binary;
    message->event = std::move(options.event);
    message->source = std::move(options.source);
    message->retain = options.retain;
    message->qos = options.qos;
    message->properties = std::move(options.properties);
    message->expires_at_ms = options.expires_at_ms;
    std::shared_ptr<const HubMessage> shared = std::move(message);

    // MQTT 3.1.1 section 3.3.1.3: a retained zero-byte payload removes the retained message.
    if (shared->retain) {
        topic.retained = shared->payload.empty() ? nullptr : shared;
    }
    keep_in_history(topic, shared);

    m_pending.push_back(Pending{&topic, shared, ++m_published});
    if (!m_delivering) {
        deliver_pending();
    }
    return shared;
}

Result<Subscription> Hub::subscribe(std::string_view topic_name, Subscriber& subscriber) {
    if (m_subscriber_count >= m_limits.max_subscribers) {
        return Error{ExitCode::failure,
                     fmt::format("hub: too many subscribers (limit {})", m_limits.max_subscribers)};
    }
    Result<Topic*> found = find_or_create(topic_name);
    if (!found) {
        return found.error();
    }
    Result<Subscription> added = add((*found)->subscribers, *found, subscriber);
    if (added && m_subscribe_hook) {
        m_subscribe_hook(topic_name);
    }
    return added;
}

Result<Subscription> Hub::subscribe_all(Subscriber& subscriber) {
    if (m_subscriber_count >= m_limits.max_subscribers) {
        return Error{ExitCode::failure,
                     fmt::format("hub: too many subscribers (limit {})", m_limits.max_subscribers)};
    }
    return add(m_all, nullptr, subscriber);
}

HubReplay Hub::since(std::string_view topic_name, std::uint64_t after_id) const {
    HubReplay replay;
    const Topic* topic = find(topic_name);
    if (topic == nullptr || !topic->published) {
        replay.gap = after_id != 0; // a cursor for a topic this hub never had: another run
        return replay;
    }
    const std::uint64_t last = topic->last_id;
    if (after_id == last) {
        return replay;
    }
    const std::uint64_t first = m_limits.first_id;
    std::size_t start = 0;
    if (after_id > last) {
        replay.gap = true; // a cursor from another hub: replay all we have
    } else if (after_id + 1 < first) {
        // Before this hub's first id: the whole history. A gap unless the client asked for
        // everything (0) and nothing was evicted.
        replay.gap =
            after_id != 0 || topic->history.empty() || topic->history.front().message->id != first;
    } else if (topic->history.empty() || after_id + 1 < topic->history.front().message->id) {
        replay.gap = true;
    } else {
        start = static_cast<std::size_t>(after_id + 1 - topic->history.front().message->id);
    }
    {
        replay.messages.reserve(topic->history.size() - start);
        for (auto it = topic->history.begin() + static_cast<std::ptrdiff_t>(start);
             it != topic->history.end(); ++it) {
            replay.messages.push_back(it->message);
        }
    }
    return replay;
}

std::uint64_t Hub::last_id(std::string_view topic_name) const {
    const Topic* topic = find(topic_name);
    return topic != nullptr && topic->published ? topic->last_id : 0;
}

std::shared_ptr<const HubMessage> Hub::retained(std::string_view topic_name) const {
    const Topic* topic = find(topic_name);
    return topic != nullptr ? topic->retained : nullptr;
}

void Hub::for_each_topic(const std::function<void(std::string_view topic)>& visit) const {
    m_visiting = true;
    for (const auto& [name, topic] : m_topics) {
        visit(name);
    }
    m_visiting = false;
}

std::size_t Hub::subscriber_count(std::string_view topic_name) const {
    const Topic* topic = find(topic_name);
    return topic != nullptr ? topic->subscribers.live() : 0;
}

Result<Hub::Topic*> Hub::find_or_create(std::string_view name) {
    if (name.empty()) {
        return Error{ExitCode::failure, "hub: empty topic name"};
    }
    if (auto it = m_topics.find(name); it != m_topics.end()) {
        return it->second.get();
    }
    if (m_topics.size() >= m_limits.max_topics) {
        return Error{ExitCode::failure,
                     fmt::format("hub: too many topics (limit {})", m_limits.max_topics)};
    }
    assert(!m_visiting && "for_each_topic's callback must not create topics");
    auto topic = std::make_unique<Topic>();
    topic->name = std::string(name);
    topic->last_id = m_limits.first_id - 1;
    Topic* raw = topic.get();
    m_topics.emplace(std::string_view(raw->name), std::move(topic));
    return raw;
}

const Hub::Topic* Hub::find(std::string_view name) const {
    auto it = m_topics.find(name);
    return it != m_topics.end() ? it->second.get() : nullptr;
}

void Hub::keep_in_history(Topic& topic, const std::shared_ptr<const HubMessage>& message) {
    if (m_limits.history_per_topic == 0) {
        return;
    }
    const std::size_t bytes = message->payload.size();
    m_history_order.push_back(&topic);
    topic.history.push_back(Topic::Entry{message, std::prev(m_history_order.end())});
    topic.history_bytes += bytes;
    m_history_bytes += bytes;
    while (!topic.history.empty() && (topic.history.size() > m_limits.history_per_topic ||
                                      topic.history_bytes > m_limits.history_bytes_per_topic)) {
        evict_oldest(topic);
    }
    while (m_history_bytes > m_limits.history_bytes_total) {
        evict_oldest(*m_history_order.front());
    }
}

void Hub::evict_oldest(Topic& topic) {
    Topic::Entry& oldest = topic.history.front();
    const std::size_t bytes = oldest.message->payload.size();
    topic.history_bytes -= bytes;
    m_history_bytes -= bytes;
    m_history_order.erase(oldest.order);
    topic.history.pop_front();
}

Result<Subscription> Hub::add(SlotList& list, Topic* topic, Subscriber& subscriber) {
    auto node = std::make_unique<detail::HubNode>(
        detail::HubNode{this, &subscriber, topic, list.nodes.size(), m_published});
    list.nodes.push_back(node.get());
    ++m_subscriber_count;
    return Subscription(std::move(node));
}

void Hub::remove(detail::HubNode& node) {
    SlotList& list = node.topic != nullptr ? node.topic->subscribers : m_all;
    list.nodes[node.index] = nullptr;
    ++list.dead;
    --m_subscriber_count;
    node.hub = nullptr;
    if (m_delivering) {
        // A delivery may be walking this list: leave the null slot until it is done.
        if (!list.dirty) {
            list.dirty = true;
            m_dirty.push_back(node.topic);
        }
        return;
    }
    // Amortised O(1): compact once half the slots are dead.
    if (list.dead * 2 >= list.nodes.size()) {
        compact(list);
    }
    tidy(node.topic);
}

void Hub::deliver_pending() {
    // Resets the flag even if a subscriber throws (which it must not).
    struct Delivering {
        bool& flag;
        explicit Delivering(bool& f)
            : flag(f) {
            flag = true;
        }
        ~Delivering() { flag = false; }
        Delivering(const Delivering&) = delete;
        Delivering& operator=(const Delivering&) = delete;
    };
    {
        Delivering delivering(m_delivering);
        while (!m_pending.empty()) {
            Pending pending = std::move(m_pending.front());
            m_pending.pop_front();
            deliver(pending.topic->subscribers, pending);
            deliver(m_all, pending);
        }
    }
    std::vector<Topic*> dirty;
    dirty.swap(m_dirty);
    for (Topic* topic : dirty) {
        SlotList& list = topic != nullptr ? topic->subscribers : m_all;
        list.dirty = false;
        compact(list);
        tidy(topic);
    }
}

void Hub::deliver(SlotList& list, const Pending& pending) {
    // Slots added during the delivery are past `count`, and would be skipped anyway by
    // after_seq. Index, not iterators: the vector may grow during a callback.
    const std::size_t count = list.nodes.size();
    for (std::size_t i = 0; i < count; ++i) {
        detail::HubNode* node = list.nodes[i];
        if (node != nullptr && node->after_seq < pending.seq) {
            node->subscriber->on_hub_message(pending.message);
        }
    }
}

void Hub::compact(SlotList& list) {
    std::size_t kept = 0;
    for (detail::HubNode* node : list.nodes) {
        if (node != nullptr) {
            node->index = kept;
            list.nodes[kept++] = node;
        }
    }
    list.nodes.resize(kept);
    list.dead = 0;
}

void Hub::tidy(Topic* topic) {
    // A topic never published to holds nothing but subscribers: forget it with the last one
    // so subscribe/unsubscribe churn does not use up max_topics. A published topic stays:
    // forgetting it would restart its ids and break the cursors of clients.
    if (topic == nullptr || topic->subscribers.live() != 0 || topic->published) {
        return;
    }
    assert(!m_visiting && "for_each_topic's callback must not unsubscribe");
    auto it = m_topics.find(topic->name);
    m_topics.erase(it);
}

} // namespace rtx::serve
