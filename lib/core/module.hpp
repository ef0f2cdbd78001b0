#pragma once

#include <string>
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

} // namespace rtx::core
