#pragma once

#include "bench/plan.hpp"
#include "bench/report.hpp"
#include "core/error.hpp"

#include <memory>
#include <optional>

namespace rtx::bench {

class EmbeddedServer;

/// How a run ended.
struct RunResult {
    Report report;
    /// Set when SIGINT or SIGTERM cut the run short (the report covers what was measured).
    std::optional<int> signal;
};

/// Runs one benchmark: the embedded server when the plan has no target, plan.threads
/// workers, and the control loop on the calling thread, which paces the phases (connect
/// ramp, measure, drain), gathers one sample per second from every worker (the live line
/// on stderr when `live`, and the report's timeline) and merges the workers' reports.
/// Blocks until the run is over.
class Runner {
public:
    Runner(Plan plan, bool live);
    /// Fails only when the run cannot start (the embedded server cannot bind, ...);
    /// connection failures are in the report.
    core::Result<RunResult> run();

private:
    /// Starts the embedded server (on a thread, or in a child process when `own_process`)
    /// and points the plan's target at the endpoint the run needs.
    core::Result<std::unique_ptr<EmbeddedServer>> start_embedded_server(bool own_process);

    Plan m_plan;
    bool m_live;
};

/// Starts the embedded rtx serve a run of `plan` talks to (on a thread, or in a child
/// process when `own_process`) and points plan.target at the endpoint the run needs.
/// `rtx bench --procs` starts one for all its shards.
core::Result<std::unique_ptr<EmbeddedServer>> start_embedded_server(Plan& plan, bool own_process);

/// Raises the open-files limit for `needed` descriptors: the soft limit to the hard one,
/// and the hard one too when the process may (root). Returns the soft limit reached.
unsigned long raise_open_files(unsigned long needed);

} // namespace rtx::bench
