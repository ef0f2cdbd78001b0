// Tests for output/line_template.hpp: the --format templates of `rtx mqtt sub`.
#include "output/line_template.hpp"

#include <doctest/doctest.h>

#include <string>

using rtx::output::LineTemplate;
using rtx::output::Record;

namespace {

std::string expand(std::string_view text, const Record& record) {
    auto parsed = LineTemplate::parse(text);
    REQUIRE(parsed.ok());
    std::string out;
    parsed->append(out, record);
    return out;
}

Record sample() {
    Record r;
    r.time =
        std::chrono::system_clock::time_point(std::chrono::microseconds(1'700'000'000'123'456));
    r.protocol = "mqtt";
    r.connection = 1;
    r.topic = "a/b";
    r.payload = "hi";
    r.qos = 2;
    r.retain = true;
    r.properties_json = R"({"content_type":"text/plain"})";
    return r;
}

} // namespace

TEST_CASE("LineTemplate: placeholders") {
    Record r = sample();
    CHECK(expand("%t %p", r) == "a/b hi");
    CHECK(expand("%q|%r|%l", r) == "2|1|2");
    CHECK(expand("%x %b", r) == "6869 aGk=");
    CHECK(expand("%P", r) == R"({"content_type":"text/plain"})");
    CHECK(expand("%I", r) == "2023-11-14T22:13:20.123456Z");
    CHECK(expand("%U", r) == "1700000000.123456");
    CHECK(expand("[%i]", r) == "[]");
    CHECK(expand("100%%", r) == "100%");
    CHECK(expand("", r).empty());
    CHECK(expand("plain", r) == "plain");
}

TEST_CASE("LineTemplate: %j is the NDJSON record without its newline") {
    Record r = sample();
    std::string line = expand("%j", r);
    CHECK(line.front() == '{');
    CHECK(line.back() == '}');
    CHECK(line.find(R"("qos":2,"retain":true,"properties":{"content_type":"text/plain"})") !=
          std::string::npos);
}

TEST_CASE("LineTemplate: escapes") {
    Record r = sample();
    CHECK(expand(R"(%t\t%p\n)", r) == "a/b\thi\n");
    CHECK(expand(R"(\\)", r) == "\\");
    CHECK(expand(R"(a\0b)", r) == std::string("a\0b", 3));
}

TEST_CASE("LineTemplate: defaults without MQTT fields") {
    Record r;
    r.payload = "x";
    CHECK(expand("%q %r %P", r) == "0 0 {}");
}

TEST_CASE("LineTemplate: bad templates are usage errors") {
    for (const char* bad : {"%z", "%", "abc\\", "\\q", "%t %"}) {
        CAPTURE(bad);
        auto parsed = LineTemplate::parse(bad);
        REQUIRE_FALSE(parsed.ok());
        CHECK(parsed.error().code == rtx::core::ExitCode::usage);
        CHECK(parsed.error().message.find("--format") == 0);
    }
}
