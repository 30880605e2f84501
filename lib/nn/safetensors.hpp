#pragma once
// The safetensors container: 8-byte little-endian header length, a JSON header mapping each
// tensor name to {dtype, shape, data_offsets} (plus an optional string map "__metadata__"),
// then the raw little-endian tensor bytes.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace imc::nn::safetensors {

struct Tensor {
    std::vector<std::int64_t> shape;
    std::vector<float> values;  // converted to float whatever the stored dtype
    std::string storedDtype;    // "F32", "F16" or "BF16"
};

struct File {
    std::map<std::string, Tensor> tensors;
    std::map<std::string, std::string> metadata;
};

// Writes every tensor as F32, in name order.
void write(const std::filesystem::path& path, const File& file);
// Throws std::runtime_error naming the file and the problem (truncation, bad header, dtype).
File read(const std::filesystem::path& path);

}  // namespace imc::nn::safetensors
