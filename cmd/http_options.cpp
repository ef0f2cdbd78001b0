#include "cmd/http_options.hpp"

#include "client/pipe_session.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/loop.hpp"
#include "core/url.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fstream>
#include <sstream>

namespace rtx::cmd {

void add_http_flags(CLI::App& app, HttpFlags& flags, bool reconnect_by_default) {
    app.add_option("url", flags.url, "http:// or https:// URL")->required();
    const char* http = "HTTP";
    app.add_option("-H,--header", flags.headers, "Extra request header 'Name: value' (repeatable)")
        ->group(http);
    app.add_option("-X,--request", flags.method, "Request method (default GET; POST with -d)")
        ->group(http);
    flags.data_option =
        app.add_option("-d,--data", flags.data, "Request body; @FILE reads it from a file")
            ->group(http);
    app.add_option("-u,--user", flags.user, "Basic authentication 'user:password'")->group(http);
    app.add_option("--bearer", flags.bearer, "Authorization: Bearer TOKEN")->group(http);
    app.add_option("--proxy", flags.proxy, "Proxy URL (http://, socks5h://, ...)")->group(http);
    app.add_flag("--http1.1", flags.http1, "Use HTTP/1.1 only (default: HTTP/2 when offered)")
        ->group(http);
    app.add_flag("--http2-prior-knowledge", flags.http2_prior_knowledge,
                 "Speak HTTP/2 from the first byte, without Upgrade (h2c; curl's flag)")
        ->group(http);
    app.add_flag("--compressed", flags.compressed,
                 "Ask for a compressed response (gzip, deflate, ...) and decompress it")
        ->group(http);
    app.add_option("--resolve", flags.resolve,
                   "HOST:PORT:ADDR: connect HOST:PORT to ADDR, no DNS (repeatable)")
        ->group(http);
    app.add_option("-b,--cookie", flags.cookie,
                   "Send cookies: 'NAME=VALUE; ...', or read them from a cookie file")
        ->group(http);
    app.add_option("-c,--cookie-jar", flags.cookie_jar,
                   "Write all cookies to this file (Netscape format) when done")
        ->group(http);
    app.add_flag("-i,--include", flags.include,
                 "Write the response status line and headers before the body (text output)")
        ->group("Output");
    app.add_option("-o,--output", flags.output, "Write to FILE instead of stdout")->group("Output");
    ClientFlagSet set = ClientFlagSet::url_client();
    set.reconnect_by_default = reconnect_by_default;
    add_client_flags(app, flags.client, set);
    app.add_flag("--no-lifecycle", flags.no_lifecycle,
                 "With --json, leave out the open and close records: messages only")
        ->group("Output");
}

void add_null_flag(CLI::App& app, HttpFlags& flags) {
    app.add_flag("-0,--null", flags.client.nul,
                 "End each message with NUL instead of LF (data with line breaks: xargs -0)")
        ->group("Output");
}

void check_resolve(const std::vector<std::string>& entries) {
    for (const std::string& entry : entries) {
        // HOST:PORT:ADDR; ADDR may be a bracketed IPv6 address or a comma-separated list.
        const auto first = entry.find(':');
        const auto second = first == std::string::npos ? first : entry.find(':', first + 1);
        const std::string_view port =
            second == std::string::npos
                ? std::string_view()
                : std::string_view(entry).substr(first + 1, second - first - 1);
        const bool port_ok = !port.empty() && port.size() <= 5 &&
                             port.find_first_not_of("0123456789") == std::string_view::npos &&
                             std::stoul(std::string(port)) <= 65535;
        if (first == 0 || !port_ok || second + 1 >= entry.size()) {
            throw core::UsageError(
                fmt::format("--resolve '{}': expected HOST:PORT:ADDR (127.0.0.1, [::1])", entry));
        }
    }
}

HttpSettings resolve_http_flags(const HttpFlags& flags, std::string_view protocol) {
    if (auto sep = flags.url.find("://"); sep != std::string::npos) {
        std::string scheme = flags.url.substr(0, sep);
        std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (scheme != "http" && scheme != "https") {
            throw core::UsageError(fmt::format(
                "rtx {} takes an http:// or https:// URL (got {}://)", protocol, scheme));
        }
    }
    auto url = core::parse_url(flags.url, "http");
    if (!url) {
        throw core::UsageError(url.error().message);
    }
    if (url->scheme != "http" && url->scheme != "https") {
        throw core::UsageError(fmt::format("rtx {} takes an http:// or https:// URL (got {}://)",
                                           protocol, url->scheme));
    }
    HttpSettings settings;
    settings.client = resolve_client_flags(flags.client, protocol);
    settings.client.pipe.read_stdin = false;
    settings.client.pipe.filter.lifecycle = !flags.no_lifecycle;
    auto& request = settings.request;
    // curl gets the URL as typed (with a scheme added when missing): it normalises it itself.
    request.url = flags.url.find("://") == std::string::npos ? "http://" + flags.url : flags.url;
    request.headers = flags.headers;
    for (const auto& header : request.headers) {
        if (header.find(':') == std::string::npos) {
            throw core::UsageError(fmt::format("-H '{}': expected 'Name: value'", header));
        }
    }
    if (flags.data_option != nullptr && flags.data_option->count() > 0) {
        request.has_body = true; // even -d '' : an empty POST, as curl sends
        if (!flags.data.empty() && flags.data.front() == '@') {
            std::ifstream file(flags.data.substr(1), std::ios::binary);
            if (!file) {
                throw core::UsageError(fmt::format("-d: cannot read '{}'", flags.data.substr(1)));
            }
            std::ostringstream content;
            content << file.rdbuf();
            request.body = content.str();
        } else {
            request.body = flags.data;
        }
    }
    request.method = flags.method.empty() ? (request.has_body ? "POST" : "GET") : flags.method;
    request.user = flags.user;
    request.bearer = flags.bearer;
    request.proxy = flags.proxy;
    request.http2 = !flags.http1;
    if (flags.http1 && flags.http2_prior_knowledge) {
        throw core::UsageError("--http1.1 and --http2-prior-knowledge cannot be combined");
    }
    if (flags.include && flags.client.json) {
        throw core::UsageError("-i writes the response head as text; --json writes records only");
    }
    check_resolve(flags.resolve);
    request.http2_prior_knowledge = flags.http2_prior_knowledge;
    request.compressed = flags.compressed;
    request.resolve = flags.resolve;
    request.cookie = flags.cookie;
    request.cookie_jar = flags.cookie_jar;
    request.include_head = flags.include;
    settings.output = flags.output;
    request.tls = settings.client.connect.tls;
    request.connect_timeout = settings.client.connect.connect_timeout;
    request.show_headers = core::log_level() >= core::LogLevel::verbose;
    return settings;
}

core::ExitCode run_http_client(const HttpSettings& settings, const HttpConnect& connect) {
    if (!settings.output.empty()) {
        // -o: everything that would go to stdout goes to the file (created or truncated now).
        int fd = ::open(settings.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (fd < 0 || ::dup2(fd, STDOUT_FILENO) < 0) {
            throw std::runtime_error(
                fmt::format("-o: cannot write '{}': {}", settings.output, std::strerror(errno)));
        }
        ::close(fd);
    }
    core::raise_open_files_limit();
    core::Loop loop;
    transport::http::CurlMulti multi(loop);
    output::Sink sink = make_sink(settings.client);
    client::PipeSession session(loop, settings.client.pipe, sink);
    auto factory = [&multi, &connect](transport::Handler& handler) {
        return connect(multi, handler);
    };
    return session.run(factory, settings.client.reconnect);
}

} // namespace rtx::cmd
