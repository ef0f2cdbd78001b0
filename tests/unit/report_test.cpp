// Tests for bench/report.hpp and bench/html_report.hpp: the `rtx bench` report, its JSON
// form, merging the reports of several workers, the text summary, thresholds and the HTML
// page.
#include "bench/html_report.hpp"
#include "bench/report.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

using namespace rtx::bench;
using nlohmann::json;

namespace {

// A report as one worker of an open-model echo run would produce it.
Report sample_report(std::uint64_t seed) {
    Report report;
    report.protocol = "ws";
    report.pattern = "echo";
    report.load_model = "open";
    report.target = "ws://127.0.0.1:9000/echo";
    report.rate = 500;
    report.arrival = "poisson";
    report.connections = 10;
    report.connections_failed = 1;
    report.threads = 2;
    report.connect_window = 64;
    report.ramp_seconds = 2.5 + static_cast<double>(seed) / 10;
    report.duration_seconds = 3.25;
    report.message_size = 64;
    report.messages_sent = 1600 + seed;
    report.messages_received = 1590 + seed;
    report.bytes_sent = report.messages_sent * 64;
    report.bytes_received = report.messages_received * 64;
    report.lost = 10;
    report.errors.refused = 1;
    report.errors.timeout = 2 + seed;
    report.errors.closed_by_peer = 3;
    std::mt19937_64 random(seed);
    std::lognormal_distribution<double> latency(7, 1); // ~1 ms median
    for (std::uint64_t i = 0; i < report.messages_received; ++i) {
        report.latency.record(static_cast<std::uint64_t>(latency(random)));
    }
    report.latency.record(UINT64_MAX); // one saturated sample survives the trip too
    for (int i = 0; i < 9; ++i) {
        report.connect_time.record(300 + static_cast<std::uint64_t>(i) * 17 + seed);
    }
    for (int t = 1; t <= 3; ++t) {
        report.timeline.push_back(Interval{static_cast<double>(t), 500 + seed, 495,
                                           static_cast<std::uint64_t>(t), 9, 1000 + seed,
                                           4000 + seed * 10});
    }
    return report;
}

} // namespace

TEST_CASE("Report: JSON round trip is exact") {
    Report report = sample_report(1);
    std::string text = report_to_json_text(report);
    auto parsed = parse_report_json(text);
    REQUIRE_MESSAGE(parsed.ok(), parsed.error().message);
    CHECK(*parsed == report);
    CHECK(parsed->latency.nonzero_buckets() == report.latency.nonzero_buckets());
    CHECK(parsed->latency.saturated() == 1);
    CHECK(report_to_json_text(*parsed) == text);

    SUBCASE("the JSON carries readable figures for scripts") {
        json document = json::parse(text);
        CHECK(document["format"] == "rtx-bench-report");
        CHECK(document["version"] == 1);
        CHECK(document["latency_us"]["count"] == report.latency.count());
        CHECK(document["latency_us"]["percentiles"]["99"] ==
              report.latency.value_at_percentile(99));
        CHECK(document["latency_us"]["percentiles"]["99.9"] ==
              report.latency.value_at_percentile(99.9));
        CHECK(document["errors"]["timeout"] == 3);
        CHECK(document["error_rate"].get<double>() == doctest::Approx(error_rate(report)));
        CHECK(document["timeline"].size() == 3);
        CHECK(document["timeline"][1]["t_seconds"] == 2.0);
    }
    SUBCASE("a default report") {
        auto empty = parse_report_json(report_to_json_text(Report{}));
        REQUIRE(empty.ok());
        CHECK(*empty == Report{});
    }
    SUBCASE("a report written before the ramp fields reads with none") {
        json document = json::parse(text);
        for (const char* key : {"connect_rate", "connect_window", "ramp_seconds"}) {
            document.erase(key);
        }
        auto older = parse_report_json(document.dump());
        REQUIRE_MESSAGE(older.ok(), older.error().message);
        Report expected = report;
        expected.connect_window = 0;
        expected.ramp_seconds = 0;
        CHECK(*older == expected);
    }
}

