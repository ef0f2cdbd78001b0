#include "bench/send_clock.hpp"

#include <sys/timerfd.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

namespace rtx::bench {

SendClock::SendClock(core::Loop& loop, std::size_t senders, SendFn send)
    : m_send(std::move(send))
    , m_slots(senders) {
    // steady_clock is CLOCK_MONOTONIC, so scheduler times map directly to timerfd times.
    m_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (m_fd < 0) {
        throw std::runtime_error("timerfd_create failed");
    }
    m_poll = new uv_poll_t;
    uv_poll_init(loop.native(), m_poll, m_fd);
    m_poll->data = this;
}

SendClock::~SendClock() {
    uv_poll_stop(m_poll);
    m_poll->data = nullptr;
    core::close_and_delete(m_poll);
    ::close(m_fd);
}

void SendClock::start(std::size_t sender, double rate, Arrival arrival, std::uint64_t seed,
                      OpenScheduler::Clock::time_point start, std::uint64_t limit) {
    Slot& slot = m_slots[sender];
    slot.scheduler = std::make_unique<OpenScheduler>(rate, arrival, seed, start);
    slot.limit = limit;
    slot.taken = 0;
    ++slot.generation;
    m_heap.push(Entry{start, sender, slot.generation});
    if (!m_firing) {
        arm();
    }
}

void SendClock::stop(std::size_t sender) {
    if (sender < m_slots.size()) {
        m_slots[sender].scheduler.reset();
        ++m_slots[sender].generation; // its heap entry is now stale
    }
}

void SendClock::stop_all() {
    for (std::size_t i = 0; i < m_slots.size(); ++i) {
        stop(i);
    }
    m_heap = {};
    arm();
}

std::uint64_t SendClock::taken(std::size_t sender) const {
    return sender < m_slots.size() ? m_slots[sender].taken : 0;
}

void SendClock::on_ready(uv_poll_t* handle, int status, int) {
    auto* self = static_cast<SendClock*>(handle->data);
    if (self == nullptr || status < 0) {
        return;
    }
    std::uint64_t expirations = 0;
    (void)!::read(self->m_fd, &expirations, sizeof(expirations));
    self->fire();
}

void SendClock::fire() {
    m_firing = true;
    const auto now = OpenScheduler::Clock::now();
    while (!m_heap.empty() && m_heap.top().due <= now) {
        Entry entry = m_heap.top();
        m_heap.pop();
        Slot& slot = m_slots[entry.sender];
        if (entry.generation != slot.generation || !slot.scheduler) {
            continue;
        }
        while (auto intended = slot.scheduler->pop_due(now)) {
            ++slot.taken;
            m_send(entry.sender, *intended);
            // The send may have stopped or restarted this sender (its connection failed).
            if (entry.generation != slot.generation || !slot.scheduler) {
                break;
            }
            if (slot.limit > 0 && slot.taken >= slot.limit) {
                slot.scheduler.reset();
                break;
            }
        }
        if (entry.generation == slot.generation && slot.scheduler) {
            m_heap.push(Entry{slot.scheduler->peek_intended(), entry.sender, slot.generation});
        }
    }
    m_firing = false;
    arm();
}

void SendClock::arm() {
    // Drop stale entries so an idle clock does not fire for nothing.
    while (!m_heap.empty()) {
        const Entry& top = m_heap.top();
        const Slot& slot = m_slots[top.sender];
        if (top.generation == slot.generation && slot.scheduler) {
            break;
        }
        m_heap.pop();
    }
    itimerspec spec{};
    if (m_heap.empty()) {
        timerfd_settime(m_fd, TFD_TIMER_ABSTIME, &spec, nullptr); // disarm
        uv_poll_stop(m_poll);
        return;
    }
    auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(m_heap.top().due.time_since_epoch())
            .count();
    if (ns <= 0) {
        ns = 1; // a zero it_value would disarm the timer
    }
    spec.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    spec.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    timerfd_settime(m_fd, TFD_TIMER_ABSTIME, &spec, nullptr);
    uv_poll_start(m_poll, UV_READABLE, &SendClock::on_ready);
}

} // namespace rtx::bench
