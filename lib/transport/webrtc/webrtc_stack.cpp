// make_webrtc_connection(): loads the WebRTC stack module on first use (webrtc_stack.hpp).
#include "transport/webrtc/webrtc_stack.hpp"

#include "core/module.hpp"

#include <optional>
#include <stdexcept>
#include <string>

namespace rtx::transport::webrtc {

namespace {

const core::ModuleTable<WebrtcStack>& loaded() {
    static const auto once = core::load_module_table<WebrtcStack>(
        "rtx-webrtc.so", "rtx_webrtc_stack", "WebRTC", k_webrtc_stack_abi);
    return once;
}

} // namespace

std::optional<std::string> load_webrtc_stack() {
    if (loaded().table == nullptr) {
        return loaded().error;
    }
    return std::nullopt;
}

std::unique_ptr<WebrtcConnection> make_webrtc_connection(core::Loop& loop, WebrtcOptions options,
                                                         Handler& handler, std::uint64_t id) {
    if (loaded().table == nullptr) {
        throw std::runtime_error(loaded().error);
    }
    return std::unique_ptr<WebrtcConnection>(
        loaded().table->new_connection(loop, std::move(options), handler, id));
}

} // namespace rtx::transport::webrtc
