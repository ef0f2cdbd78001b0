// rtx — one binary, one subcommand per protocol. main parses, dispatches and maps errors to
// the exit-code table (lib/core/exit_code.hpp, man/rtx.1).
#include "cmd/command.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/version.hpp"
#include "transport/http/curl_multi.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace rtx::cmd {

std::span<const Command> commands() {
    static constexpr std::array k_commands{
        Command{"tcp", "Raw TCP client, like netcat: stdin -> socket -> stdout", &setup_tcp},
        Command{"stream", "HTTP streaming: print a response body as it arrives", &setup_stream},
        Command{"poll", "HTTP long-polling loop: hold, receive, re-request at once", &setup_poll},
        Command{"sse", "Server-Sent Events client: reconnect, Last-Event-ID, retry:", &setup_sse},
        Command{"mqtt", "MQTT 3.1.1/5 client: sub prints messages, pub publishes them",
                &setup_mqtt},
        Command{"ws", "WebSocket client for terminals and pipes: stdin -> messages -> stdout",
                &setup_ws},
        Command{"push", "Web Push sender: encrypt, sign with VAPID, POST to a subscription",
                &setup_push},
        Command{"webrtc",
                "WebRTC data channel, room or manual signalling: stdin -> messages -> stdout",
                &setup_webrtc},
        Command{"bench", "Load generator: many connections, latency percentiles, loss",
                &setup_bench},
        Command{"serve", "Embedded server: TCP echo, HTTP (SSE, stream, poll), WebSocket, MQTT",
                &setup_serve},
    };
    return k_commands;
}

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = above;
        }
    }
    return row[b.size()];
}

/// "unknown command 'tpc' (did you mean 'tcp'?)", or without the hint when nothing is close.
std::string unknown_command_message(std::string_view typed) {
    std::string_view best;
    std::size_t best_distance = 3; // more than two edits away is not a typo
    for (const auto& command : commands()) {
        std::size_t d = edit_distance(typed, command.name);
        if (d < best_distance) {
            best_distance = d;
            best = command.name;
        }
    }
    if (best.empty()) {
        return fmt::format("unknown command '{}'; see 'rtx --help'", typed);
    }
    return fmt::format("unknown command '{}' (did you mean '{}'?)", typed, best);
}

/// "rtx ws", "rtx mqtt sub": the command line whose --help explains a usage error, from the
/// subcommands CLI11 had recognised (it records each before parsing its arguments, so this
/// holds after a ParseError too).
std::string help_command(const CLI::App& app) {
    std::string path = "rtx";
    const CLI::App* current = &app;
    while (!current->get_subcommands().empty()) {
        current = current->get_subcommands().front();
        path += " " + current->get_name();
    }
    return path;
}

/// `rtx: error: <what>; see 'rtx ws --help'`: a usage error points at the help of the
/// command the user typed, not at the top-level list.
void log_usage_error(std::string_view what, const CLI::App& app) {
    core::log_error("{}; see '{} --help'", what, help_command(app));
}

/// The subcommand the command line names, found before parsing so that only its options are
/// built: building all ten subcommands' CLI11 trees cost about a tenth of a short run's CPU
/// (farm-bench, `rtx tcp --help` against `rtx --help`), paid by every one-shot call.
/// nullptr (build them all) for --help/--completions/--version before any command word and
/// for no or an unknown command, where the full tree is what is shown.
const Command* command_named_on(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg.starts_with("--completions") || arg == "--help" || arg == "-h" ||
            arg == "--help-all" || arg == "--version") {
            return nullptr;
        }
        if (arg.starts_with('-')) {
            continue; // -v, -vv, -q: the global flags take no value
        }
        auto named = std::find_if(commands().begin(), commands().end(),
                                  [&](const Command& c) { return c.name == arg; });
        return named == commands().end() ? nullptr : &*named;
    }
    return nullptr;
}

