#include "cmd/serve_feed.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace rtx::cmd {

namespace {

/// --replay [TOPIC=]FILE: an existing file wins over the split at '=' (paths may hold one).
std::pair<std::string, std::string> topic_and_file(const std::string& spec) {
    namespace fs = std::filesystem;
    std::error_code error;
    const auto equals = spec.find('=');
    if (fs::exists(spec, error) || equals == std::string::npos || equals == 0) {
        return {fs::path(spec).stem().string(), spec};
    }
    return {spec.substr(0, equals), spec.substr(equals + 1)};
}

std::shared_ptr<const serve::ReplayFeed> read_feed(const std::string& spec) {
    auto [topic, file] = topic_and_file(spec);
    std::ifstream in(file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in || std::filesystem::is_directory(file)) {
        throw core::UsageError(fmt::format("--replay {}: cannot read it", file));
    }
    if (topic.empty()) {
        throw core::UsageError(
            fmt::format("--replay {}: no topic (use --replay TOPIC=FILE)", file));
    }
    auto feed = serve::parse_replay(text.str(), file, topic);
    if (!feed) {
        throw core::UsageError(feed.error().message);
    }
    return std::make_shared<const serve::ReplayFeed>(std::move(feed.value()));
}

} // namespace

void add_feed_flags(CLI::App& app, FeedFlags& flags) {
    const char* group = "Feeds";
    app.add_option("--replay", flags.replay,
                   "Publish the records of an NDJSON recording (what rtx sse|ws|mqtt|stream "
                   "--json write) at their spacing: [TOPIC=]FILE, topic-less records on TOPIC "
                   "(default: the file name without extension); repeatable")
        ->group(group);
    app.add_option("--replay-speed", flags.replay_speed,
                   "Play recordings this much faster (2) or slower (0.5)")
        ->capture_default_str()
        ->group(group);
    app.add_flag("--replay-loop", flags.replay_loop,
                 "Start a recording again after its last record")
        ->group(group);
    app.add_option("--route", flags.routes,
                   "Serve an endpoint on a path of your choosing: [METHODS ]PATH=KIND:TOPIC, "
                   "KIND sse|stream|poll|ws|publish ('/api/events=sse:news', 'POST "
                   "/v1/chat=sse:llm' streams the llm recording to each POST); repeatable")
        ->group(group);
}

void resolve_feed_flags(const FeedFlags& flags, serve::ServeOptions& out) {
    if (!(flags.replay_speed > 0) || flags.replay_speed > 1e6) {
        throw core::UsageError(fmt::format("--replay-speed {}: must be above 0 (2: twice as fast)",
                                           flags.replay_speed));
    }
    if (flags.replay.empty() && (flags.replay_loop || flags.replay_speed != 1.0)) {
        throw core::UsageError("--replay-speed and --replay-loop need --replay");
    }
    out.replay_pace = serve::ReplayPace{flags.replay_speed, flags.replay_loop};
    std::set<std::string, std::less<>> recorded;
    for (const auto& spec : flags.replay) {
        auto feed = read_feed(spec);
        for (const auto& record : feed->records) {
            recorded.insert(record.topic);
        }
        out.replay.push_back(std::move(feed));
    }
    std::set<std::string, std::less<>> paths;
    for (const auto& spec : flags.routes) {
        auto route = serve::http::parse_custom_route(spec);
        if (!route) {
            throw core::UsageError(route.error().message);
        }
        if (!paths.insert(route->path).second) {
            throw core::UsageError(
                fmt::format("--route '{}': {} has a route already", spec, route->path));
        }
        if (route->allows("POST") &&
            (route->kind == serve::http::RouteKind::sse ||
             route->kind == serve::http::RouteKind::stream) &&
            !recorded.contains(route->topic)) {
            throw core::UsageError(fmt::format(
                "--route '{}': a POST {} route streams a recording, and no --replay file has "
                "topic '{}'",
                spec, serve::http::route_kind_name(route->kind), route->topic));
        }
        out.routes.push_back(std::move(route.value()));
    }
    if (!out.routes.empty() && !out.http_port) {
        throw core::UsageError("--route needs the HTTP listener (not --no-http)");
    }
}

} // namespace rtx::cmd
