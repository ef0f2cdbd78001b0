#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <utility>

namespace rtx::core {

/// A std::deque made on first use. libstdc++'s deque allocates its map and a 512-byte block
/// as soon as it is constructed, empty or not: ~580 bytes for every idle connection of
/// `rtx serve` that holds one for a queue it rarely uses. Unlike core::Fifo (one vector, whose
/// growth moves its elements), references to elements stay valid across emplace_back, as a
/// deque's do: code that holds one while it queues more keeps working. clear() frees it.
template <class T> class LazyDeque {
public:
    bool empty() const { return !m_items || m_items->empty(); }
    std::size_t size() const { return m_items ? m_items->size() : 0; }
    T& front() { return m_items->front(); }
    T& back() { return m_items->back(); }
    template <class... Args> T& emplace_back(Args&&... args) {
        if (!m_items) {
            m_items = std::make_unique<std::deque<T>>();
        }
        return m_items->emplace_back(std::forward<Args>(args)...);
    }
    void pop_front() { m_items->pop_front(); }
    void pop_back() { m_items->pop_back(); }
    void clear() { m_items.reset(); }
    /// Read-only iteration, in order (an unmade deque iterates as an empty one).
    typename std::deque<T>::const_iterator begin() const { return items().cbegin(); }
    typename std::deque<T>::const_iterator end() const { return items().cend(); }

private:
    const std::deque<T>& items() const {
        static const std::deque<T> none;
        return m_items ? *m_items : none;
    }

    std::unique_ptr<std::deque<T>> m_items;
};

} // namespace rtx::core
