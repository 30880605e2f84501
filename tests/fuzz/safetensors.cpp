// lib/nn/safetensors.cpp: the header length, the JSON header and the tensor table of any bytes
// give tensors that fit the data, or an error naming the file.
#include "fuzz.hpp"
#include "nn/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto path = imc::fuzz::writeScratch("fuzz.safetensors", {reinterpret_cast<const char*>(data), size});
    try {
        const auto file = imc::nn::safetensors::read(path);
        for (const auto& [name, t] : file.tensors) {
            std::uint64_t n = 1;
            for (auto d : t.shape) {
                if (d < 0 || __builtin_mul_overflow(n, std::uint64_t(d), &n)) std::abort();
            }
            if (n != t.values.size()) std::abort();
        }
    } catch (const std::exception& e) {
        imc::fuzz::requireNamed(e.what(), "fuzz.safetensors");
    }
    return 0;
}
