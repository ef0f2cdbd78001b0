#pragma once
// The server-wide fault mode of the mock push service (`rtx serve --push-fault`): what every
// push gets instead of delivery, as real push services answer when a sender must back off or
// drop a subscription. Pure: no I/O.
#include "core/error.hpp"

#include <string_view>

namespace rtx::serve::http {

/// A fault every push to the service gets, on top of the fault modes of single subscriptions.
struct PushFault {
    unsigned status = 0;      ///< 404, 410, 413, 429 or 5xx; 0: none
    unsigned retry_after = 0; ///< seconds; 0: no Retry-After header
    /// The share of pushes that get it, in (0, 1]: push n (from 1) fails when
    /// floor(n * share) > floor((n - 1) * share), so the pattern is the same on every run.
    double share = 1.0;
};

/// Parses `STATUS[:RETRY_AFTER][@SHARE]` ("410", "429:2", "503@0.25"); the error (usage) is
/// one line naming the flag.
core::Result<PushFault> parse_push_fault(std::string_view text);

/// Whether push `n` (counted from 1) gets the fault.
bool push_fault_hits(const PushFault& fault, unsigned long long n);

/// A status the fault modes offer: 404, 410, 413, 429 or 5xx.
bool is_push_fault_status(unsigned status);

} // namespace rtx::serve::http
