#include "bench/html_report.hpp"

#include "core/encoding.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <string_view>

namespace rtx::bench {

namespace {

using core::escape_html;
using nlohmann::json;

// JSON inside <script>: '<' only occurs in strings, where \u003c means the same, so a target
// like "ws://h/</script>" cannot end the script element early.
std::string script_safe_json(const json& data) {
    std::string text = data.dump();
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (c == '<') {
            out += "\\u003c";
        } else {
            out += c;
        }
    }
    return out;
}

// The latency spectrum as HdrHistogram plots it: x = log10(1 / (1 - p)), so 90%, 99%,
// 99.9% ... are evenly spaced. At 1 - p = 1/count the rank is the next-to-last sample, so
// the curve ends a little further right, at p = 100: the max.
json spectrum_points(const Histogram& latency) {
    json points = json::array();
    if (latency.count() == 0) {
        return points;
    }
    const double x_end = std::max(1.0, std::log10(static_cast<double>(latency.count())) + 0.3);
    const int steps = static_cast<int>(std::ceil(x_end / 0.02));
    for (int i = 0; i <= steps; ++i) {
        double x = std::min(x_end, i * 0.02);
        double percentile = i == steps ? 100.0 : 100.0 * (1.0 - std::pow(10.0, -x));
        points.push_back(json::array({x, percentile, latency.value_at_percentile(percentile)}));
    }
    return points;
}

json chart_data(const Report& report) {
    json timeline = json::array();
    for (const Interval& interval : report.timeline) {
        timeline.push_back(
            json::array({interval.t_seconds, interval.sent, interval.received, interval.errors,
                         interval.connections_up, interval.p50_us, interval.p99_us, interval.stage,
                         interval.target_connections, interval.target_rate}));
    }
    return json{
        {"timeline", std::move(timeline)},
        {"spectrum", spectrum_points(report.latency)},
        {"max_us", report.latency.max()},
    };
}

std::string row(std::string_view name, std::string_view value) {
    return fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", escape_html(name), escape_html(value));
}

std::string percentiles_text(const Histogram& histogram) {
    if (histogram.count() == 0) {
        return "no samples";
    }
    std::string text;
    for (auto [label, p] : {std::pair{"p50", 50.0},
                            {"p90", 90.0},
                            {"p99", 99.0},
                            {"p99.9", 99.9},
                            {"p99.99", 99.99}}) {
        text += fmt::format("{} {}, ", label, format_latency_us(histogram.value_at_percentile(p)));
    }
    return text + fmt::format("max {} ({} samples)", format_latency_us(histogram.max()),
                              histogram.count());
}

std::string summary_table(const Report& report) {
    std::string rows;
    rows += row("target", report.target);
    rows += row("protocol / pattern", report.protocol + " / " + report.pattern);
    rows += row("load model",
                report.load_model == "open"
                    ? fmt::format("open, {} msg/s intended{}", report.rate,
                                  report.arrival.empty() ? "" : " (" + report.arrival + ")")
                    : std::string("closed (send on reply)"));
    rows += row("connections", fmt::format("{} ({} failed), {} threads", report.connections,
                                           report.connections_failed, report.threads));
    rows += row("duration", fmt::format("{:.2f} s, {}-byte messages", report.duration_seconds,
                                        report.message_size));
    rows += row("sent", fmt::format("{} messages, {:.1f} msg/s, {} bytes", report.messages_sent,
                                    sent_per_second(report), report.bytes_sent));
    rows +=
        row("received", fmt::format("{} messages, {:.1f} msg/s, {} bytes", report.messages_received,
                                    received_per_second(report), report.bytes_received));
    rows += row("latency", percentiles_text(report.latency));
    rows += row("connect time", percentiles_text(report.connect_time));
    const ErrorCounts& e = report.errors;
    rows += row("errors", fmt::format("refused {}, timeout {}, reset {}, protocol {}, closed by "
                                      "peer {}, other {}; error rate {:.4f}%",
                                      e.refused, e.timeout, e.reset, e.protocol, e.closed_by_peer,
                                      e.other, error_rate(report) * 100));
    if (report.pattern == "fanout") {
        rows +=
            row("delivery", fmt::format("{} publishers, {} subscribers; lost {}, duplicates {}, "
                                        "reordered {}",
                                        report.publishers, report.subscribers, report.lost,
                                        report.duplicates, report.reordered));
    } else {
        rows += row("unanswered", fmt::format("{}", report.lost));
    }
    return "<table class=\"summary\">\n" + rows + "</table>\n";
}

// Draws the three charts as inline SVG. Kept free of any library or network access so the
// page works when opened from disk or mailed around.
constexpr std::string_view k_script = R"JS(
(function () {
  const data = JSON.parse(document.getElementById('bench-data').textContent);
  const SVG = 'http://www.w3.org/2000/svg';
  const W = 860, H = 300, L = 70, R = 20, T = 20, B = 40;

  function formatUs(us) {
    if (us < 1000) return Math.round(us) + 'us';
    const three = (v, unit) => (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)) + unit;
    return us < 999500 ? three(us / 1e3, 'ms') : three(us / 1e6, 's');
  }
  function formatCount(v) {
    if (v < 10000) return String(Math.round(v));
    if (v < 999500) return (v / 1e3).toFixed(1) + 'k';
    return (v / 1e6).toFixed(2) + 'M';
  }
  function niceTicks(max, count) {
    if (!(max > 0)) return [0, 1];
    const raw = max / count, power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
    const ticks = [];
    for (let v = 0; v <= max + step / 2; v += step) ticks.push(v);
    if (ticks[ticks.length - 1] < max) ticks.push(ticks[ticks.length - 1] + step);
    return ticks;
  }
  function el(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  // series: [{name, color, points: [[x, y], ...]}]; xTicks: [[x, label], ...].
  function lineChart(id, series, xTicks, xMin, xMax, yFormat, xTitle) {
    const host = document.getElementById(id);
    const pointCount = series.reduce((n, s) => n + s.points.length, 0);
    if (pointCount === 0) {
      host.appendChild(document.createTextNode('no data'));
      return false;
    }
    const yMax = Math.max(...series.flatMap((s) => s.points.map((p) => p[1])), 0);
    const yTicks = niceTicks(yMax, 5);
    const yTop = yTicks[yTicks.length - 1] || 1;
    if (xMax <= xMin) xMax = xMin + 1;
    const sx = (x) => L + ((x - xMin) / (xMax - xMin)) * (W - L - R);
    const sy = (y) => H - B - (y / yTop) * (H - T - B);
    const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, width: '100%', role: 'img' });
    for (const v of yTicks) {
      svg.appendChild(el('line', { x1: L, x2: W - R, y1: sy(v), y2: sy(v), class: 'grid' }));
      svg.appendChild(el('text', { x: L - 6, y: sy(v) + 4, 'text-anchor': 'end' }, yFormat(v)));
    }
    for (const [x, label] of xTicks) {
      svg.appendChild(el('line', { x1: sx(x), x2: sx(x), y1: T, y2: H - B, class: 'grid' }));
      svg.appendChild(el('text', { x: sx(x), y: H - B + 16, 'text-anchor': 'middle' }, label));
    }
    svg.appendChild(el('text', { x: (L + W - R) / 2, y: H - 4, 'text-anchor': 'middle' }, xTitle));
    series.forEach((s, i) => {
      if (s.points.length === 0) return;
      const d = s.points.map((p, j) => (j ? 'L' : 'M') + sx(p[0]).toFixed(1) + ' ' + sy(p[1]).toFixed(1)).join(' ');
      svg.appendChild(el('path', { d, class: 'series', stroke: s.color, 'data-points': s.points.length }));
      if (s.points.length === 1) {
        const [x, y] = s.points[0];
        svg.appendChild(el('circle', { cx: sx(x), cy: sy(y), r: 3, fill: s.color }));
      }
      svg.appendChild(el('text', { x: L + 10 + i * 150, y: T + 12, style: 'fill:' + s.color, class: 'legend' }, s.name));
    });
    host.appendChild(svg);
    return true;
  }
  function timeTicks(tMax) {
    return niceTicks(tMax, 8).filter((t) => t <= tMax).map((t) => [t, t + 's']);
  }

