#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

/// MQTT topic names, topic filters and the subscription tree of the broker. Pure.
namespace rtx::serve::mqtt {

/// A topic name a client may publish to: non-empty, no '+' or '#' (MQTT 4.7.3).
bool valid_topic_name(std::string_view name);
/// A topic filter a client may subscribe to: non-empty; '+' only as a whole level, '#' only
/// as the whole last level (MQTT 4.7.1).
bool valid_topic_filter(std::string_view filter);
/// True if `filter` matches `name`. A name starting with '$' ($SYS/...) is not matched by a
/// filter starting with a wildcard (MQTT 4.7.2).
bool topic_matches(std::string_view filter, std::string_view name);
/// True if `filter` contains '+' or '#'.
bool has_wildcard(std::string_view filter);

/// Topic filter -> subscribers, as a tree of levels, so matching a topic name costs its
/// levels times the wildcard branches rather than one test per subscription. A subscriber
/// is an opaque key with one byte of options (the broker's session and its SUBSCRIBE
/// options byte); a key holds at most one subscription per filter.
class SubscriptionTree {
public:
    using Key = const void*;
    SubscriptionTree();
    ~SubscriptionTree();
    SubscriptionTree(const SubscriptionTree&) = delete;
    SubscriptionTree& operator=(const SubscriptionTree&) = delete;

    /// Adds or replaces `key`'s subscription to `filter` (which must be valid); true if it
    /// is new, false if it replaced the options of an existing one.
    bool add(std::string_view filter, Key key, std::uint8_t options);
    /// Removes `key`'s subscription to `filter`; false if there was none.
    bool remove(std::string_view filter, Key key);
    /// Calls `visit(key, options)` for every subscription whose filter matches `name`; a key
    /// subscribed with several matching filters is visited once per filter.
    void match(std::string_view name,
               const std::function<void(Key key, std::uint8_t options)>& visit) const;
    /// Subscriptions held.
    std::size_t size() const { return m_size; }

private:
    struct Node;
    std::unique_ptr<Node> m_root;
    std::size_t m_size = 0;
};

} // namespace rtx::serve::mqtt
