#include "serve/ws/ws_rules.hpp"

#include "core/encoding.hpp"
#include "proto/ws_codec.hpp"

#include <algorithm>

namespace rtx::serve::ws {

bool valid_close_code(unsigned code) {
    return code <= 0xFFFF && proto::ws_close_code_allowed_on_wire(static_cast<int>(code));
}

std::optional<std::uint16_t> close_payload_error(std::string_view payload) {
    if (payload.empty()) {
        return std::nullopt;
    }
    if (payload.size() == 1) {
        return 1002;
    }
    const unsigned code = (static_cast<unsigned>(static_cast<unsigned char>(payload[0])) << 8) |
                          static_cast<unsigned char>(payload[1]);
    if (!valid_close_code(code)) {
        return 1002;
    }
    if (!core::is_valid_utf8(payload.substr(2))) {
        return 1007;
    }
    return std::nullopt;
}

bool origin_allowed(const std::vector<std::string>& allowed, std::string_view origin) {
    if (allowed.empty()) {
        return true;
    }
    const auto lower = [](char c) {
        return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    };
    return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& candidate) {
        return candidate.size() == origin.size() &&
               std::equal(candidate.begin(), candidate.end(), origin.begin(),
                          [&](char a, char b) { return lower(a) == lower(b); });
    });
}

} // namespace rtx::serve::ws
