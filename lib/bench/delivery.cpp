#include "bench/delivery.hpp"

#include "bench/checks.hpp"
#include "bench/clients.hpp"
#include "bench/payload.hpp"

#include <chrono>

namespace rtx::bench {

namespace {

/// Microseconds since 1970 on the wall clock: the clock a foreign server's times are on.
std::int64_t wall_now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// The send time on the run's steady clock of a message stamped `sent_us` on the wall
/// clock: now minus its age (0 age when the stamp is ahead of this clock).
std::uint64_t steady_send_ns(const Plan& plan, std::int64_t sent_us) {
    const std::int64_t age_us = std::max<std::int64_t>(0, wall_now_us() - sent_us);
    const std::uint64_t now = plan.now_ns();
    const auto age_ns = static_cast<std::uint64_t>(age_us) * 1000;
    return now > age_ns ? now - age_ns : 0;
}

void count_arrival(const ClientContext& context, SubscriberTally& tally, std::string_view payload) {
    if (!context.plan.checks.empty()) {
        context.recorder.record_check(passes(context.plan.checks, payload));
    }
    const std::uint64_t now = context.plan.now_ns();
    if (tally.last_ns != 0 && now > tally.last_ns) {
        context.recorder.record_gap((now - tally.last_ns) / 1000);
    }
    tally.last_ns = now;
    ++tally.counted;
}

} // namespace

void record_delivery(const ClientContext& context, SubscriberTally& tally,
                     std::string_view payload) {
    const Plan& plan = context.plan;
    auto stamp = find_stamp(payload);
    if (stamp && stamp->run == plan.run_id && stamp->sender < tally.trackers.size()) {
        switch (tally.trackers[stamp->sender].record(stamp->sequence)) {
        case SequenceTracker::Verdict::fresh:
            context.recorder.record_received(payload.size(), stamp->sent_ns);
            break;
        case SequenceTracker::Verdict::late:
            context.recorder.record_received(payload.size(), stamp->sent_ns);
            context.recorder.record_reordered();
            break;
        case SequenceTracker::Verdict::duplicate:
            context.recorder.record_duplicate();
            return;
        }
        count_arrival(context, tally, payload);
        return;
    }
    // Against rtx serve: another run's message still in the server's history, or a
    // stranger's; ignored. Against a foreign server every message is the server's own.
    if (!plan.foreign.subscribe_only || !context.recorder.measuring()) {
        return;
    }
    std::optional<std::int64_t> sent_us;
    if (!plan.foreign.stamp_pointer.empty()) {
        sent_us = message_time_us(payload, plan.foreign.stamp_pointer, plan.foreign.stamp_unit);
    }
    if (sent_us) {
        context.recorder.record_received(payload.size(), steady_send_ns(plan, *sent_us));
    } else {
        context.recorder.record_untimed(payload.size());
    }
    count_arrival(context, tally, payload);
}

} // namespace rtx::bench
