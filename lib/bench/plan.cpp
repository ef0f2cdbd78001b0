#include "bench/plan.hpp"

namespace rtx::bench {

std::string_view protocol_name(Protocol protocol) {
    switch (protocol) {
    case Protocol::tcp:
        return "tcp";
    case Protocol::sse:
        return "sse";
    case Protocol::stream:
        return "stream";
    case Protocol::poll:
        return "poll";
    case Protocol::ws:
        return "ws";
    case Protocol::mqtt:
        return "mqtt";
    }
    return "?";
}

bool is_fanout(Protocol protocol) {
    return protocol != Protocol::tcp && protocol != Protocol::ws;
}

std::string Plan::topic_name(std::size_t index) const {
    if (topics <= 1) {
        return topic;
    }
    return topic + "-" + std::to_string(index % topics);
}

std::string Plan::subscription_filter(std::size_t index) const {
    if (share_group.empty()) {
        return topic_name(index);
    }
    return "$share/" + share_group + "/" + topic_name(index);
}

std::size_t Plan::deliveries_per_message(std::size_t topic_index) const {
    const std::size_t subscribers = subscribers_on(topic_index);
    return share_group.empty() ? subscribers : std::min<std::size_t>(subscribers, 1);
}

std::size_t Plan::subscribers_on(std::size_t topic_index) const {
    if (topics <= 1) {
        return connections;
    }
    return connections / topics + (topic_index < connections % topics ? 1 : 0);
}

std::uint64_t Plan::quota(std::size_t index) const {
    if (messages == 0) {
        return 0;
    }
    std::size_t n = senders();
    return messages / n + (index < messages % n ? 1 : 0);
}

std::uint64_t Plan::now_ns() const {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now() - epoch)
                                          .count());
}

} // namespace rtx::bench
