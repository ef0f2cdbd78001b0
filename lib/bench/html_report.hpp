#pragma once

#include "bench/report.hpp"

#include <string>

namespace rtx::bench {

/// One self-contained HTML page for a report (`rtx bench --html FILE`): the summary table,
/// throughput over time (#throughput), latency p50/p99 over time (#latency) and the latency
/// percentile spectrum on a 1/(1-p) axis as HdrHistogram plots it (#spectrum). No network
/// access: the data is embedded as JSON and drawn as inline SVG by an inline script, which
/// sets window.chartsRendered to the number of charts drawn (tests/e2e/test_browser.py
/// checks it).
std::string render_html(const Report& report);

} // namespace rtx::bench
