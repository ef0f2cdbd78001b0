// libFuzzer target for core/duration.hpp: parse_duration never crashes, fails only with a
// usage error, and accepts only non-negative durations within its bound.
#include "core/duration.hpp"
#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using rtx::core::ExitCode;
using rtx::core::format_duration;
using rtx::core::parse_duration;

using rtx::fuzz::check;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto result = parse_duration(text);
    if (!result.ok()) {
        check(result.error().code == ExitCode::usage);
        check(result.error().message.find(std::string(text)) != std::string::npos);
        return 0;
    }
    auto micros = result.value().count();
    check(micros >= 0);
    check(micros <= 1'000'000'000'000'000);
    check(!text.empty());
    check(!format_duration(result.value()).empty());
    return 0;
}
