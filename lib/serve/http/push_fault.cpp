#include "serve/http/push_fault.hpp"

#include <fmt/format.h>

#include <cmath>
#include <string>

namespace rtx::serve::http {

namespace {

bool all_digits(std::string_view text) {
    return !text.empty() && text.size() <= 9 &&
           text.find_first_not_of("0123456789") == std::string_view::npos;
}

} // namespace

bool is_push_fault_status(unsigned status) {
    return status == 404 || status == 410 || status == 413 || status == 429 ||
           (status >= 500 && status <= 599);
}

bool push_fault_hits(const PushFault& fault, unsigned long long n) {
    if (fault.status == 0 || n == 0) {
        return false;
    }
    const auto at = static_cast<double>(n);
    return std::floor(at * fault.share) > std::floor((at - 1) * fault.share);
}

core::Result<PushFault> parse_push_fault(std::string_view text) {
    const auto bad = [&] {
        return core::Error{core::ExitCode::usage,
                           fmt::format("--push-fault '{}': expected STATUS[:RETRY_AFTER][@SHARE] "
                                       "with 404, 410, 413, 429 or 5xx (e.g. 429:2, 503@0.25)",
                                       text)};
    };
    PushFault fault;
    std::string_view rest = text;
    if (const auto at = rest.find('@'); at != std::string_view::npos) {
        const std::string share(rest.substr(at + 1));
        std::size_t used = 0;
        try {
            fault.share = std::stod(share, &used);
        } catch (const std::exception&) {
            return bad();
        }
        if (used != share.size() || !(fault.share > 0.0 && fault.share <= 1.0)) {
            return bad();
        }
        rest = rest.substr(0, at);
    }
    if (const auto colon = rest.find(':'); colon != std::string_view::npos) {
        if (!all_digits(rest.substr(colon + 1))) {
            return bad();
        }
        fault.retry_after = static_cast<unsigned>(std::stoul(std::string(rest.substr(colon + 1))));
        rest = rest.substr(0, colon);
    }
    if (rest.size() != 3 || !all_digits(rest)) {
        return bad();
    }
    fault.status = static_cast<unsigned>(std::stoul(std::string(rest)));
    if (!is_push_fault_status(fault.status)) {
        return bad();
    }
    return fault;
}

} // namespace rtx::serve::http
