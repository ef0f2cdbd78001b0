#include "core/timer.hpp"

namespace rtx::core {

namespace {
std::uint64_t to_ms(Duration d) {
    // libuv timers have millisecond resolution; round up so a timer never fires early.
    auto us = d.count() < 0 ? 0 : d.count();
    return static_cast<std::uint64_t>((us + 999) / 1000);
}
} // namespace

Timer::Timer(Loop& loop)
    : m_loop(loop.native()) {}

Timer::~Timer() {
    close_and_delete(m_handle);
}

void Timer::start(Duration delay, std::function<void()> callback, Duration repeat) {
    m_callback = std::move(callback);
    if (m_handle == nullptr) {
        m_handle = new uv_timer_t;
        uv_timer_init(m_loop, m_handle);
        m_handle->data = this;
        if (m_unref) {
            uv_unref(reinterpret_cast<uv_handle_t*>(m_handle));
        }
    }
    uv_timer_start(
        m_handle,
        [](uv_timer_t* handle) {
            auto* self = static_cast<Timer*>(handle->data);
            // Copy: the callback may restart or destroy this timer.
            auto callback_copy = self->m_callback;
            callback_copy();
        },
        to_ms(delay), to_ms(repeat));
}

void Timer::unref() {
    m_unref = true;
    if (m_handle != nullptr) {
        uv_unref(reinterpret_cast<uv_handle_t*>(m_handle));
    }
}

void Timer::stop() {
    if (m_handle != nullptr) {
        uv_timer_stop(m_handle);
    }
}

bool Timer::active() const {
    return m_handle != nullptr && uv_is_active(reinterpret_cast<const uv_handle_t*>(m_handle)) != 0;
}

} // namespace rtx::core
