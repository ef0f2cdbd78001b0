#include "core/module.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <fmt/format.h>

#include <array>
#include <vector>

#ifndef RTX_MODULE_DIR_FROM_BIN
#define RTX_MODULE_DIR_FROM_BIN "../lib/rtx"
#endif

namespace rtx::core {

namespace {

std::vector<std::string> module_candidates(const char* file_name) {
    std::vector<std::string> paths;
    std::array<char, 4096> exe{};
    const ssize_t n = ::readlink("/proc/self/exe", exe.data(), exe.size() - 1);
    if (n > 0) {
        std::string dir(exe.data(), static_cast<std::size_t>(n));
        dir.erase(dir.find_last_of('/') + 1);
        paths.push_back(dir + file_name);
        paths.push_back(fmt::format("{}{}/{}", dir, RTX_MODULE_DIR_FROM_BIN, file_name));
    }
    return paths;
}

} // namespace

std::variant<const void*, std::string> load_module(const char* file_name, const char* entry) {
    std::string tried;
    for (const auto& path : module_candidates(file_name)) {
        if (::access(path.c_str(), F_OK) != 0) {
            tried += fmt::format("{}{}: not there", tried.empty() ? "" : "; ", path);
            continue;
        }
        // RTLD_NOW: a missing symbol fails here, with its name, not in the middle of a run.
        // Never dlclose'd: its threads (GLib's, curl's resolver's) and objects live until the
        // process ends.
        void* module = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (module == nullptr) {
            return fmt::format("cannot load {}: {}", path, ::dlerror());
        }
        auto entry_function = reinterpret_cast<const void* (*)()>(::dlsym(module, entry));
        if (entry_function == nullptr) {
            return fmt::format("{} has no {} (not one of rtx's modules)", path, entry);
        }
        return entry_function();
    }
    return fmt::format("{} not found ({})", file_name, tried);
}

} // namespace rtx::core
