#pragma once
// SHA-256 of a byte string, as lowercase hex: the netlist hash recorded in results and fits.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace imc::sweep {

std::string sha256Hex(std::string_view data);

// The same hash fed in pieces: Sha256().update(a).update(b).hex() == sha256Hex(a + b), without
// holding a + b. Uses the processor's SHA instructions where it has them.
class Sha256 {
public:
    Sha256();
    Sha256& update(std::string_view data);
    std::string hex();  // finishes the hash; update must not be called after

private:
    std::array<std::uint32_t, 8> h_;
    unsigned char pending_[64];
    std::size_t pendingLen_ = 0;
    std::uint64_t length_ = 0;
};

}  // namespace imc::sweep