  // [t, sent, received, errors, connections_up, p50, p99, stage, target conns, target rate]
  const timeline = data.timeline;
  const tMax = timeline.length ? timeline[timeline.length - 1][0] : 1;
  // Per-second rates from the interval lengths (intervals are nominally one second).
  const rate = (column) => timeline.map((row, i) => {
    const dt = row[0] - (i ? timeline[i - 1][0] : 0);
    return [row[0], dt > 0 ? row[column] / dt : row[column]];
  });
  let drawn = 0;
  if (lineChart('throughput', [
        { name: 'sent/s', color: '#1f77b4', points: rate(1) },
        { name: 'received/s', color: '#2ca02c', points: rate(2) },
        { name: 'errors/s', color: '#d62728', points: rate(3).filter((p) => p[1] > 0) },
      ], timeTicks(tMax), 0, tMax, formatCount, 'time')) drawn++;
  const measured = timeline.filter((row) => row[2] > 0);
  if (lineChart('latency', [
        { name: 'p50', color: '#1f77b4', points: measured.map((row) => [row[0], row[5]]) },
        { name: 'p99', color: '#ff7f0e', points: measured.map((row) => [row[0], row[6]]) },
      ], timeTicks(tMax), 0, tMax, formatUs, 'time')) drawn++;
  // --stages / --rate-stages: the targets against what was reached, stage by stage.
  const staged = timeline.filter((row) => row[7] > 0);
  const stagesDiv = document.getElementById('stages');
  if (staged.length && stagesDiv) {
    stagesDiv.previousElementSibling.hidden = false;
    if (lineChart('stages', [
          { name: 'connections up', color: '#2ca02c', points: staged.map((row) => [row[0], row[4]]) },
          { name: 'target connections', color: '#7f7f7f', points: staged.map((row) => [row[0], row[8]]) },
          { name: 'target rate/s', color: '#ff7f0e', points: staged.map((row) => [row[0], row[9]]) },
        ], timeTicks(tMax), 0, tMax, formatCount, 'time')) drawn++;
  }
  const spectrum = data.spectrum; // [x = log10(1/(1-p)), percentile, value_us]
  const xEnd = spectrum.length ? spectrum[spectrum.length - 1][0] : 1;
  const decades = [];
  for (let k = 0; k <= Math.floor(xEnd + 1e-9); k++) {
    decades.push([k, k === 0 ? '0%' : (100 - Math.pow(10, 2 - k)).toFixed(Math.max(0, k - 2)) + '%']);
  }
  if (lineChart('spectrum', [
        { name: 'latency by percentile', color: '#9467bd', points: spectrum.map((p) => [p[0], p[2]]) },
      ], decades, 0, xEnd, formatUs, 'percentile')) drawn++;
  window.chartsRendered = drawn;
})();
)JS";

