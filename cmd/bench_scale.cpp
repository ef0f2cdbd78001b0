// rtx bench beyond one process: --shard, --start-at, --procs and `rtx bench merge`.
#include "cmd/bench_scale.hpp"

#include "bench/embedded_server.hpp"
#include "bench/html_report.hpp"
#include "bench/merge.hpp"
#include "bench/runner.hpp"
#include "core/log.hpp"
#include "core/signals.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace rtx::cmd {

namespace {

/// Descriptors a process needs besides its sockets (loops, stdio, report files).
constexpr unsigned long k_spare_descriptors = 64;
/// --procs without --start-at: the shards begin this long after the children start, so
/// that every one has parsed its flags and is waiting.
constexpr auto k_procs_lead = std::chrono::milliseconds(1500);

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

bool write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) {
        core::log_error("cannot write {}", path);
        return false;
    }
    return true;
}

} // namespace

core::ExitCode finish_bench(const bench::Report& report, const bench::Thresholds& thresholds,
                            const std::string& json_file, const std::string& html_file,
                            std::optional<int> signal) {
    std::string summary = bench::render_summary(report);
    std::size_t failed = 0;
    for (const auto& shard : report.shards) {
        failed += shard.status == "ok" ? 0U : 1U;
    }
    if (!report.shards.empty()) {
        summary += fmt::format("  shards        {} merged", report.shards.size());
        summary += failed == 0 ? ", all ok\n" : fmt::format(", {} failed:\n", failed);
    }
    for (const auto& shard : report.shards) {
        if (shard.status != "ok") {
            summary += fmt::format("    shard {}: {}\n", shard.shard, shard.status);
        }
    }
    std::fwrite(summary.data(), 1, summary.size(), stdout);
    std::fflush(stdout);
    bool written = true;
    if (!json_file.empty()) {
        written &= write_file(json_file, bench::report_to_json_text(report) + "\n");
    }
    if (!html_file.empty()) {
        written &= write_file(html_file, bench::render_html(report));
    }
    if (signal) {
        return static_cast<core::ExitCode>(core::exit_status_for_signal(*signal));
    }
    if (!written || failed > 0) {
        return core::ExitCode::failure;
    }
    if (report.connections > 0 && report.connections_failed == report.connections) {
        core::log_error("no connection could be opened ({} attempted)", report.connections);
        return core::ExitCode::connect_failed;
    }
    auto breached = bench::breaches(report, thresholds);
    for (const auto& line : breached) {
        core::log_error("threshold: {}", line);
    }
    return breached.empty() ? core::ExitCode::ok : core::ExitCode::threshold;
}

