#include "core/loop.hpp"

#include <sys/resource.h>

#include <stdexcept>
#include <string>

namespace rtx::core {

Loop::Loop() {
    if (int rc = uv_loop_init(&m_loop); rc != 0) {
        throw std::runtime_error(std::string("uv_loop_init: ") + uv_strerror(rc));
    }
    m_async.data = this;
    uv_async_init(&m_loop, &m_async, &Loop::on_async);
    // The async handle must not keep run() alive on its own: a loop with nothing else to do
    // returns, and posted work still wakes it while other handles are active.
    uv_unref(reinterpret_cast<uv_handle_t*>(&m_async));
    m_prepare.data = this;
    uv_prepare_init(&m_loop, &m_prepare);
    uv_prepare_start(&m_prepare, &Loop::on_prepare);
    uv_unref(reinterpret_cast<uv_handle_t*>(&m_prepare));
}

Loop::~Loop() {
    uv_close(reinterpret_cast<uv_handle_t*>(&m_async), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&m_prepare), nullptr);
    // Close whatever is still open (timers, sockets whose owners leaked) so that the loop
    // can be closed and its memory reclaimed.
    uv_walk(
        &m_loop,
        [](uv_handle_t* h, void*) {
            if (!uv_is_closing(h)) {
                uv_close(h, nullptr);
            }
        },
        nullptr);
    uv_run(&m_loop, UV_RUN_DEFAULT);
    uv_loop_close(&m_loop);
}

void Loop::run() {
    uv_run(&m_loop, UV_RUN_DEFAULT);
}

void Loop::stop() {
    uv_stop(&m_loop);
}

void Loop::post(std::function<void()> task) {
    {
        std::lock_guard lock(m_mutex);
        m_posted.push_back(std::move(task));
    }
    uv_async_send(&m_async);
}

void Loop::hold() {
    if (m_holds++ == 0) {
        uv_ref(reinterpret_cast<uv_handle_t*>(&m_async)); // posts will come: wait for them
    }
}

void Loop::release() {
    if (m_holds > 0 && --m_holds == 0) {
        uv_unref(reinterpret_cast<uv_handle_t*>(&m_async));
    }
}

std::uint64_t Loop::add_before_poll_hook(std::function<void()> hook) {
    m_before_poll.emplace_back(m_next_hook, std::move(hook));
    return m_next_hook++;
}

void Loop::remove_before_poll_hook(std::uint64_t handle) {
    std::erase_if(m_before_poll, [handle](const auto& entry) { return entry.first == handle; });
}

void Loop::on_async(uv_async_t* handle) {
    static_cast<Loop*>(handle->data)->drain_posted();
}

void Loop::on_prepare(uv_prepare_t* handle) {
    for (auto& hook : static_cast<Loop*>(handle->data)->m_before_poll) {
        hook.second();
    }
}

void Loop::drain_posted() {
    std::vector<std::function<void()>> batch;
    {
        std::lock_guard lock(m_mutex);
        batch.swap(m_posted);
    }
    for (auto& task : batch) {
        task();
    }
}

unsigned long raise_open_files_limit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return 0;
    }
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    return static_cast<unsigned long>(limit.rlim_cur);
}

} // namespace rtx::core
