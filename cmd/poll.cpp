// rtx poll URL — an HTTP long-polling loop: request, wait for the held answer, print it,
// ask again at once.
#include "cmd/command.hpp"
#include "cmd/flag_values.hpp"
#include "cmd/http_options.hpp"
#include "core/duration.hpp"
#include "core/error.hpp"
#include "transport/http/poll_connection.hpp"

#include <fmt/format.h>

#include <memory>

namespace rtx::cmd {

namespace {

struct PollCommandOptions {
    HttpFlags http;
    std::string interval;
    std::string hold = "30s";
    std::string cursor;
    std::string cursor_param = "cursor";
    std::string initial_cursor;
    std::string items;
    bool lines = false;
};

void check_pointer(std::string_view flag, const std::string& pointer) {
    if (!pointer.empty() && pointer.front() != '/') {
        throw core::UsageError(
            fmt::format("{} '{}': a JSON pointer starts with '/' (e.g. /next)", flag, pointer));
    }
}

core::ExitCode run_poll(const PollCommandOptions& options) {
    HttpSettings settings = resolve_http_flags(options.http, "poll");
    settings.client.reconnect.retry_first_connect = options.http.client.reconnect;
    settings.client.reconnect.enabled = !options.http.client.no_reconnect;
    check_pointer("--cursor", options.cursor);
    check_pointer("--items", options.items);
    transport::http::PollOptions poll;
    poll.interval = duration_flag("--interval", options.interval);
    poll.hold = duration_flag("--hold", options.hold);
    poll.cursor_pointer = options.cursor;
    poll.cursor_param = options.cursor_param;
    poll.items_pointer = options.items;
    poll.lines = options.lines;
    auto state = std::make_shared<transport::http::PollState>();
    state->cursor = options.initial_cursor;
    return run_http_client(settings,
                           [&](transport::http::CurlMulti& multi, transport::Handler& handler) {
                               auto connection = std::make_unique<transport::http::PollConnection>(
                                   multi, settings.request, poll, state, handler, 1);
                               connection->start();
                               return connection;
                           });
}

} // namespace

Runner setup_poll(CLI::App& parent, std::string_view name, std::string_view summary) {
    auto options = std::make_shared<PollCommandOptions>();
    CLI::App* app = parent.add_subcommand(std::string(name), std::string(summary));
    add_http_flags(*app, options->http, /*reconnect_by_default=*/true);
    add_null_flag(*app, options->http);
    const char* group = "Long polling";
    app->add_option("--interval", options->interval,
                    "Minimum time between two requests (default: ask again at once)")
        ->group(group);
    app->add_option("--hold", options->hold,
                    "How long the server may hold a request; the client waits 15s longer")
        ->capture_default_str()
        ->group(group);
    app->add_option("--cursor", options->cursor,
                    "JSON pointer to the next cursor in each response (e.g. /next); an "
                    "X-Cursor header is used too")
        ->group(group);
    app->add_option("--cursor-param", options->cursor_param,
                    "Query parameter that sends the cursor back")
        ->capture_default_str()
        ->group(group);
    app->add_option("--since", options->initial_cursor, "Cursor for the first request")
        ->group(group);
    app->add_option("--items", options->items,
                    "JSON pointer to an array in each response: one message per element")
        ->group(group);
    app->add_flag("--lines", options->lines, "One message per line of each response")->group(group);
    app->footer(
        R"(Each response with news is printed (one message per --items element, per line with
--lines, else the whole body); 204 and 304 mean nothing new. ETag and Last-Modified are sent
back; 429 and 503 wait for Retry-After, and errors back off before the next request.

Examples:
  rtx serve &
  rtx poll --cursor /cursor --items /messages http://127.0.0.1:8080/poll/news
  rtx poll --interval 5s --json --no-lifecycle https://example.org/status
  rtx poll --items /messages --pick /payload --cursor /cursor http://127.0.0.1:8080/poll/news
  rtx poll -0 https://example.org/status | xargs -0 -n1 echo  # multi-line bodies, one each
  rtx poll --cursor /next --cursor-param since --since 0 https://example.org/updates
  rtx poll -i -o polls.log --resolve api.example.org:443:127.0.0.1 https://api.example.org/s

Exit status: 0 (--count), 3 connect failed, 4 TLS, 5 timeout, 6 bad JSON or a reply that is
not HTTP, 7 connection lost (--no-reconnect), 8 HTTP status (the start of its body follows;
all of it with -v), 11 --reconnect gave up, 130 Ctrl-C (rtx(1) has the full table).)");
    return [options] {
        return run_poll(*options);
    };
}

} // namespace rtx::cmd
