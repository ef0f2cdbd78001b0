#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtx::serve::ws {

/// The close codes a peer may send (RFC 6455 section 7.4.1, and 1012-1014 registered with
/// IANA since): 1000-1003, 1007-1014, 3000-4999. 1004-1006 and 1015 must never be on the
/// wire; the rest is reserved. Pure.
bool valid_close_code(unsigned code);

/// The close payload a peer sent (RFC 6455 section 5.5.1): empty, or a valid code and a UTF-8
/// reason. Returns the code to fail the connection with when it is not: 1002 for a 1-byte
/// payload or a code that may not be sent, 1007 for a reason that is not UTF-8. Pure.
std::optional<std::uint16_t> close_payload_error(std::string_view payload);

/// Whether an upgrade with this Origin header value may go on: `allowed` empty allows any
/// (and a request with none); otherwise the origin must equal one of them, ignoring ASCII
/// case (RFC 6454 serializes scheme and host in lower case; browsers do). Pure.
bool origin_allowed(const std::vector<std::string>& allowed, std::string_view origin);

} // namespace rtx::serve::ws
