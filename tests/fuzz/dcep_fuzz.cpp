// libFuzzer target for proto/dcep.hpp: whatever a peer sends with PPID 50. An open is either
// parsed or refused with a reason, never both; a parsed one formats back into a message that
// parses to the same open, and whose bytes are the input's (past the reliability field of a
// reliable channel, which the sender may fill with anything and we send as zero).
#include "fuzz_check.hpp"
#include "proto/dcep.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

using rtx::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    auto parsed = rtx::proto::parse_dcep(input);
    if (parsed.type != rtx::proto::DcepType::open) {
        check(!parsed.open && parsed.error.empty());
        return 0;
    }
    check(parsed.open.has_value() == parsed.error.empty());
    if (!parsed.open) {
        return 0;
    }
    auto again = rtx::proto::format_dcep_open(*parsed.open);
    check(again.has_value());
    check(again->size() <= input.size());
    auto reparsed = rtx::proto::parse_dcep(*again);
    check(reparsed.open.has_value() && *reparsed.open == *parsed.open);
    const bool reliable = parsed.open->parameters.reliability ==
                          rtx::proto::DataChannelParameters::Reliability::reliable;
    check(again->substr(0, 4) == input.substr(0, 4));
    if (!reliable) {
        check(again->substr(4, 4) == input.substr(4, 4));
    }
    check(again->substr(8) == input.substr(8, again->size() - 8));
    return 0;
}
