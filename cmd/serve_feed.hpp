#pragma once

#include "serve/server.hpp"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace rtx::cmd {

/// `rtx serve`'s recorded feeds and custom paths: --replay, --replay-speed, --replay-loop,
/// --route (man/rtx-serve.1, "RECORDED FEEDS" and "CUSTOM PATHS").
struct FeedFlags {
    std::vector<std::string> replay; ///< [TOPIC=]FILE
    double replay_speed = 1.0;
    bool replay_loop = false;
    std::vector<std::string> routes; ///< [METHODS ]PATH=KIND:TOPIC
};

/// Adds the flags in the "Feeds" group.
void add_feed_flags(CLI::App& app, FeedFlags& flags);

/// Reads and checks the recordings and routes into `out`; throws core::UsageError with one
/// line ("feed.ndjson:7: not a JSON object", "--route 'x': the path must start with /").
void resolve_feed_flags(const FeedFlags& flags, serve::ServeOptions& out);

} // namespace rtx::cmd