TEST_CASE("Report: malformed JSON fails with a reason") {
    std::string good = report_to_json_text(sample_report(2));
    auto expect_error = [](const std::string& text, const std::string& reason) {
        auto parsed = parse_report_json(text);
        REQUIRE(!parsed.ok());
        CHECK(parsed.error().code == rtx::core::ExitCode::usage);
        CHECK_MESSAGE(parsed.error().message.find(reason) != std::string::npos,
                      parsed.error().message);
    };
    auto edited = [&](auto&& edit) {
        json document = json::parse(good);
        edit(document);
        return document.dump();
    };
    expect_error("", "not valid JSON");
    expect_error(good.substr(0, good.size() / 2), "not valid JSON");
    expect_error("[1,2]", "must be a JSON object");
    expect_error(edited([](json& d) { d["format"] = "other"; }), "not an rtx bench report");
    expect_error(edited([](json& d) { d["version"] = 2; }), "not an rtx bench report");
    expect_error(edited([](json& d) { d.erase("messages_sent"); }),
                 "missing field 'messages_sent'");
    expect_error(edited([](json& d) { d["lost"] = -1; }), "'lost' must be a non-negative integer");
    expect_error(edited([](json& d) { d["rate"] = "fast"; }),
                 "'rate' must be a non-negative number");
    expect_error(edited([](json& d) { d["errors"]["reset"] = 1.5; }), "'errors.reset'");
    expect_error(
        edited([](json& d) { d["latency_us"]["buckets"] = json::array({json::array({1})}); }),
        "'latency_us.buckets' must be an array of [index, count] pairs");
    expect_error(edited([](json& d) {
                     d["latency_us"]["buckets"].push_back(json::array({99999999, 1}));
                 }),
                 "out of range");
    expect_error(edited([](json& d) { d["latency_us"]["significant_digits"] = 2; }),
                 "different histogram layout");
    expect_error(edited([](json& d) { d["timeline"][2].erase("p99_us"); }),
                 "missing field 'timeline[2].p99_us'");
    expect_error(edited([](json& d) { d["timeline"] = 5; }), "'timeline' must be an array");
}

TEST_CASE("Report: truncated or corrupted JSON never parses into garbage") {
    Report report;
    report.protocol = "tcp";
    report.latency.record(1500);
    report.latency.record(UINT64_MAX);
    report.timeline.push_back(Interval{1, 2, 3, 4, 5, 6, 7});
    const std::string good = report_to_json_text(report);
    SUBCASE("every truncation fails") {
        for (std::size_t length = 0; length < good.size(); ++length) {
            CAPTURE(length);
            auto parsed = parse_report_json(std::string_view(good).substr(0, length));
            CHECK(!parsed.ok());
        }
    }
    SUBCASE("byte flips either fail cleanly or parse a valid report") {
        std::mt19937_64 random(99);
        for (int round = 0; round < 3000; ++round) {
            std::string mutated = good;
            mutated[random() % mutated.size()] = static_cast<char>(random() % 256);
            auto parsed = parse_report_json(mutated);
            if (parsed.ok()) {
                // Whatever was accepted is a consistent report: it survives another trip.
                auto again = parse_report_json(report_to_json_text(*parsed));
                REQUIRE(again.ok());
                CHECK(*again == *parsed);
            } else {
                CHECK(parsed.error().message.find("bad bench report: ") == 0);
            }
        }
    }
}

