// rtx sse URL — a complete Server-Sent Events client (WHATWG HTML 9.2): reconnects,
// resumes with Last-Event-ID, honours retry:, stops on 204.
#include "cmd/command.hpp"
#include "cmd/http_options.hpp"
#include "core/error.hpp"
#include "transport/http/http_stream_connection.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <memory>

namespace rtx::cmd {

namespace {

struct SseOptions {
    HttpFlags http;
    std::string last_event_id;
    std::vector<std::string> events;
};

core::ExitCode run_sse(const SseOptions& options) {
    HttpSettings settings = resolve_http_flags(options.http, "sse");
    // An event stream reconnects by default (9.2.3); --reconnect also retries a first
    // connect that fails, --no-reconnect turns reconnecting off.
    settings.client.reconnect.retry_first_connect = options.http.client.reconnect;
    settings.client.reconnect.enabled = !options.http.client.no_reconnect;
    if (options.http.client.backoff_initial.empty()) {
        auto& backoff = settings.client.reconnect.backoff;
        backoff.initial = std::min<core::Duration>(std::chrono::seconds(3), backoff.max);
    }
    // --event filters on the record's event key, open and close records included.
    settings.client.pipe.filter.events = options.events;
    auto state = std::make_shared<transport::http::SseState>();
    state->last_event_id = options.last_event_id;
    state->reconnection_time = settings.client.reconnect.backoff.initial;
    return run_http_client(
        settings, [&](transport::http::CurlMulti& multi, transport::Handler& handler) {
            auto connection = std::make_unique<transport::http::HttpStreamConnection>(
                multi, settings.request, transport::http::BodyFormat::sse, state, handler, 1);
            connection->start();
            return connection;
        });
}

} // namespace

Runner setup_sse(CLI::App& parent, std::string_view name, std::string_view summary) {
    auto options = std::make_shared<SseOptions>();
    CLI::App* app = parent.add_subcommand(std::string(name), std::string(summary));
    add_http_flags(*app, options->http, /*reconnect_by_default=*/true);
    add_null_flag(*app, options->http);
    app->add_option("--last-event-id", options->last_event_id,
                    "Resume after this event id (sent as Last-Event-ID)")
        ->group("SSE");
    app->add_option("--event", options->events,
                    "Only events of this type; with --json only records with this event, open "
                    "and close too (repeatable; untyped events are 'message')")
        ->group("SSE");
    app->footer(
        R"(Prints the data of each event on its own line (-0: NUL after each, for data with line
breaks); --json writes the whole event (event type, id, data) plus open and close records,
which --no-lifecycle leaves out; --event filters every record by its event. When a stream
ends normally it reconnects after the server's retry: delay (3s by default), sending
Last-Event-ID; after an error it backs off from that delay, never waiting less; HTTP 204
stops it.

Examples:
  rtx serve --tick 1s &                          # a counter on topic "tick"
  rtx sse http://127.0.0.1:8080/sse/tick         # 1, 2, 3, ...
  rtx sse --json --count 5 http://127.0.0.1:8080/sse/tick
  rtx sse --json --no-lifecycle --event update https://example.org/events | jq .payload
  rtx sse -0 https://example.org/events | xargs -0 -n1 echo   # multi-line data, one each
  rtx sse --event update --last-event-id 41 https://example.org/events
  rtx sse -H 'Authorization: Bearer T' --no-reconnect https://example.org/feed
  rtx sse -b cookies.txt -c cookies.txt --compressed https://example.org/events
  rtx sse -d @req.json --pick /choices/0/delta/content --join --until '^\[DONE\]$' URL

Exit status: 0 done (--count, 204), 3 connect failed, 4 TLS, 5 timeout, 6 event over 16 MiB
or a reply that is not HTTP, 7 connection lost (--no-reconnect), 8 HTTP status (the start of
its body follows; all of it with -v) or content type, 11 --reconnect gave up, 130 Ctrl-C
(rtx(1) has the full table).)");
    return [options] {
        return run_sse(*options);
    };
}

} // namespace rtx::cmd
