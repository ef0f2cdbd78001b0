#include "serve/mqtt/shared_subscription.hpp"

#include "serve/mqtt/topic_tree.hpp"

#include <algorithm>

namespace rtx::serve::mqtt {

ShareParse parse_shared_filter(std::string_view text, SharedFilter& out) {
    constexpr std::string_view prefix = "$share/";
    if (!text.starts_with(prefix)) {
        return ShareParse::not_shared;
    }
    const std::string_view rest = text.substr(prefix.size());
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0) {
        return ShareParse::invalid; // MQTT-4.8.2-1: a ShareName, then '/' and a filter
    }
    const std::string_view group = rest.substr(0, slash);
    if (group.find_first_of("+#") != std::string_view::npos) {
        return ShareParse::invalid; // MQTT-4.8.2-2
    }
    const std::string_view filter = rest.substr(slash + 1);
    if (!valid_topic_filter(filter)) {
        return ShareParse::invalid;
    }
    out.group = group;
    out.filter = filter;
    return ShareParse::shared;
}

bool RoundRobin::add(Member member) {
    if (std::find(m_members.begin(), m_members.end(), member) != m_members.end()) {
        return false;
    }
    m_members.push_back(member);
    return true;
}

bool RoundRobin::remove(Member member) {
    auto it = std::find(m_members.begin(), m_members.end(), member);
    if (it == m_members.end()) {
        return false;
    }
    const auto index = static_cast<std::size_t>(it - m_members.begin());
    m_members.erase(it);
    if (index < m_next) {
        --m_next; // the member whose turn was next keeps it
    }
    if (m_next >= m_members.size()) {
        m_next = 0;
    }
    return true;
}

RoundRobin::Member RoundRobin::pick(const std::function<bool(Member)>& eligible) {
    if (m_members.empty()) {
        return nullptr;
    }
    std::size_t chosen = m_next;
    for (std::size_t i = 0; i < m_members.size(); ++i) {
        const std::size_t index = (m_next + i) % m_members.size();
        if (eligible(m_members[index])) {
            chosen = index;
            break;
        }
    }
    m_next = (chosen + 1) % m_members.size();
    return m_members[chosen];
}

} // namespace rtx::serve::mqtt
