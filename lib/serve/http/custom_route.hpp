#pragma once

#include "core/error.hpp"

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rtx::serve::http {

/// What a --route serves on its path: one of rtx serve's endpoint kinds, on a fixed topic.
enum class RouteKind { sse, stream, poll, ws, publish };

/// `--route [METHODS ]PATH=KIND:TOPIC`: serve endpoint KIND for TOPIC on PATH, the path a
/// client under test expects ("/api/v1/events=sse:news", "POST /v1/chat/completions=sse:llm").
struct CustomRoute {
    std::string path; ///< Exact, percent-decoded, no query: "/api/v1/events".
    RouteKind kind = RouteKind::sse;
    std::string topic;
    /// Upper case, without duplicates. Default: GET (publish: POST). Allowed: sse and stream
    /// GET and POST (POST answers with the topic's --replay recording from its start), poll
    /// and ws GET, publish POST and PUT.
    std::vector<std::string> methods;

    bool allows(std::string_view method) const;
    /// "GET, POST, OPTIONS": the Allow header of a 405 and of the CORS preflight.
    std::string allow_header() const;
};

/// Parses a --route value. Errors (ExitCode::usage) are one line naming the problem:
/// "--route 'x': the path must start with /". Pure.
core::Result<CustomRoute> parse_custom_route(std::string_view spec);

/// The route for `path` (exact match), or null. Pure.
const CustomRoute* find_custom_route(std::span<const CustomRoute> routes, std::string_view path);

/// "sse", "stream", ...
std::string_view route_kind_name(RouteKind kind);

} // namespace rtx::serve::http
