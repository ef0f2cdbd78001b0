// libFuzzer target for the parsers of recorded feeds and streaming-API output:
// serve/replay_feed.hpp (an --replay NDJSON file), serve/http/custom_route.hpp (--route) and
// output/line_template.hpp (--format/--pick templates, and picking from a JSON payload).
// Properties: no crash, no exception; a parsed feed has records in time order from 0; a parsed
// route round-trips through find_custom_route; a template either fails as a usage error or
// expands any payload.
#include "fuzz_check.hpp"
#include "output/line_template.hpp"
#include "serve/http/custom_route.hpp"
#include "serve/replay_feed.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using rtx::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    auto feed = rtx::serve::parse_replay(text, "f", "t");
    if (feed) {
        check(!feed->records.empty());
        check(feed->records.front().at.count() == 0);
        for (std::size_t i = 1; i < feed->records.size(); ++i) {
            check(feed->records[i].at >= feed->records[i - 1].at);
        }
        for (const auto& [topic, records] : feed->by_topic()) {
            check(!records.empty() && records.front().at.count() == 0);
        }
    } else {
        check(feed.error().code == rtx::core::ExitCode::usage);
        check(feed.error().message.find('\n') == std::string::npos);
    }

    auto route = rtx::serve::http::parse_custom_route(text);
    if (route) {
        check(!route->path.empty() && route->path.front() == '/');
        check(!route->topic.empty() && !route->methods.empty());
        std::vector<rtx::serve::http::CustomRoute> routes{route.value()};
        check(rtx::serve::http::find_custom_route(routes, route->path) == &routes.front());
    } else {
        check(route.error().code == rtx::core::ExitCode::usage);
        check(route.error().message.find('\n') == std::string::npos);
    }

    // The first line is a template, the rest a payload it expands.
    const auto newline = text.find('\n');
    const std::string_view pattern = text.substr(0, newline);
    const std::string_view payload =
        newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    auto line = rtx::output::LineTemplate::parse(pattern);
    auto pick = rtx::output::LineTemplate::pick({std::string(pattern)});
    rtx::output::Record record;
    record.payload = payload;
    for (auto* parsed : {&line, &pick}) {
        if (*parsed) {
            std::string out;
            const auto expansion = (*parsed)->append(out, record);
            check(expansion == rtx::output::LineTemplate::Expansion::written || out.empty());
        } else {
            check(parsed->error().code == rtx::core::ExitCode::usage);
        }
    }
    return 0;
}
