// `rtx bench` against any server: the flags of subscribe-only runs.
#include "cmd/bench_foreign.hpp"

#include "core/error.hpp"
#include "core/url.hpp"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

namespace rtx::cmd {

void add_bench_foreign_flags(CLI::App& app, BenchForeignFlags& flags) {
    const char* group = "Any server (subscribe-only)";
    app.add_flag("--subscribe-only", flags.subscribe_only,
                 "Subscribers connect to URL as given and nothing is published through rtx "
                 "serve (implied by an sse/stream/poll URL with a path, --publish-url, "
                 "--publish-cmd); mqtt subscribes to --topic")
        ->group(group);
    app.add_option("-H,--header", flags.headers,
                   "Extra request or handshake header 'Name: value' (repeatable)")
        ->allow_extra_args(false) // one per flag: a following URL stays the URL
        ->group(group);
    app.add_option("-u,--user", flags.user,
                   "Basic authentication 'user:password' (mqtt: CONNECT's user name and password)")
        ->group(group);
    app.add_option("--bearer", flags.bearer, "Authorization: Bearer TOKEN")->group(group);
    app.add_flag("-k,--insecure", flags.insecure, "Do not verify the server's certificate")
        ->group(group);
    app.add_option("--cacert", flags.cacert, "Trust the CA certificates in this PEM file")
        ->group(group);
    app.add_option("--cert", flags.cert, "Client certificate (PEM)")->group(group);
    app.add_option("--key", flags.key, "Client private key (PEM; default: in --cert)")
        ->group(group);
    app.add_option("--stamp-pointer", flags.stamp_pointer,
                   "JSON pointer to the send time in each message (/ts): delivery latency is "
                   "the wall clock at arrival minus it")
        ->group(group);
    app.add_option("--stamp-unit", flags.stamp_unit,
                   "The time at --stamp-pointer: s, ms, us, ns (since 1970), rfc3339, or "
                   "detect (by magnitude; strings as RFC 3339)")
        ->capture_default_str()
        ->group(group);
    app.add_option("--publish-url", flags.publish_url,
                   "POST each stamped message to this URL (any server): exact loss and latency")
        ->group(group);
    const char* echo = "Echo with your own messages (tcp, ws)";
    app.add_option("--message", flags.message,
                   "Send this instead of rtx's stamped payload, or each line of @FILE in "
                   "turn; {seq}, {conn} and {time} (ms since 1970) are filled in")
        ->group(echo);
    app.add_option("--expect", flags.expect,
                   "With --message: only a reply matching this regular expression ends a round "
                   "trip (servers that answer instead of echoing)")
        ->group(echo);
    app.add_option("--publish-cmd", flags.publish_cmd,
                   "Publish the stdout lines of this shell command, each stamped (to "
                   "--publish-url, else the protocol's own publish)")
        ->group(group);
}

bool subscribe_only_requested(const BenchForeignFlags& flags, bench::Protocol protocol,
                              const std::string& url) {
    if (flags.subscribe_only || !flags.publish_url.empty() || !flags.publish_cmd.empty()) {
        return true;
    }
    if (url.empty() || protocol == bench::Protocol::ws || protocol == bench::Protocol::mqtt ||
        protocol == bench::Protocol::tcp) {
        return false;
    }
    auto parsed = core::parse_url(url, "http");
    return parsed && parsed->path != "/";
}

bench::EchoMessages resolve_echo_messages(const BenchForeignFlags& flags, bool fanout) {
    bench::EchoMessages out;
    if (flags.message.empty()) {
        if (!flags.expect.empty()) {
            throw core::UsageError("--expect: give the messages to send with --message");
        }
        return out;
    }
    if (fanout) {
        throw core::UsageError("--message: echo runs only (tcp, ws); fan-out publishes "
                               "stamped messages (see --publish-cmd)");
    }
    std::string file_text;
    if (flags.message.starts_with("@")) {
        const std::string path = flags.message.substr(1);
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            throw core::UsageError(
                fmt::format("--message {}: cannot read {}", flags.message, path));
        }
        std::ostringstream text;
        text << in.rdbuf();
        file_text = text.str();
    }
    auto templates = bench::parse_messages(flags.message, file_text);
    if (!templates) {
        throw core::UsageError(templates.error().message);
    }
    out.templates = std::move(templates.value());
    if (!flags.expect.empty()) {
        try {
            out.expect = std::make_shared<const std::regex>(flags.expect, std::regex::ECMAScript);
        } catch (const std::regex_error& error) {
            throw core::UsageError(fmt::format("--expect '{}': not a regular expression ({})",
                                               flags.expect, error.what()));
        }
    }
    return out;
}

bench::ForeignOptions resolve_bench_foreign(const BenchForeignFlags& flags, bool subscribe_only) {
    bench::ForeignOptions foreign;
    foreign.subscribe_only = subscribe_only;
    for (const auto& header : flags.headers) {
        auto colon = header.find(':');
        if (colon == std::string::npos || colon == 0 ||
            header.find_first_of("\r\n") != std::string::npos) {
            throw core::UsageError(fmt::format("-H '{}': a header is 'Name: value'", header));
        }
    }
    if (!flags.user.empty() && !flags.bearer.empty()) {
        throw core::UsageError("-u/--user and --bearer: give one of them");
    }
    foreign.headers = flags.headers;
    foreign.user = flags.user;
    foreign.bearer = flags.bearer;
    foreign.tls.insecure = flags.insecure;
    foreign.tls.ca_file = flags.cacert;
    foreign.tls.cert_file = flags.cert;
    foreign.tls.key_file = flags.key;
    if (!flags.stamp_pointer.empty() && flags.stamp_pointer.front() != '/') {
        throw core::UsageError(
            fmt::format("--stamp-pointer '{}': a JSON pointer starts with '/' (/ts, /meta/sent)",
                        flags.stamp_pointer));
    }
    foreign.stamp_pointer = flags.stamp_pointer;
    auto unit = bench::parse_time_unit(flags.stamp_unit);
    if (!unit) {
        throw core::UsageError(
            fmt::format("--stamp-unit '{}': s, ms, us, ns, rfc3339 or detect", flags.stamp_unit));
    }
    foreign.stamp_unit = *unit;
    if (!flags.publish_url.empty()) {
        auto url = core::parse_url(flags.publish_url, "http");
        if (!url || (url->scheme != "http" && url->scheme != "https")) {
            throw core::UsageError(
                fmt::format("--publish-url '{}': an http:// or https:// URL", flags.publish_url));
        }
        foreign.publish_url = flags.publish_url;
    }
    foreign.publish_cmd = flags.publish_cmd;
    return foreign;
}

} // namespace rtx::cmd
