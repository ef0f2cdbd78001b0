#pragma once

#include <cassert>
#include <cstddef>
#include <utility>
#include <vector>

namespace rtx::core {

/// A first-in first-out queue on one std::vector: pop_front advances an index, and the
/// vector is emptied (capacity kept) when the queue drains, so a queue that fills and
/// empties again and again never allocates after its first use. std::deque allocates a
/// 512-byte block as soon as it is constructed (per connection, for queues that are
/// mostly empty) and one more every few elements as it moves along. A queue that never
/// drains is compacted when its dead front is larger than what is live (amortised O(1)).
template <class T> class Fifo {
public:
    bool empty() const { return m_head == m_items.size(); }
    std::size_t size() const { return m_items.size() - m_head; }

    T& front() {
        assert(!empty());
        return m_items[m_head];
    }
    const T& front() const {
        assert(!empty());
        return m_items[m_head];
    }

    template <class... Args> T& emplace_back(Args&&... args) {
        if (m_head > 0 && m_items.size() == m_items.capacity() && m_head * 2 >= m_items.size()) {
            compact(); // make room without growing
        }
        return m_items.emplace_back(std::forward<Args>(args)...);
    }
    void push_back(T item) { emplace_back(std::move(item)); }

    void pop_front() {
        assert(!empty());
        m_items[m_head] = T(); // release what it holds now, not at the next compaction
        if (++m_head == m_items.size()) {
            clear();
        }
    }

    /// Removes everything; the capacity stays.
    void clear() {
        m_items.clear();
        m_head = 0;
    }

private:
    void compact() {
        m_items.erase(m_items.begin(), m_items.begin() + static_cast<std::ptrdiff_t>(m_head));
        m_head = 0;
    }

    std::vector<T> m_items;
    std::size_t m_head = 0;
};

} // namespace rtx::core