namespace {

/// This process's command line, as given.
std::vector<std::string> own_arguments() {
    std::vector<std::string> arguments;
    auto text = read_file("/proc/self/cmdline");
    std::string_view rest = text ? std::string_view(*text) : std::string_view{};
    while (!rest.empty()) {
        auto end = rest.find('\0');
        arguments.emplace_back(rest.substr(0, end));
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    }
    return arguments;
}

/// The command line without the flags the parent sets for each child (and their values).
std::vector<std::string> child_arguments(const std::vector<std::string>& own) {
    static constexpr std::string_view k_replaced[] = {"--procs", "--shard", "--start-at", "--json",
                                                      "--html"};
    std::vector<std::string> out;
    for (std::size_t i = 1; i < own.size(); ++i) {
        bool drop = false;
        for (std::string_view flag : k_replaced) {
            if (own[i] == flag) {
                ++i; // and its value
                drop = true;
            } else if (own[i].starts_with(std::string(flag) + "=")) {
                drop = true;
            }
        }
        if (!drop) {
            out.push_back(own[i]);
        }
    }
    return out;
}

/// How a child ended, for the report: "ok" for a run that finished (with or without a
/// breached threshold of its own: only the merged result's count).
std::string exit_text(int status) {
    if (WIFSIGNALED(status)) {
        const char* name = sigabbrev_np(WTERMSIG(status));
        return fmt::format("killed by SIG{}", name ? name : std::to_string(WTERMSIG(status)));
    }
    const int code = WEXITSTATUS(status);
    if (code == core::to_int(core::ExitCode::ok) ||
        code == core::to_int(core::ExitCode::threshold)) {
        return "ok";
    }
    if (code == core::to_int(core::ExitCode::interrupted) ||
        code == core::to_int(core::ExitCode::terminated)) {
        return fmt::format("interrupted (exit {})", code);
    }
    return fmt::format("exit {} ({})", code,
                       core::exit_code_name(static_cast<core::ExitCode>(code)));
}

volatile sig_atomic_t g_signal = 0;
std::vector<pid_t>* g_children = nullptr;

extern "C" void forward_signal(int signum) {
    g_signal = signum;
    if (g_children != nullptr) {
        for (pid_t pid : *g_children) {
            if (pid > 0) { // -1: reaped or never started (kill(-1) would signal everything)
                ::kill(pid, signum);
            }
        }
    }
}

/// The last lines of a child's log, for a shard that failed.
void show_log_tail(const std::string& path, std::string_view shard) {
    auto text = read_file(path);
    if (!text || text->empty()) {
        return;
    }
    std::string_view tail = *text;
    std::size_t lines = 0;
    std::size_t pos = tail.size() - 1;
    while (pos > 0 && lines < 5) {
        if (tail[--pos] == '\n') {
            ++lines;
        }
    }
    tail = tail.substr(pos == 0 ? 0 : pos + 1);
    core::log_error("shard {} said:\n{}", shard, tail);
}

} // namespace

void add_shard_flags(CLI::App& app, ShardOptions& options) {
    const char* group = "Several processes and machines";
    app.add_option("--shard", options.shard,
                   "Run shard I of N of this test (I/N): its share of --conns, --publishers, "
                   "--rate and --connect-rate, with ids distinct across shards")
        ->group(group);
    app.add_option("--start-at", options.start_at,
                   "Begin the ramp at this time (RFC 3339, or +5s from now): every shard at once")
        ->group(group);
    app.add_option("--procs", options.procs,
                   "Run the test as P local shard processes and merge them (default: one per "
                   "core when one process may not open enough sockets)")
        ->group(group);
}

void apply_shard_options(const ShardOptions& options, bench::Plan& plan) {
    if (!options.shard.empty()) {
        auto shard = bench::parse_shard(options.shard);
        if (!shard) {
            throw core::UsageError(shard.error().message);
        }
        if (options.procs) {
            throw core::UsageError("--shard and --procs: --procs runs the shards itself");
        }
        plan.shard = shard.value();
        // The counts, --rate and --messages stay the whole test's; the ramp's pace is per
        // process, so it is this shard's share of it.
        // (0 is no rate: the default window, per process, or all at once.)
        plan.connect_rate = bench::shard_rate(plan.connect_rate, plan.connections, plan.shard);
    }
    if (!options.start_at.empty()) {
        auto start = bench::parse_start_at(options.start_at, std::chrono::system_clock::now());
        if (!start) {
            throw core::UsageError(start.error().message);
        }
        plan.start_at = start.value();
    }
}

std::optional<unsigned> procs_needed(const ShardOptions& options, const bench::Plan& plan) {
    if (options.procs) {
        if (*options.procs == 0) {
            throw core::UsageError("--procs 0: must be at least 1");
        }
        if (*options.procs > 1024) {
            throw core::UsageError(fmt::format("--procs {}: at most 1024", *options.procs));
        }
        return *options.procs > 1 ? options.procs : std::nullopt;
    }
    if (plan.shard.sharded()) {
        return std::nullopt;
    }
    const unsigned long needed = plan.connections + plan.publishers + k_spare_descriptors;
    const unsigned long limit = bench::raise_open_files(needed);
    if (limit >= needed || limit <= 2 * k_spare_descriptors) {
        return std::nullopt;
    }
    const unsigned long per_process = limit - k_spare_descriptors;
    const unsigned long enough =
        (plan.connections + plan.publishers + per_process - 1) / per_process;
    const unsigned long procs =
        std::max<unsigned long>(enough, std::max(1U, std::thread::hardware_concurrency()));
    core::log_info("{} connections need more sockets than one process may open ({}): running "
                   "{} shard processes (--procs)",
                   plan.connections, limit, procs);
    return static_cast<unsigned>(procs);
}