int run(int argc, char** argv) {
    CLI::App app{"rtx: a Swiss-army client, load generator and mock server for real-time "
                 "protocols",
                 "rtx"};
    app.require_subcommand(0, 1);
    int verbosity = 0;
    bool quiet = false;
    std::string completions_shell;
    app.add_flag("-v,--verbose", verbosity, "More detail on stderr (-vv: debug)");
    app.add_flag("-q,--quiet", quiet, "Only errors on stderr");
    app.add_option("--completions", completions_shell,
                   "Print the completion script for bash, zsh or fish");
    app.set_version_flag("--version", [] {
        return fmt::format("rtx {}\n{}\nlibcurl {}", core::rtx_version(), core::library_versions(),
                           transport::http::curl_version_text());
    });
    // Options such as -v work before or after the subcommand.
    app.fallthrough();

    const Command* named = command_named_on(argc, argv);
    std::vector<Runner> runners;
    for (const auto& command : commands()) {
        if (named == nullptr || named == &command) {
            runners.push_back(command.setup(app, command.name, command.summary));
        } else {
            runners.emplace_back(); // not on this command line: never run, never built
        }
    }
    app.footer(R"(Examples:
  rtx serve --tick 1s                        # TCP echo :7070, HTTP and WebSocket :8080,
                                             # MQTT :1883; a counter on topic 'tick'
  rtx sse http://127.0.0.1:8080/sse/tick     # 1, 2, 3, ... as they are published
  echo hello | rtx tcp 127.0.0.1:7070        # send a line, print the echo
  rtx ws ws://127.0.0.1:8080/ws/news         # type to publish on 'news', see the topic
  curl -d hi http://127.0.0.1:8080/publish/news      # publish, then read the topic back
  rtx stream --count 1 'http://127.0.0.1:8080/stream/news?since=0'   # from its history

Every subcommand has --help; the manual is rtx(1), with one page per subcommand (rtx-tcp(1),
rtx-sse(1), ...). Exit status: 0 ok, 2 usage, 3 connect, 4 TLS, 5 timeout, 8 HTTP status,
130 Ctrl-C; rtx(1) has the full table.)");

    if (argc > 1 && argv[1][0] != '-') {
        std::string_view typed = argv[1];
        bool known = std::any_of(commands().begin(), commands().end(),
                                 [&](const Command& c) { return c.name == typed; });
        if (!known) {
            core::log_error("{}", unknown_command_message(typed));
            return core::to_int(core::ExitCode::usage);
        }
    }

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        log_usage_error(e.what(), app);
        return core::to_int(core::ExitCode::usage);
    }

    core::set_log_level(quiet            ? core::LogLevel::quiet
                        : verbosity >= 2 ? core::LogLevel::debug
                        : verbosity == 1 ? core::LogLevel::verbose
                                         : core::LogLevel::normal);

    if (!completions_shell.empty()) {
        if (!print_completions(app, completions_shell)) {
            core::log_error("--completions: unknown shell '{}' (bash, zsh or fish)",
                            completions_shell);
            return core::to_int(core::ExitCode::usage);
        }
        return 0;
    }

    const auto& chosen = app.get_subcommands();
    if (chosen.empty()) {
        std::cerr << app.help();
        return core::to_int(core::ExitCode::usage);
    }
    for (std::size_t i = 0; i < commands().size(); ++i) {
        if (chosen.front()->get_name() == commands()[i].name) {
            try {
                return core::to_int(runners[i]());
            } catch (const core::UsageError& e) {
                log_usage_error(e.what(), app);
                return core::to_int(core::ExitCode::usage);
            }
        }
    }
    return core::to_int(core::ExitCode::usage);
}

} // namespace
} // namespace rtx::cmd

int main(int argc, char** argv) {
    try {
        return rtx::cmd::run(argc, argv);
    } catch (const rtx::core::UsageError& e) {
        rtx::core::log_error("{}", e.what());
        return rtx::core::to_int(rtx::core::ExitCode::usage);
    } catch (const std::exception& e) {
        rtx::core::log_error("{}", e.what());
        return rtx::core::to_int(rtx::core::ExitCode::failure);
    }
}
