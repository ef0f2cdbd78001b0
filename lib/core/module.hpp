#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <variant>

namespace rtx::core {

/// Loads one of rtx's own modules (rtx-webrtc.so, rtx-http.so): the parts of rtx whose
/// libraries are costly to load (libnice and GLib; libcurl and its LDAP, Kerberos, RTMP and
/// SSH dependencies), which only the commands that use them load. Looked for beside the
/// running executable (the build tree), then in ../lib/rtx relative to it (where
/// `cmake --install` puts it). Calls the module's `entry` function (extern "C", no
/// arguments) and returns what it returns, or a one-line reason: "rtx-http.so not found
/// (PATH: not there; ...)", "cannot load PATH: <dlerror>". Never unloaded.
std::variant<const void*, std::string> load_module(const char* file_name, const char* entry);

/// A module's entry table, or the one-line reason there is none.
template <class Table> struct ModuleTable {
    const Table* table = nullptr;
    std::string error;
};

/// load_module() of a module whose entry returns a `Table` that starts with `int abi`,
/// refused unless it equals `abi` (a module built from other sources). `what` names the
/// module in errors: "HTTP module rtx-http.so not found (...)". Callers keep the result in a
/// function-local static, so each module is loaded once per process.
template <class Table>
ModuleTable<Table> load_module_table(const char* file_name, const char* entry,
                                     std::string_view what, int abi) {
    auto module = load_module(file_name, entry);
    if (auto* error = std::get_if<std::string>(&module)) {
        return {nullptr, fmt::format("{} module {}", what, *error)};
    }
    const auto* table = static_cast<const Table*>(std::get<const void*>(module));
    if (table->abi != abi) {
        return {nullptr,
                fmt::format("{} is not this rtx's {} module (rebuild both)", file_name, what)};
    }
    return {table, {}};
}

} // namespace rtx::core
