#pragma once
// IMC_ASAN: an AddressSanitizer build (clang says so by __has_feature, gcc by
// __SANITIZE_ADDRESS__). There, the allocations of libraries that keep tables they never free
// (libngspice, Open MPI) are kept out of leak checking while ours stay in it: a PausedLeakCheck
// lives for the duration of each call into such a library.
#if defined(__SANITIZE_ADDRESS__)
#define IMC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define IMC_ASAN 1
#endif
#endif

#if IMC_ASAN
#include <sanitizer/lsan_interface.h>
#endif

namespace imc::spice {

struct PausedLeakCheck {
#if IMC_ASAN
    PausedLeakCheck() { __lsan_disable(); }
    ~PausedLeakCheck() { __lsan_enable(); }
#else
    PausedLeakCheck() {}  // user-provided: a guard, not an unused variable
    ~PausedLeakCheck() {}
#endif
    PausedLeakCheck(const PausedLeakCheck&) = delete;
    PausedLeakCheck& operator=(const PausedLeakCheck&) = delete;
};

}  // namespace imc::spice
