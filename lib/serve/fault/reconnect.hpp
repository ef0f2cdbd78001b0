#pragma once

#include "serve/fault/injector.hpp"
#include "serve/hub.hpp"

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace rtx::serve::fault {

/// Turns the replay of an SSE reconnect (the events after `last_id`, the client's
/// Last-Event-ID, oldest first) into what `sse:reconnect=gap|dup` answers: gap leaves the
/// first of them out; dup sends the event `last_id` itself again first, when the history still
/// holds it. Does nothing (and counts nothing) when there is nothing to leave out or repeat.
void answer_reconnect(ConnectionFaults& faults, const Hub& hub, std::string_view topic,
                      std::uint64_t last_id,
                      std::vector<std::shared_ptr<const HubMessage>>& replay);

} // namespace rtx::serve::fault
