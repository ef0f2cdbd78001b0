#pragma once

#include "cmd/client_options.hpp"
#include "core/exit_code.hpp"
#include "transport/http/curl_multi.hpp"

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace rtx::cmd {

/// The flags `rtx stream`, `rtx sse` and `rtx poll` share, as typed (curl's names).
struct HttpFlags {
    std::string url;
    std::vector<std::string> headers;
    std::string method;
    std::string data;
    std::string user;
    std::string bearer;
    std::string proxy;
    bool http1 = false;
    bool http2_prior_knowledge = false;
    bool compressed = false;
    bool include = false;             ///< -i: the response head before the body
    std::string output;               ///< -o FILE: instead of stdout
    std::vector<std::string> resolve; ///< --resolve HOST:PORT:ADDR
    std::string cookie;               ///< -b: NAME=VALUE or a cookie file
    std::string cookie_jar;           ///< -c FILE
    bool no_lifecycle = false;        ///< --no-lifecycle: --json writes messages only.
    ClientFlags client;
    const CLI::Option* data_option = nullptr; ///< Tells `-d ''` (an empty body) from no -d.
};

/// Adds the URL positional and the HTTP and shared client flags.
void add_http_flags(CLI::App& app, HttpFlags& flags, bool reconnect_by_default);

/// Adds -0/--null (NUL after each message, for payloads with line breaks: SSE data, poll
/// bodies), as `rtx ws` and `rtx tcp` have it.
void add_null_flag(CLI::App& app, HttpFlags& flags);

/// The validated request and client settings.
struct HttpSettings {
    ClientSettings client;
    transport::http::HttpRequest request;
    std::string output; ///< -o FILE; empty: stdout
};

/// Checks curl --resolve entries (HOST:PORT:ADDR[,ADDR...]); throws core::UsageError.
void check_resolve(const std::vector<std::string>& entries);

/// Validates and converts; throws core::UsageError with a one-line reason.
HttpSettings resolve_http_flags(const HttpFlags& flags, std::string_view protocol);

/// Makes one connection attempt on `multi` for `handler`.
using HttpConnect = std::function<std::unique_ptr<transport::Connection>(
    transport::http::CurlMulti& multi, transport::Handler& handler)>;

/// Runs an HTTP client subcommand: one loop, one CurlMulti, the pipe session to stdout.
core::ExitCode run_http_client(const HttpSettings& settings, const HttpConnect& connect);

} // namespace rtx::cmd