core::ExitCode run_procs(unsigned procs, bench::Plan plan, const bench::Thresholds& thresholds,
                         const std::string& json_file, const std::string& html_file) {
    std::vector<std::string> base = child_arguments(own_arguments());
    std::unique_ptr<bench::EmbeddedServer> server;
    if (plan.target.host.empty()) {
        // One embedded server for every shard, in its own process (it holds the other
        // end of every connection); its URL is the children's target.
        bench::raise_open_files(plan.connections + plan.publishers + k_spare_descriptors);
        auto started = bench::start_embedded_server(plan, true);
        if (!started) {
            core::log_error("{}", started.error().message);
            return started.error().code;
        }
        server = std::move(started.value());
        base.push_back(plan.target.to_string());
    }
    char pattern[] = "/tmp/rtx-bench-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) {
        core::log_error("cannot create a directory for the shard reports: {}",
                        std::strerror(errno));
        return core::ExitCode::failure;
    }
    const std::string dir = pattern;
    const auto start = plan.start_at > std::chrono::system_clock::now()
                           ? plan.start_at
                           : std::chrono::system_clock::now() + k_procs_lead;
    std::vector<pid_t> children;
    std::vector<std::string> reports;
    std::vector<std::string> logs;
    struct sigaction action {};
    action.sa_handler = forward_signal;
    sigemptyset(&action.sa_mask);
    struct sigaction old_int {
    }, old_term{};
    ::sigaction(SIGINT, &action, &old_int);
    ::sigaction(SIGTERM, &action, &old_term);
    g_children = &children;
    children.reserve(procs);
    for (unsigned i = 0; i < procs; ++i) {
        const std::string shard = fmt::format("{}/{}", i, procs);
        reports.push_back(fmt::format("{}/shard-{}.json", dir, i));
        logs.push_back(fmt::format("{}/shard-{}.log", dir, i));
        std::vector<std::string> args = {"rtx"};
        args.insert(args.end(), base.begin(), base.end());
        for (std::string extra :
             {std::string("--shard"), shard, std::string("--start-at"),
              bench::format_rfc3339(start), std::string("--json"), reports.back()}) {
            args.push_back(std::move(extra));
        }
        std::vector<char*> argv;
        for (auto& arg : args) {
            argv.push_back(arg.data());
        }
        argv.push_back(nullptr);
        // Each child in its own process group: Ctrl-C reaches this process, which passes
        // it on once (a second one would make a child stop without its report).
        posix_spawnattr_t attributes;
        posix_spawnattr_init(&attributes);
        posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
        posix_spawnattr_setpgroup(&attributes, 0);
        posix_spawn_file_actions_t files;
        posix_spawn_file_actions_init(&files);
        posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&files, STDERR_FILENO, logs.back().c_str(),
                                         O_WRONLY | O_CREAT | O_TRUNC, 0644);
        pid_t pid = 0;
        const int failed =
            ::posix_spawn(&pid, "/proc/self/exe", &files, &attributes, argv.data(), environ);
        posix_spawn_file_actions_destroy(&files);
        posix_spawnattr_destroy(&attributes);
        if (failed != 0) {
            core::log_error("cannot start shard {}: {}", shard, std::strerror(failed));
            pid = -1;
        } else {
            core::log_verbose("shard {}: pid {}", shard, pid);
        }
        children.push_back(pid);
    }
    std::vector<bench::Report> merged_inputs;
    std::vector<bench::ShardStatus> statuses;
    bool any_failed = false;
    for (unsigned i = 0; i < procs; ++i) {
        const std::string shard = fmt::format("{}/{}", i, procs);
        std::string status = "could not start";
        if (children[i] > 0) {
            int wait_status = 0;
            while (::waitpid(children[i], &wait_status, 0) < 0 && errno == EINTR) {
            }
            children[i] = -1; // reaped: not to be signalled any more
            status = exit_text(wait_status);
        }
        auto text = read_file(reports[i]);
        auto report = text && !text->empty() ? bench::parse_report_json(*text)
                                             : core::Result<bench::Report>(core::Error{});
        if (report) {
            merged_inputs.push_back(std::move(report.value()));
            if (status != "ok") {
                status += ", partial report kept";
            }
        } else {
            status += status == "ok" ? "" : ", no report";
            if (text && !text->empty()) {
                status = "report unreadable: " + report.error().message;
            } else if (status == "ok") {
                status = "no report";
            }
        }
        if (status != "ok") {
            any_failed = true;
            show_log_tail(logs[i], shard);
        }
        statuses.push_back(bench::ShardStatus{shard, status});
    }
    g_children = nullptr;
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGTERM, &old_term, nullptr);
    server.reset();
    if (merged_inputs.empty()) {
        core::log_error("no shard left a report (logs in {})", dir);
        return g_signal != 0 ? static_cast<core::ExitCode>(core::exit_status_for_signal(g_signal))
                             : core::ExitCode::failure;
    }
    auto merged = bench::merge_shards(std::move(merged_inputs), std::move(statuses));
    if (!merged) {
        core::log_error("{}", merged.error().message);
        return merged.error().code;
    }
    if (any_failed) {
        core::log_error("shard reports and logs kept in {}", dir);
    } else {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
    }
    std::optional<int> signal;
    if (g_signal != 0) {
        signal = static_cast<int>(g_signal);
    }
    return finish_bench(merged.value(), thresholds, json_file, html_file, signal);
}

