// libFuzzer target for bench/report.hpp's parse_report_json: `rtx bench --json` files are
// read back to merge the reports of several runs or machines, so they are untrusted input.
// Whatever parses must survive every consumer of a Report (re-serialising, merging,
// the summary, thresholds), serialise to text that parses to the same Report, and merge with
// itself into exactly twice its counts.
#include "bench/report.hpp"
#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace rtx::bench;

using rtx::fuzz::check;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto parsed = parse_report_json(text);
    if (!parsed.ok()) {
        check(!parsed.error().message.empty());
        return 0;
    }
    const Report& report = parsed.value();

    auto again = parse_report_json(report_to_json_text(report));
    check(again.ok());
    check(again.value() == report);

    double rate = error_rate(report);
    check(rate >= 0.0 && rate <= 1.0);
    (void)render_summary(report);
    for (const Interval& interval : report.timeline) {
        (void)render_live_line(interval);
    }
    Thresholds all;
    all.max_p50_us = 1;
    all.max_p99_us = 1;
    all.max_p999_us = 1;
    all.max_latency_us = 1;
    all.max_connect_p99_us = 1;
    all.max_error_rate = 0.0;
    all.min_received_per_second = 1e18;
    (void)breaches(report, all);

    auto merged = merge_reports({report, report});
    check(merged.ok());
    if (report.messages_received <= UINT64_MAX / 2 && report.latency.count() <= UINT64_MAX / 2) {
        check(merged.value().messages_received == 2 * report.messages_received);
        check(merged.value().latency.count() == 2 * report.latency.count());
    }
    return 0;
}
