// rtx stream URL — prints an HTTP response body as it arrives (curl -N, with messages).
#include "cmd/command.hpp"
#include "cmd/http_options.hpp"
#include "core/error.hpp"
#include "transport/http/http_stream_connection.hpp"

#include <memory>

namespace rtx::cmd {

namespace {

struct StreamOptions {
    HttpFlags http;
    bool lines = false;
    bool ndjson = false;
};

core::ExitCode run_stream(const StreamOptions& options) {
    if (options.lines && options.ndjson) {
        throw core::UsageError("--lines and --ndjson cannot be combined");
    }
    HttpSettings settings = resolve_http_flags(options.http, "stream");
    auto format = options.ndjson  ? transport::http::BodyFormat::ndjson
                  : options.lines ? transport::http::BodyFormat::lines
                                  : transport::http::BodyFormat::chunks;
    if (format == transport::http::BodyFormat::chunks && !options.http.client.json) {
        settings.client.format = output::Format::raw; // the body exactly as it arrives
    }
    return run_http_client(
        settings, [&](transport::http::CurlMulti& multi, transport::Handler& handler) {
            auto connection = std::make_unique<transport::http::HttpStreamConnection>(
                multi, settings.request, format, nullptr, handler, 1);
            connection->start();
            return connection;
        });
}

} // namespace

Runner setup_stream(CLI::App& parent, std::string_view name, std::string_view summary) {
    auto options = std::make_shared<StreamOptions>();
    CLI::App* app = parent.add_subcommand(std::string(name), std::string(summary));
    add_http_flags(*app, options->http, /*reconnect_by_default=*/false);
    app->add_flag("--lines", options->lines, "One message per line of the body")->group("Output");
    app->add_flag("--ndjson", options->ndjson,
                  "One message per non-empty line (newline-delimited JSON)")
        ->group("Output");
    app->footer(
        R"(Without --lines or --ndjson the body goes to stdout byte for byte, unbuffered, as each
piece arrives; --count and --json then count and wrap those pieces.

Examples:
  rtx serve &
  rtx stream http://127.0.0.1:8080/stream/news          # lines as they are published
  rtx stream --lines --json http://127.0.0.1:8080/stream/news
  rtx stream --lines --json --no-lifecycle http://127.0.0.1:8080/stream/news  # messages only
  rtx stream --ndjson --count 10 https://example.org/firehose
  rtx stream --format '{/level}: {/msg}' --until '"level":"fatal"' http://127.0.0.1:8080/stream/logs
  rtx stream -X POST -d @query.json -H 'Content-Type: application/json' https://example.org/q
  rtx stream -i --http2-prior-knowledge http://127.0.0.1:8000/feed  # h2c, head first

Exit status: 0 the server ended the body, 3 connect failed, 4 TLS, 5 timeout, 6 line over
64 MiB or a reply that is not HTTP, 7 connection lost, 8 HTTP status not 2xx (the start of
its body follows; all of it with -v), 130 Ctrl-C (rtx(1) has the full table).)");
    return [options] {
        return run_stream(*options);
    };
}

} // namespace rtx::cmd
