#include "serve/ws/ws_rules.hpp"

#include <algorithm>

namespace rtx::serve::ws {

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