TEST_CASE("Report: merge_reports is exact") {
    std::vector<Report> workers{sample_report(1), sample_report(2), sample_report(3)};
    workers[2].duration_seconds = 3.5;
    workers[2].timeline.push_back(Interval{4, 10, 10, 0, 9, 900, 950});
    auto merged = merge_reports(workers);
    REQUIRE(merged.ok());

    Histogram all_latency;
    Histogram all_connect;
    std::uint64_t sent = 0, received = 0, timeouts = 0;
    for (const Report& worker : workers) {
        // Re-record every sample of each worker into one histogram: what one process
        // measuring everything would have.
        for (auto [index, count] : worker.latency.nonzero_buckets()) {
            bool saturated = index == worker.latency.bucket_count() - 1;
            all_latency.record(saturated ? UINT64_MAX : worker.latency.bucket_value(index), count);
        }
        all_connect.merge(worker.connect_time);
        sent += worker.messages_sent;
        received += worker.messages_received;
        timeouts += worker.errors.timeout;
    }
    CHECK(merged->latency == all_latency);
    CHECK(merged->connect_time == all_connect);
    CHECK(merged->messages_sent == sent);
    CHECK(merged->messages_received == received);
    CHECK(merged->bytes_sent == sent * 64);
    CHECK(merged->errors.timeout == timeouts);
    CHECK(merged->errors.refused == 3);
    CHECK(merged->lost == 30);
    CHECK(merged->connections == 30);
    CHECK(merged->connections_failed == 3);
    CHECK(merged->threads == 6);
    CHECK(merged->rate == 1500);
    CHECK(merged->duration_seconds == 3.5);
    CHECK(merged->target == workers[0].target);
    CHECK(merged->connect_window == 3 * 64);             // each worker's share of the window
    CHECK(merged->ramp_seconds == doctest::Approx(2.8)); // the slowest worker's

    REQUIRE(merged->timeline.size() == 4);
    CHECK(merged->timeline[0].t_seconds == 1);
    CHECK(merged->timeline[0].sent == 501 + 502 + 503);
    CHECK(merged->timeline[0].received == 3 * 495);
    CHECK(merged->timeline[1].errors == 6);
    CHECK(merged->timeline[0].connections_up == 27);
    CHECK(merged->timeline[0].p50_us == 1003); // the worst worker's
    CHECK(merged->timeline[0].p99_us == 4030);
    CHECK(merged->timeline[3] == Interval{4, 10, 10, 0, 9, 900, 950});

    SUBCASE("a merged report survives JSON") {
        auto parsed = parse_report_json(report_to_json_text(*merged));
        REQUIRE(parsed.ok());
        CHECK(*parsed == *merged);
    }
    SUBCASE("one report merges to itself") {
        auto single = merge_reports({workers[0]});
        REQUIRE(single.ok());
        CHECK(*single == workers[0]);
    }
    SUBCASE("intervals match to the millisecond") {
        Report a = sample_report(1);
        Report b = sample_report(1);
        b.timeline = {Interval{1.0004, 1, 1, 0, 0, 5, 5}, Interval{1.6, 1, 1, 0, 0, 5, 5}};
        auto both = merge_reports({a, b});
        REQUIRE(both.ok());
        REQUIRE(both->timeline.size() == 4);
        CHECK(both->timeline[0].sent == 502);
        CHECK(both->timeline[1].t_seconds == 1.6);
    }
}

TEST_CASE("Report: merge_reports refuses reports of different runs") {
    CHECK(!merge_reports({}).ok());
    Report a = sample_report(1);
    for (auto edit : std::vector<void (*)(Report&)>{
             [](Report& r) { r.protocol = "tcp"; }, [](Report& r) { r.pattern = "fanout"; },
             [](Report& r) { r.load_model = "closed"; }, [](Report& r) { r.arrival = "uniform"; },
             [](Report& r) { r.target = "ws://elsewhere/"; },
             [](Report& r) {
                 r.message_size = 65;
             }}) {
        Report b = sample_report(2);
        edit(b);
        auto merged = merge_reports({a, b});
        REQUIRE(!merged.ok());
        CHECK(merged.error().code == rtx::core::ExitCode::usage);
        CHECK(merged.error().message.find("cannot merge bench reports") == 0);
    }
}

TEST_CASE("error_rate") {
    Report report;
    CHECK(error_rate(report) == 0);
    report.errors.other = 1;
    CHECK(error_rate(report) == 1); // failed without attempting anything
    report = Report{};
    report.connections = 10;
    report.connections_failed = 2;
    report.messages_sent = 90;
    report.messages_received = 85;
    report.lost = 5;
    report.errors.timeout = 3;
    // (3 errors, the 2 failed connections among them, + 5 lost) / (10 connections + 90
    // messages)
    CHECK(error_rate(report) == doctest::Approx(0.08));

    SUBCASE("a refused connection is one failure, not two") {
        Report refused;
        refused.connections = 4;
        refused.connections_failed = 1;
        refused.errors.refused = 1;
        refused.messages_sent = 96;
        refused.messages_received = 96;
        CHECK(error_rate(refused) == doctest::Approx(1.0 / 100.0));
    }
    SUBCASE("a connection that failed without a recorded error still counts") {
        Report unended;
        unended.connections = 10;
        unended.connections_failed = 1;
        unended.messages_sent = 90;
        unended.messages_received = 90;
        CHECK(error_rate(unended) == doctest::Approx(1.0 / 100.0));
    }

    SUBCASE("fanout counts expected deliveries") {
        Report fanout;
        fanout.pattern = "fanout";
        fanout.connections = 11;
        fanout.messages_sent = 100; // to 10 subscribers: 1000 deliveries expected
        fanout.messages_received = 989;
        fanout.lost = 11;
        CHECK(error_rate(fanout) == doctest::Approx(11.0 / 1011.0));
    }
}

