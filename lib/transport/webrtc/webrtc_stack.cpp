// make_webrtc_connection(): loads the WebRTC stack module on first use (webrtc_stack.hpp).
#include "transport/webrtc/webrtc_stack.hpp"

#include "core/module.hpp"

#include <fmt/format.h>

#include <optional>
#include <stdexcept>
#include <string>

namespace rtx::transport::webrtc {

namespace {

/// The module's entry table, or the reason there is none (kept: every later call gets it).
struct Loaded {
    const WebrtcStack* stack = nullptr;
    std::string error;
};

Loaded load() {
    auto loaded = core::load_module("rtx-webrtc.so", "rtx_webrtc_stack");
    if (auto* error = std::get_if<std::string>(&loaded)) {
        return {nullptr, "WebRTC module " + *error};
    }
    const auto* stack = static_cast<const WebrtcStack*>(std::get<const void*>(loaded));
    if (stack->abi != k_webrtc_stack_abi) {
        return {nullptr, "rtx-webrtc.so is not this rtx's WebRTC module (rebuild both)"};
    }
    return {stack, {}};
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
