#pragma once

#include "bench/foreign.hpp"
#include "bench/plan.hpp"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace rtx::cmd {

/// The `rtx bench` flags for servers other than rtx serve, as typed.
struct BenchForeignFlags {
    bool subscribe_only = false;
    std::vector<std::string> headers;
    std::string user;
    std::string bearer;
    bool insecure = false;
    std::string cacert;
    std::string cert;
    std::string key;
    std::string stamp_pointer;
    std::string stamp_unit = "detect";
    std::string publish_url;
    std::string publish_cmd;
    std::string message; ///< --message TEXT or @FILE (echo)
    std::string expect;  ///< --expect REGEX (echo)
};

/// Adds --subscribe-only, -H, -u, --bearer, TLS, --stamp-pointer/--stamp-unit and
/// --publish-url/--publish-cmd.
void add_bench_foreign_flags(CLI::App& app, BenchForeignFlags& flags);

/// True when the run is subscribe-only: asked for, implied by a publish flag, or by an
/// sse/stream/poll URL with a path (rtx serve takes the base URL only).
bool subscribe_only_requested(const BenchForeignFlags& flags, bench::Protocol protocol,
                              const std::string& url);

/// --message and --expect for an echo run (`fanout` false); throws core::UsageError.
bench::EchoMessages resolve_echo_messages(const BenchForeignFlags& flags, bool fanout);

/// Validates and converts; throws core::UsageError with a one-line reason.
bench::ForeignOptions resolve_bench_foreign(const BenchForeignFlags& flags, bool subscribe_only);

} // namespace rtx::cmd