TEST_CASE("format_latency_us") {
    CHECK(format_latency_us(0) == "0us");
    CHECK(format_latency_us(850) == "850us");
    CHECK(format_latency_us(999) == "999us");
    CHECK(format_latency_us(1000) == "1.00ms");
    CHECK(format_latency_us(1250) == "1.25ms");
    CHECK(format_latency_us(12'345) == "12.3ms");
    CHECK(format_latency_us(123'456) == "123ms");
    CHECK(format_latency_us(999'499) == "999ms");
    CHECK(format_latency_us(999'500) == "1.00s");
    CHECK(format_latency_us(1'500'000) == "1.50s");
    CHECK(format_latency_us(3'600'000'000) == "3600s");
}

TEST_CASE("render_summary") {
    Report report = sample_report(1);
    std::string summary = render_summary(report);
    CAPTURE(summary);
    CHECK(summary.back() == '\n');
    CHECK(summary.find("ws://127.0.0.1:9000/echo") != std::string::npos);
    CHECK(summary.find("open model: 500 msg/s intended (poisson)") != std::string::npos);
    CHECK(summary.find("10 (9 up, 1 failed), 2 threads") != std::string::npos);
    CHECK(summary.find("3.25s, 64-byte messages") != std::string::npos);
    CHECK(summary.find("1601 msgs") != std::string::npos);
    CHECK(summary.find("p99.99 ") != std::string::npos);
    CHECK(summary.find("p50 " + format_latency_us(report.latency.value_at_percentile(50))) !=
          std::string::npos);
    CHECK(summary.find("max " + format_latency_us(report.latency.max())) != std::string::npos);
    CHECK(summary.find("1 above 3600s") != std::string::npos);
    CHECK(summary.find("refused 1, timeout 3, closed by peer 3") != std::string::npos);
    CHECK(summary.find("connect time  p50 ") != std::string::npos);
    CHECK(summary.find("lost") == std::string::npos);
    CHECK(summary.find("unanswered    10") != std::string::npos);

    SUBCASE("closed model and fanout") {
        report.load_model = "closed";
        report.rate = 0;
        report.arrival.clear();
        report.pattern = "fanout";
        report.publishers = 2;
        report.subscribers = 8;
        report.duplicates = 4;
        summary = render_summary(report);
        CHECK(summary.find("closed model") != std::string::npos);
        CHECK(summary.find("2 publishers, 8 subscribers") != std::string::npos);
        CHECK(summary.find("when the server acknowledged the previous one") != std::string::npos);
        CHECK(summary.find("lost 10, duplicates 4, reordered 0") != std::string::npos);
    }
    SUBCASE("the ramp: what paced it and how fast it went") {
        CHECK(summary.find("ramp          10 in 2.60s (3.8/s), at most 64 connecting at "
                           "once (the default; --connect-rate for a fixed rate)") !=
              std::string::npos);
        report.connect_window = 0;
        report.connect_rate = 2000;
        summary = render_summary(report);
        CHECK(summary.find("10 in 2.60s (3.8/s), paced at 2000/s (--connect-rate)") !=
              std::string::npos);
        report.connect_rate = 0;
        summary = render_summary(report);
        CHECK(summary.find("10 in 2.60s (3.8/s), all at once (--connect-rate 0)") !=
              std::string::npos);
    }
    SUBCASE("nothing measured") {
        summary = render_summary(Report{});
        CHECK(summary.find("latency       no samples") != std::string::npos);
        CHECK(summary.find("errors        none (error rate 0%)") != std::string::npos);
    }
}

TEST_CASE("render_live_line") {
    std::string line = render_live_line(Interval{7, 1000, 998, 2, 50, 1250, 9800});
    CHECK(line ==
          "     7s  sent    1000/s  recv     998/s  errors 2  conns 50  p50 1.25ms  p99 9.80ms");
    CHECK(render_live_line(Interval{3, 25'000, 24'000, 0, 1, 10, 20}, 2).find("recv   12.0k/s") !=
          std::string::npos);
    CHECK(render_live_line(Interval{1, 5, 0, 0, 1, 0, 0}).find("p50 -  p99 -") !=
          std::string::npos);
}

TEST_CASE("breaches") {
    Report report = sample_report(1);
    CHECK(breaches(report, Thresholds{}).empty());

    Thresholds loose;
    loose.max_p99_us = Histogram::k_highest_us;
    loose.max_error_rate = 0.5;
    loose.min_received_per_second = 1;
    CHECK(breaches(report, loose).empty());

    Thresholds strict;
    strict.max_p99_us = 10;
    strict.max_p50_us = report.latency.value_at_percentile(50); // exactly at the limit passes
    strict.max_error_rate = 0.001;
    strict.min_received_per_second = 1e6;
    strict.max_connect_p99_us = 100;
    std::vector<std::string> lines = breaches(report, strict);
    REQUIRE(lines.size() == 4);
    CHECK(lines[0] == "latency p99 " + format_latency_us(report.latency.value_at_percentile(99)) +
                          " > limit 10us");
    CHECK(lines[1].find("connect time p99 ") == 0);
    CHECK(lines[2].find("error rate ") == 0);
    CHECK(lines[2].find("> limit 0.10%") != std::string::npos);
    CHECK(lines[3].find("received ") == 0);

    SUBCASE("a latency limit fails when nothing was measured") {
        Thresholds p99;
        p99.max_p99_us = 1000;
        std::vector<std::string> none = breaches(Report{}, p99);
        REQUIRE(none.size() == 1);
        CHECK(none[0] == "latency p99: no samples to check against the limit 1.00ms");
    }
}

TEST_CASE("render_html") {
    Report report = sample_report(1);
    report.target = "ws://127.0.0.1:9000/echo?a=1&b=</script><b>";
    std::string page = render_html(report);
    CAPTURE(page.substr(0, 400));
    CHECK(page.find("<!DOCTYPE html>") == 0);
    for (std::string_view id : {"id=\"throughput\"", "id=\"latency\"", "id=\"spectrum\""}) {
        CHECK(page.find(id) != std::string::npos);
    }
    CHECK(page.find("window.chartsRendered") != std::string::npos);

    SUBCASE("self-contained: nothing is loaded from anywhere") {
        for (std::string_view external :
             {"src=\"http", "src='http", "href=\"http", "href='http", "url(http", "url(//",
              "@import", "src=\"//", "<link", "<iframe", "<img"}) {
            CAPTURE(external);
            CHECK(page.find(external) == std::string::npos);
        }
        CHECK(page.find("default-src 'none'") != std::string::npos);
    }
    SUBCASE("the data is embedded") {
        std::size_t start = page.find("<script type=\"application/json\" id=\"bench-data\">");
        REQUIRE(start != std::string::npos);
        start = page.find('>', start) + 1;
        std::size_t end = page.find("</script>", start);
        json data = json::parse(page.substr(start, end - start));
        REQUIRE(data["timeline"].size() == 3);
        // The last three: stage, target connections and target rate (0 without --stages).
        CHECK(data["timeline"][2] == json::array({3.0, 501, 495, 3, 9, 1001, 4010, 0, 0, 0.0}));
        const json& spectrum = data["spectrum"];
        REQUIRE(spectrum.size() > 100); // 1592 samples: x up to log10(1592) in 0.02 steps
        CHECK(spectrum[0][1] == 0.0);
        CHECK(spectrum.back()[1] == 100.0);
        CHECK(spectrum.back()[2] == report.latency.max());
        CHECK(spectrum[100][2] == report.latency.value_at_percentile(spectrum[100][1]));
        for (std::size_t i = 1; i < spectrum.size(); ++i) {
            CHECK(spectrum[i][2] >= spectrum[i - 1][2]); // latency never falls with percentile
        }
        CHECK(page.find(format_latency_us(report.latency.value_at_percentile(99))) !=
              std::string::npos);
    }
    SUBCASE("text from the report is escaped") {
        CHECK(page.find("</script><b>") == std::string::npos);
        CHECK(page.find("echo?a=1&amp;b=&lt;/script&gt;&lt;b&gt;") != std::string::npos);
        // Only the two script elements of the page close.
        std::size_t closes = 0;
        for (std::size_t at = page.find("</script>"); at != std::string::npos;
             at = page.find("</script>", at + 1)) {
            ++closes;
        }
        CHECK(closes == 2);
    }
    SUBCASE("an empty report still renders") {
        std::string empty = render_html(Report{});
        CHECK(empty.find("\"spectrum\":[]") != std::string::npos);
        CHECK(empty.find("\"timeline\":[]") != std::string::npos);
    }
}
