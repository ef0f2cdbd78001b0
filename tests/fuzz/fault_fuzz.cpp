// libFuzzer target for serve/fault/fault_spec.hpp: parse_fault_spec never crashes, fails only
// with a one-line usage error naming the spec, and what it accepts is within the grammar's
// bounds (probabilities in [0, 1], a uniform delay's MIN <= MAX, a positive throttle); a plan
// of the input split at its newlines never crashes either.
#include "fuzz_check.hpp"
#include "serve/fault/fault_spec.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using rtx::core::ExitCode;
using rtx::fuzz::check;
namespace fault = rtx::serve::fault;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto spec = fault::parse_fault_spec(text);
    if (!spec.ok()) {
        check(spec.error().code == ExitCode::usage);
        check(spec.error().message.starts_with("--fault '"));
        check(spec.error().message.find(std::string(text)) != std::string::npos);
    } else {
        const fault::FaultRules& v = spec->value;
        check(v.drop_p >= 0 && v.drop_p <= 1);
        check(v.refuse >= 0 && v.refuse <= 1);
        check(v.delay.a.count() >= 0 && v.delay.b.count() >= 0);
        if (v.delay.kind == fault::DelaySpec::Kind::uniform) {
            check(v.delay.a <= v.delay.b);
        }
        if (spec->kind == fault::FaultKind::throttle) {
            check(v.throttle > 0);
        }
        if (spec->kind == fault::FaultKind::reconnect) {
            check(spec->protocol == fault::Protocol::sse);
        }
        check(!fault::describe_delay(v.delay).empty());
    }
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start <= text.size() && lines.size() < 16) {
        const std::size_t end = text.find('\n', start);
        lines.emplace_back(text.substr(start, end == std::string_view::npos ? end : end - start));
        if (end == std::string_view::npos) {
            break;
        }
        start = end + 1;
    }
    auto plan = fault::parse_fault_plan(lines);
    check(plan.ok() || plan.error().code == ExitCode::usage);
    return 0;
}