constexpr std::string_view k_style = R"CSS(
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 920px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
table.summary { border-collapse: collapse; } table.summary th { text-align: left; padding-right: 1.5em; }
table.summary td, table.summary th { border-bottom: 1px solid #ddd; padding: 3px 6px; vertical-align: top; }
svg text { font-size: 11px; fill: #444; } svg text.legend { font-weight: bold; }
svg .grid { stroke: #e5e5e5; } svg .series { fill: none; stroke-width: 2; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
)CSS";

} // namespace

std::string render_html(const Report& report) {
    std::string page;
    page += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    // Nothing is fetched: the page is one file, readable offline and safe to open anywhere.
    page += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n";
    page += fmt::format("<title>rtx bench: {}</title>\n", escape_html(report.target));
    page += fmt::format("<style>{}</style>\n</head>\n<body>\n", k_style);
    page += fmt::format("<h1>rtx bench: {}</h1>\n", escape_html(report.target));
    page += summary_table(report);
    page += "<h2>Throughput (messages per second)</h2>\n<div id=\"throughput\" "
            "class=\"chart\"></div>\n";
    page += "<h2>Latency over time (p50, p99 of each second)</h2>\n<div id=\"latency\" "
            "class=\"chart\"></div>\n";
    page += "<h2>Latency by percentile (whole run)</h2>\n<div id=\"spectrum\" "
            "class=\"chart\"></div>\n";
    page += "<h2 hidden>Stages (targets and connections up)</h2>\n<div id=\"stages\" "
            "class=\"chart\"></div>\n";
    page += fmt::format("<h2>Summary</h2>\n<pre>{}</pre>\n", escape_html(render_summary(report)));
    page += fmt::format("<script type=\"application/json\" id=\"bench-data\">{}</script>\n",
                        script_safe_json(chart_data(report)));
    page += fmt::format("<script>{}</script>\n</body>\n</html>\n", k_script);
    return page;
}

} // namespace rtx::bench
