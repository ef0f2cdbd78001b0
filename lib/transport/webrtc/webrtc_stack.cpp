// make_webrtc_connection(): loads the WebRTC stack module on first use (webrtc_stack.hpp).
#include "transport/webrtc/webrtc_stack.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <fmt/format.h>

#include <array>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef RTX_MODULE_DIR_FROM_BIN
#define RTX_MODULE_DIR_FROM_BIN "../lib/rtx"
#endif

namespace rtx::transport::webrtc {

namespace {

constexpr const char* k_module_name = "rtx-webrtc.so";

/// Where the module may be: beside the executable (the build tree), then where
/// `cmake --install` puts it, relative to the installed executable (bin/../lib/rtx).
std::vector<std::string> module_candidates() {
    std::vector<std::string> paths;
    std::array<char, 4096> exe{};
    const ssize_t n = ::readlink("/proc/self/exe", exe.data(), exe.size() - 1);
    if (n > 0) {
        std::string dir(exe.data(), static_cast<std::size_t>(n));
        dir.erase(dir.find_last_of('/') + 1);
        paths.push_back(dir + k_module_name);
        paths.push_back(fmt::format("{}{}/{}", dir, RTX_MODULE_DIR_FROM_BIN, k_module_name));
    }
    return paths;
}

/// The module's entry table, or the reason there is none (kept: every later call gets it).
struct Loaded {
    const WebrtcStack* stack = nullptr;
    std::string error;
};

Loaded load() {
    std::string reasons;
    for (const auto& path : module_candidates()) {
        if (::access(path.c_str(), F_OK) != 0) {
            reasons += fmt::format("{}{}: not there", reasons.empty() ? "" : "; ", path);
            continue;
        }
        // RTLD_NOW: a missing symbol fails here, with its name, not in the middle of a run.
        // Never dlclose'd: its threads (GLib's) and objects live until the process ends.
        void* module = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (module == nullptr) {
            return {nullptr, fmt::format("cannot load {}: {}", path, ::dlerror())};
        }
        auto entry =
            reinterpret_cast<const WebrtcStack* (*)()>(::dlsym(module, "rtx_webrtc_stack"));
        if (entry == nullptr || entry()->abi != k_webrtc_stack_abi) {
            return {nullptr,
                    fmt::format("{} is not this rtx's WebRTC module (rebuild both)", path)};
        }
        return {entry(), {}};
    }
    return {nullptr, fmt::format("WebRTC module {} not found ({})", k_module_name, reasons)};
}

const Loaded& loaded() {
    static const Loaded once = load(); // a function-local static: loaded once, thread-safe
    return once;
}

} // namespace

std::optional<std::string> load_webrtc_stack() {
    if (loaded().stack == nullptr) {
        return loaded().error;
    }
    return std::nullopt;
}

std::unique_ptr<WebrtcConnection> make_webrtc_connection(core::Loop& loop, WebrtcOptions options,
                                                         Handler& handler, std::uint64_t id) {
    if (loaded().stack == nullptr) {
        throw std::runtime_error(loaded().error);
    }
    return std::unique_ptr<WebrtcConnection>(
        loaded().stack->new_connection(loop, std::move(options), handler, id));
}

} // namespace rtx::transport::webrtc
