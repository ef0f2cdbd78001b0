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

/// Passes on only the events whose type was asked for with --event.
class EventFilter final : public transport::Handler {
public:
    EventFilter(transport::Handler& next, std::vector<std::string> events)
        : m_next(next)
        , m_events(std::move(events)) {}
    void on_open(transport::Connection& c) override { m_next.on_open(c); }
    void on_message(transport::Connection& c, const transport::Message& m) override {
        for (const auto& wanted : m_events) {
            if (m.topic == wanted) {
                m_next.on_message(c, m);
                return;
            }
        }
    }
    void on_close(transport::Connection& c, const transport::CloseInfo& i) override {
        m_next.on_close(c, i);
    }

private:
    transport::Handler& m_next;
    std::vector<std::string> m_events;
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
    auto state = std::make_shared<transport::http::SseState>();
    state->last_event_id = options.last_event_id;
    std::vector<std::unique_ptr<EventFilter>> filters;
    return run_http_client(
        settings, [&](transport::http::CurlMulti& multi, transport::Handler& handler) {
            transport::Handler* target = &handler;
            if (!options.events.empty()) {
                filters.push_back(std::make_unique<EventFilter>(handler, options.events));
                target = filters.back().get();
            }
            auto connection = std::make_unique<transport::http::HttpStreamConnection>(
                multi, settings.request, transport::http::BodyFormat::sse, state, *target, 1);
            connection->start();
            return connection;
        });
}

} // namespace

Runner setup_sse(CLI::App& parent, std::string_view name, std::string_view summary) {
    auto options = std::make_shared<SseOptions>();
    CLI::App* app = parent.add_subcommand(std::string(name), std::string(summary));
    add_http_flags(*app, options->http, /*reconnect_by_default=*/true);
    app->add_option("--last-event-id", options->last_event_id,
                    "Resume after this event id (sent as Last-Event-ID)")
        ->group("SSE");
    app->add_option("--event", options->events,
                    "Only events of this type (repeatable; untyped events are 'message')")
        ->group("SSE");
    app->footer(
        R"(Prints the data of each event on its own line; --json writes the whole event (event
type, id, data). Reconnects when the stream ends or drops, after the server's retry: delay
(3s by default, backing off on errors), sending Last-Event-ID; HTTP 204 stops it.

Examples:
  rtx serve --tick 1s &                          # a counter on topic "tick"
  rtx sse http://127.0.0.1:8080/sse/tick         # 1, 2, 3, ...
  rtx sse --json --count 5 http://127.0.0.1:8080/sse/tick
  rtx sse --event update --last-event-id 41 https://example.org/events
  rtx sse -H 'Authorization: Bearer T' --no-reconnect https://example.org/feed

Exit status: 0 done (--count, 204), 3 connect failed, 4 TLS, 5 timeout, 6 event over 16 MiB,
7 connection lost (--no-reconnect), 8 HTTP status or content type, 11 --reconnect gave up,
130 Ctrl-C (rtx(1) has the full table).)");
    return [options] {
        return run_sse(*options);
    };
}

} // namespace rtx::cmd
