#pragma once

#include "core/duration.hpp"

#include <chrono>
#include <cstddef>
#include <list>
#include <optional>
#include <unordered_map>
#include <utility>

namespace rtx::core {

/// Deadlines of one fixed duration for many keys (connections), each armed, re-armed and
/// disarmed in O(1). Because every deadline is "now + the same duration", arming appends
/// to a FIFO that is therefore already sorted: the head is always the earliest. (A general
/// sorted list, as libwebsockets 4.1 keeps for its timeouts, costs O(n) per insertion,
/// and O(n^2) for a ramp to n connections.) The owner waits for next() with one loop
/// timer and collects what is due with pop_expired(). Not thread-safe.
template <class Key> class DeadlineQueue {
public:
    using Clock = std::chrono::steady_clock;

    explicit DeadlineQueue(Duration duration)
        : m_duration(duration) {}

    Duration duration() const { return m_duration; }

    /// Starts `key`'s deadline at now + duration(), replacing the one it had. Allocates only
    /// when the key was not armed: re-arming moves its entry to the tail.
    void arm(const Key& key, Clock::time_point now) {
        const Clock::time_point deadline = now + m_duration;
        if (auto it = m_index.find(key); it != m_index.end()) {
            it->second->deadline = deadline;
            m_order.splice(m_order.end(), m_order, it->second);
            return;
        }
        m_order.push_back(Entry{key, deadline});
        m_index.emplace(key, std::prev(m_order.end()));
    }

    /// Cancels `key`'s deadline; nothing when it has none.
    void disarm(const Key& key) {
        if (auto it = m_index.find(key); it != m_index.end()) {
            m_order.erase(it->second);
            m_index.erase(it);
        }
    }

    bool armed(const Key& key) const { return m_index.contains(key); }
    std::size_t size() const { return m_order.size(); }
    bool empty() const { return m_order.empty(); }

    /// The earliest deadline; nullopt when nothing is armed.
    std::optional<Clock::time_point> next() const {
        if (m_order.empty()) {
            return std::nullopt;
        }
        return m_order.front().deadline;
    }

    /// Disarms and returns the key with the earliest deadline if that deadline is not
    /// after `now`; nullopt otherwise. Call until nullopt to collect everything due.
    std::optional<Key> pop_expired(Clock::time_point now) {
        if (m_order.empty() || m_order.front().deadline > now) {
            return std::nullopt;
        }
        Key key = std::move(m_order.front().key);
        m_index.erase(key);
        m_order.pop_front();
        return key;
    }

private:
    struct Entry {
        Key key;
        Clock::time_point deadline;
    };

    Duration m_duration;
    std::list<Entry> m_order; ///< By deadline, earliest first (= arming order).
    std::unordered_map<Key, typename std::list<Entry>::iterator> m_index;
};

} // namespace rtx::core