std::shared_ptr<std::vector<std::string>> add_merge_subcommand(CLI::App& bench) {
    auto files = std::make_shared<std::vector<std::string>>();
    CLI::App* merge = bench.add_subcommand(
        "merge", "Merge the JSON reports of the shards of one test into one report");
    merge->add_option("reports", *files, "JSON reports written by rtx bench --json")->required();
    merge->fallthrough(); // --json, --html and the --max-* thresholds are bench's flags
    merge->footer(R"(Counters are summed, latency histograms merged bucket by bucket (the merged
percentiles are those of one process recording every sample), timelines joined on wall-clock
seconds, fan-out loss recomputed over every shard's publishes; the thresholds are checked on
the merged result. Reports of different tests (protocol, pattern, load model, target,
message size) or the same shard twice are refused.

Examples:
  rtx bench merge shard-*.json
  rtx bench merge a.json b.json --json all.json --html all.html --max-p99 20ms

Exit status: 0 done, 2 unreadable or mismatched reports, 3 no connection could be opened in
any shard, 10 a threshold was breached on the merged result.)");
    return files;
}

core::ExitCode run_bench_merge(const std::vector<std::string>& files,
                               const bench::Thresholds& thresholds, const std::string& json_file,
                               const std::string& html_file) {
    std::vector<bench::Report> reports;
    std::vector<bench::ShardStatus> statuses;
    for (const auto& file : files) {
        auto text = read_file(file);
        if (!text) {
            throw core::UsageError(fmt::format("cannot read {}", file));
        }
        auto report = bench::parse_report_json(*text);
        if (!report) {
            throw core::UsageError(fmt::format("{}: {}", file, report.error().message));
        }
        // A report merged before keeps its shards' statuses.
        if (!report->shards.empty()) {
            statuses.insert(statuses.end(), report->shards.begin(), report->shards.end());
        } else {
            statuses.push_back(
                bench::ShardStatus{report->shard.empty() ? file : report->shard, "ok"});
        }
        reports.push_back(std::move(report.value()));
    }
    auto merged = bench::merge_shards(std::move(reports), std::move(statuses));
    if (!merged) {
        throw core::UsageError(merged.error().message);
    }
    return finish_bench(merged.value(), thresholds, json_file, html_file, std::nullopt);
}

} // namespace rtx::cmd
