#include "serve/http/custom_route.hpp"

#include "core/encoding.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <utility>

namespace rtx::serve::http {

namespace {

constexpr std::array<std::pair<std::string_view, RouteKind>, 5> k_kinds = {{
    {"sse", RouteKind::sse},
    {"stream", RouteKind::stream},
    {"poll", RouteKind::poll},
    {"ws", RouteKind::ws},
    {"publish", RouteKind::publish},
}};

std::vector<std::string_view> allowed_methods(RouteKind kind) {
    switch (kind) {
    case RouteKind::sse:
    case RouteKind::stream:
        return {"GET", "POST"};
    case RouteKind::publish:
        return {"POST", "PUT"};
    case RouteKind::poll:
    case RouteKind::ws:
        break;
    }
    return {"GET"};
}

bool printable_ascii(std::string_view text) {
    return std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

} // namespace

std::string_view route_kind_name(RouteKind kind) {
    for (const auto& [name, value] : k_kinds) {
        if (value == kind) {
            return name;
        }
    }
    return "?";
}

bool CustomRoute::allows(std::string_view method) const {
    return std::find(methods.begin(), methods.end(), method) != methods.end();
}

std::string CustomRoute::allow_header() const {
    std::string out;
    for (const auto& method : methods) {
        out += method;
        out += ", ";
    }
    return out + "OPTIONS";
}

core::Result<CustomRoute> parse_custom_route(std::string_view spec) {
    auto fail = [&](std::string_view why) {
        return core::Error{core::ExitCode::usage,
                           fmt::format("--route '{}': {}", core::one_line_excerpt(spec, 200), why)};
    };
    CustomRoute route;
    std::string_view rest = spec;
    std::string_view methods;
    if (const auto space = rest.find(' '); space != std::string_view::npos) {
        methods = rest.substr(0, space);
        rest = rest.substr(space + 1);
    }
    const auto equals = rest.find('='); // the topic may hold = and :
    if (equals == std::string_view::npos) {
        return fail("not [METHODS ]PATH=KIND:TOPIC (e.g. /api/events=sse:news)");
    }
    const std::string_view path = rest.substr(0, equals);
    const std::string_view target = rest.substr(equals + 1);
    if (path.empty() || path.front() != '/') {
        return fail("the path must start with /");
    }
    if (!printable_ascii(path) || path.find_first_of("?#") != std::string_view::npos) {
        return fail("the path must be printable ASCII without spaces, ? or #");
    }
    const auto colon = target.find(':');
    if (colon == std::string_view::npos) {
        return fail("no KIND:TOPIC after '=' (KIND: sse, stream, poll, ws or publish)");
    }
    const std::string_view kind = target.substr(0, colon);
    const auto found = std::find_if(k_kinds.begin(), k_kinds.end(),
                                    [&](const auto& entry) { return entry.first == kind; });
    if (found == k_kinds.end()) {
        return fail(fmt::format("unknown kind '{}' (sse, stream, poll, ws or publish)",
                                core::one_line_excerpt(kind, 40)));
    }
    route.kind = found->second;
    route.topic = std::string(target.substr(colon + 1));
    if (route.topic.empty()) {
        return fail("no topic after the kind");
    }
    route.path = std::string(path);
    const auto allowed = allowed_methods(route.kind);
    if (methods.empty()) {
        route.methods.emplace_back(allowed.front());
    }
    // Every comma-separated item is checked, an empty one too ("GET," or "GET,,POST").
    for (bool more = !methods.empty(); more;) {
        const auto comma = methods.find(',');
        std::string method(methods.substr(0, comma));
        more = comma != std::string_view::npos;
        methods = more ? methods.substr(comma + 1) : std::string_view();
        std::transform(method.begin(), method.end(), method.begin(),
                       [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; });
        if (std::find(allowed.begin(), allowed.end(), method) == allowed.end()) {
            return fail(fmt::format("method '{}' is not for a {} route (allowed: {})",
                                    core::one_line_excerpt(method, 40), route_kind_name(route.kind),
                                    fmt::join(allowed, ", ")));
        }
        if (!route.allows(method)) {
            route.methods.push_back(std::move(method));
        }
    }
    return route;
}

const CustomRoute* find_custom_route(std::span<const CustomRoute> routes, std::string_view path) {
    for (const auto& route : routes) {
        if (route.path == path) {
            return &route;
        }
    }
    return nullptr;
}

} // namespace rtx::serve::http
