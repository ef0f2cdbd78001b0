#pragma once

#include "bench/histogram.hpp"
#include "bench/plan.hpp"
#include "bench/report.hpp"
#include "core/loop.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

namespace rtx::bench {

/// One second of one worker, handed to the runner for the live line and the timeline.
struct IntervalSample {
    std::uint64_t tick = 0; ///< Seconds since the run started.
    std::uint64_t sent = 0;
    std::uint64_t received = 0;
    std::uint64_t errors = 0;
    std::uint64_t connections_up = 0;
    std::shared_ptr<Histogram> latency; ///< The latencies of this second (moved out).
};

/// What a worker measured, handed over once at the end of the run.
struct WorkerResult {
    Report report; ///< Counts, histograms and errors of this worker; no timeline.
    /// Fan-out: publishes acknowledged by the server, per topic.
    std::vector<std::uint64_t> acked_per_topic;
};

/// Receives what the workers produce. Called on the worker threads: implementations post
/// to their own loop.
class WorkerListener {
public:
    virtual ~WorkerListener() = default;
    virtual void on_interval(unsigned worker, IntervalSample sample) = 0;
    virtual void on_finished(unsigned worker, WorkerResult result) = 0;
};

/// Figures the runner reads while the run goes (relaxed atomics, written by the worker
/// thread only, each worker on its own cache lines).
struct alignas(64) WorkerProgress {
    std::atomic<std::uint64_t> settled{0};  ///< Connections whose first attempt ended.
    std::atomic<std::uint64_t> opened{0};   ///< Connections that opened at least once.
    std::atomic<std::uint64_t> sent{0};     ///< Messages sent (fan-out: acknowledged publishes).
    std::atomic<std::uint64_t> received{0}; ///< Replies (echo), distinct deliveries (fan-out).
    std::atomic<bool> sending_done{false};  ///< Every sender of this worker used its quota.
    /// Fan-out: acknowledged publishes per topic.
    std::vector<std::atomic<std::uint64_t>> acked;
};

/// One worker thread with its own core::Loop, owning a share of the run's connections
/// (connection i belongs to worker i % threads, and so does publisher i): it connects them
/// at its share of the connect rate, sends (closed or open model), receives, and records
/// into its own histograms; nothing is shared with other workers but the progress
/// counters. The runner drives it through the methods below, which post to its loop.
class Worker {
public:
    /// `plan` must outlive the worker.
    Worker(const Plan& plan, unsigned index, WorkerListener& listener);
    /// Joins the thread (finish() must have been called).
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    /// Starts the thread: connecting begins.
    void start();
    /// The connect ramp is over everywhere: start measuring (echo with --duration forgets
    /// what it recorded during the ramp) and, for fan-out, start publishing.
    void begin_measure();
    /// Reports the last second through WorkerListener::on_interval.
    void sample(std::uint64_t tick);
    /// Stops sending; replies and deliveries still count (drain).
    void stop_sending();
    /// Reports through on_finished, closes everything and ends the thread.
    void finish();

    const WorkerProgress& progress() const { return m_progress; }
    /// Connections (echo) or subscribers (fan-out) this worker owns.
    std::size_t connection_count() const;

private:
    class Session;
    const Plan& m_plan;
    unsigned m_index;
    WorkerListener& m_listener;
    WorkerProgress m_progress;
    core::Loop m_loop;
    Session* m_session = nullptr; ///< Lives on the worker thread; touched there only.
    std::thread m_thread;
};

} // namespace rtx::bench
