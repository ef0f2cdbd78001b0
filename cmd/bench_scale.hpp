#pragma once

// rtx bench beyond one process: --shard, --start-at, --procs and `rtx bench merge`.

#include "bench/plan.hpp"
#include "bench/report.hpp"
#include "cmd/command.hpp"

#include <optional>
#include <string>

namespace rtx::cmd {

/// The flags that split a test over processes.
struct ShardOptions {
    std::string shard;             ///< --shard I/N.
    std::string start_at;          ///< --start-at TIME.
    std::optional<unsigned> procs; ///< --procs P.
};

/// The end of every bench run, one process's or merged: prints the summary (with one line
/// per shard that did not end well), writes --json/--html, and returns the exit status: the
/// signal's, 1 for an unwritable file or a failed shard, 3 when no connection opened, 10 on
/// a breached threshold.
core::ExitCode finish_bench(const bench::Report& report, const bench::Thresholds& thresholds,
                            const std::string& json_file, const std::string& html_file,
                            std::optional<int> signal);

/// Adds --shard, --start-at and --procs to `rtx bench`.
void add_shard_flags(CLI::App& app, ShardOptions& options);

/// Resolves --shard and --start-at into the plan, once its counts and rates are known:
/// the shard and its share of --connect-rate (the plan keeps the whole test's --conns,
/// --publishers, --rate and --messages; see Plan::connection_range). Throws UsageError.
void apply_shard_options(const ShardOptions& options, bench::Plan& plan);

/// The number of child processes `rtx bench` runs the plan in: --procs P (P > 1), or by
/// default one per core (more if needed) when one process may not open the sockets the
/// run needs; nullopt: this process runs it. Throws UsageError on --procs with --shard.
std::optional<unsigned> procs_needed(const ShardOptions& options, const bench::Plan& plan);

/// Runs `plan` as `procs` shards in child processes (this executable, the same command
/// line with --shard I/P), one embedded server for all when the plan has no target; merges
/// their reports, prints one summary and writes --json/--html. A child that crashed or was
/// killed is listed with how it ended and the run exits 1; a partial report it left is
/// merged.
core::ExitCode run_procs(unsigned procs, bench::Plan plan, const bench::Thresholds& thresholds,
                         const std::string& json_file, const std::string& html_file);

/// `rtx bench merge A.json B.json ...`: adds the subcommand under `bench`; its thresholds
/// and --json/--html are the bench flags (the subcommand falls through to them).
/// Returns the file list the subcommand fills.
std::shared_ptr<std::vector<std::string>> add_merge_subcommand(CLI::App& bench);

/// Merges the report files (see bench::merge_shards), prints the summary, writes
/// --json/--html and checks the thresholds on the merged result (exit 10 on a breach);
/// unreadable or mismatched reports exit 2.
core::ExitCode run_bench_merge(const std::vector<std::string>& files,
                               const bench::Thresholds& thresholds, const std::string& json_file,
                               const std::string& html_file);

} // namespace rtx::cmd
