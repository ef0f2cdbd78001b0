#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace rtx::serve::ws {

/// Whether an upgrade with this Origin header value may go on: `allowed` empty allows any
/// (and a request with none); otherwise the origin must equal one of them, ignoring ASCII
/// case (RFC 6454 serializes scheme and host in lower case; browsers do). Pure.
bool origin_allowed(const std::vector<std::string>& allowed, std::string_view origin);

} // namespace rtx::serve::ws
