#include "serve/fault/reconnect.hpp"

namespace rtx::serve::fault {

void answer_reconnect(ConnectionFaults& faults, const Hub& hub, std::string_view topic,
                      std::uint64_t last_id,
                      std::vector<std::shared_ptr<const HubMessage>>& replay) {
    switch (faults.reconnect()) {
    case Reconnect::none:
        return;
    case Reconnect::gap:
        if (!replay.empty()) {
            replay.erase(replay.begin());
            faults.count_reconnect(Reconnect::gap);
        }
        return;
    case Reconnect::dup: {
        if (last_id == 0) {
            return;
        }
        // Ids of a topic are consecutive: the event after last_id - 1 is last_id itself.
        HubReplay again = hub.since(topic, last_id - 1);
        if (!again.messages.empty() && again.messages.front()->id == last_id) {
            replay.insert(replay.begin(), again.messages.front());
            faults.count_reconnect(Reconnect::dup);
        }
        return;
    }
    }
}

} // namespace rtx::serve::fault
