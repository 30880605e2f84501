#pragma once
// The safetensors container: 8-byte little-endian header length, a JSON header mapping each
// tensor name to {dtype, shape, data_offsets} (plus an optional string map "__metadata__"),
// then the raw little-endian tensor bytes.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace imc::nn::safetensors {

struct Tensor {
    std::vector<std::int64_t> shape;
    std::vector<float> values;  // converted to float whatever the stored dtype; empty when skipped
    std::string storedDtype;    // "F32", "F16" or "BF16" (skipped tensors: any dtype)
};

struct File {
    std::map<std::string, Tensor> tensors;
    std::map<std::string, std::string> metadata;
};

// Writes every tensor as F32, in name order.
void write(const std::filesystem::path& path, const File& file);
// Throws std::runtime_error naming the file and the problem (truncation, bad header, dtype).
// Tensors `wanted` rejects keep their shape and dtype but no values (buffers such as a causal
// mask, whatever their dtype, cost neither memory nor a dtype error).
using TensorFilter = std::function<bool(const std::string& name)>;
File read(const std::filesystem::path& path, const TensorFilter& wanted = {});

}  // namespace imc::nn::safetensors
