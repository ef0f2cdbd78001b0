#include "serve/mqtt/topic_tree.hpp"

#include <algorithm>
#include <utility>

namespace rtx::serve::mqtt {

namespace {

/// Splits off the first level of `rest` (up to '/'); `rest` keeps what follows the '/'.
/// `last` tells whether this was the last level.
std::string_view next_level(std::string_view& rest, bool& last) {
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos) {
        std::string_view level = rest;
        rest = {};
        last = true;
        return level;
    }
    std::string_view level = rest.substr(0, slash);
    rest.remove_prefix(slash + 1);
    last = false;
    return level;
}

} // namespace

bool valid_topic_name(std::string_view name) {
    return !name.empty() && name.size() <= 65535 && !has_wildcard(name);
}

bool has_wildcard(std::string_view filter) {
    return filter.find_first_of("+#") != std::string_view::npos;
}

bool valid_topic_filter(std::string_view filter) {
    if (filter.empty() || filter.size() > 65535) {
        return false;
    }
    std::string_view rest = filter;
    bool last = false;
    do {
        const std::string_view level = next_level(rest, last);
        if (level.find_first_of("+#") == std::string_view::npos) {
            continue;
        }
        if (level == "+") {
            continue;
        }
        if (level == "#" && last) {
            continue;
        }
        return false;
    } while (!last);
    return true;
}

bool topic_matches(std::string_view filter, std::string_view name) {
    if (!name.empty() && name[0] == '$' && !filter.empty() &&
        (filter[0] == '+' || filter[0] == '#')) {
        return false;
    }
    bool filter_last = false;
    bool name_last = false;
    for (;;) {
        const std::string_view f = next_level(filter, filter_last);
        if (f == "#") {
            return true; // matches the parent level too: "a/#" matches "a"
        }
        const std::string_view n = next_level(name, name_last);
        if (f != "+" && f != n) {
            return false;
        }
        if (filter_last || name_last) {
            break;
        }
    }
    if (filter_last && name_last) {
        return true;
    }
    // The name is used up but the filter goes on: only "/#" may follow.
    return name_last && !filter_last && filter == "#";
}

struct SubscriptionTree::Node {
    std::map<std::string, std::unique_ptr<Node>, std::less<>> children;
    std::vector<std::pair<Key, std::uint8_t>> subscribers;
};

SubscriptionTree::SubscriptionTree()
    : m_root(std::make_unique<Node>()) {}

SubscriptionTree::~SubscriptionTree() = default;

bool SubscriptionTree::add(std::string_view filter, Key key, std::uint8_t options) {
    Node* node = m_root.get();
    std::string_view rest = filter;
    bool last = false;
    do {
        const std::string_view level = next_level(rest, last);
        auto it = node->children.find(level);
        if (it == node->children.end()) {
            it = node->children.emplace(std::string(level), std::make_unique<Node>()).first;
        }
        node = it->second.get();
    } while (!last);
    for (auto& [existing, existing_options] : node->subscribers) {
        if (existing == key) {
            existing_options = options;
            return false;
        }
    }
    node->subscribers.emplace_back(key, options);
    ++m_size;
    return true;
}

bool SubscriptionTree::remove(std::string_view filter, Key key) {
    // The path from the root, to prune the nodes left empty.
    std::vector<std::pair<Node*, std::string_view>> path;
    Node* node = m_root.get();
    std::string_view rest = filter;
    bool last = false;
    do {
        const std::string_view level = next_level(rest, last);
        auto it = node->children.find(level);
        if (it == node->children.end()) {
            return false;
        }
        path.emplace_back(node, level);
        node = it->second.get();
    } while (!last);
    auto found = std::find_if(node->subscribers.begin(), node->subscribers.end(),
                              [key](const auto& entry) { return entry.first == key; });
    if (found == node->subscribers.end()) {
        return false;
    }
    node->subscribers.erase(found);
    --m_size;
    for (auto it = path.rbegin(); it != path.rend(); ++it) {
        auto child = it->first->children.find(it->second);
        if (!child->second->subscribers.empty() || !child->second->children.empty()) {
            break;
        }
        it->first->children.erase(child);
    }
    return true;
}

namespace {

template <class NodeT, class Visit>
void match_node(const NodeT& node, std::string_view rest, bool done, bool first,
                const Visit& visit) {
    auto emit = [&](const NodeT& target) {
        for (const auto& [key, options] : target.subscribers) {
            visit(key, options);
        }
    };
    // "#" matches this level and everything below, including nothing ("a/#" matches "a").
    // A topic starting with '$' is not matched by a first-level wildcard.
    const bool dollar = first && !rest.empty() && rest[0] == '$';
    if (!dollar) {
        if (auto hash = node.children.find(std::string_view("#")); hash != node.children.end()) {
            emit(*hash->second);
        }
    }
    if (done) {
        emit(node);
        return;
    }
    bool last = false;
    const std::string_view level = next_level(rest, last);
    if (auto exact = node.children.find(level); exact != node.children.end()) {
        match_node(*exact->second, rest, last, false, visit);
    }
    if (!dollar) {
        if (auto plus = node.children.find(std::string_view("+")); plus != node.children.end()) {
            match_node(*plus->second, rest, last, false, visit);
        }
    }
}

} // namespace

void SubscriptionTree::match(
    std::string_view name, const std::function<void(Key key, std::uint8_t options)>& visit) const {
    if (name.empty()) {
        return;
    }
    match_node(*m_root, name, false, true, visit);
}

} // namespace rtx::serve::mqtt
