#include "nn/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <bit>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace imc::nn::safetensors {
namespace {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

float halfToFloat(std::uint16_t h) {
    const std::uint32_t sign = (h & 0x8000u) << 16;
    std::uint32_t exponent = (h >> 10) & 0x1Fu;
    std::uint32_t mantissa = h & 0x3FFu;
    std::uint32_t bits;
    if (exponent == 0x1F) {
        bits = sign | 0x7F800000u | (mantissa << 13);  // inf / nan
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {
        // Subnormal half: shift the mantissa up until it is normalised.
        exponent = 113;
        while ((mantissa & 0x400u) == 0) {
            mantissa <<= 1;
            --exponent;
        }
        bits = sign | (exponent << 23) | ((mantissa & 0x3FFu) << 13);
    }
    return std::bit_cast<float>(bits);
}

float bfloatToFloat(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what) {
    throw std::runtime_error("safetensors file " + path.string() + ": " + what);
}

}  // namespace

void write(const std::filesystem::path& path, const File& file) {
    nlohmann::json header = nlohmann::json::object();
    std::uint64_t offset = 0;
    for (const auto& [name, tensor] : file.tensors) {
        std::int64_t elements = 1;
        for (auto d : tensor.shape) elements *= d;
        if (elements != static_cast<std::int64_t>(tensor.values.size()))
            throw std::invalid_argument("tensor '" + name + "': shape does not match its value count");
        const std::uint64_t bytes = tensor.values.size() * sizeof(float);
        header[name] = {{"dtype", "F32"}, {"shape", tensor.shape}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    if (!file.metadata.empty()) header["__metadata__"] = file.metadata;
    std::string text = header.dump();
    // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
    text.append((8 - text.size() % 8) % 8, ' ');
    const std::uint64_t length = text.size();

    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) fail(path, "cannot open for writing");
    out.write(reinterpret_cast<const char*>(&length), sizeof(length));
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& [name, tensor] : file.tensors)
        out.write(reinterpret_cast<const char*>(tensor.values.data()),
                  static_cast<std::streamsize>(tensor.values.size() * sizeof(float)));
    if (!out) fail(path, "write failed");
}

File read(const std::filesystem::path& path, const TensorFilter& wanted) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, "cannot open");
    in.seekg(0, std::ios::end);
    const auto fileSize = static_cast<std::uint64_t>(in.tellg());
    in.seekg(0);
    std::uint64_t headerLength = 0;
    if (fileSize < 8 || !in.read(reinterpret_cast<char*>(&headerLength), 8)) fail(path, "too short for a header");
    if (headerLength > fileSize - 8) fail(path, "header length " + std::to_string(headerLength) + " exceeds the file");
    std::string text(headerLength, '\0');
    in.read(text.data(), static_cast<std::streamsize>(headerLength));
    nlohmann::json header;
    try {
        header = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        fail(path, std::string("bad JSON header: ") + e.what());
    }
    const std::uint64_t dataStart = 8 + headerLength;
    const std::uint64_t dataSize = fileSize - dataStart;

    File file;
    for (const auto& [name, entry] : header.items()) {
        if (name == "__metadata__") {
            for (const auto& [key, value] : entry.items())
                file.metadata[key] = value.is_string() ? value.get<std::string>() : value.dump();
            continue;
        }
        try {
            Tensor tensor;
            tensor.storedDtype = entry.at("dtype").get<std::string>();
            tensor.shape = entry.at("shape").get<std::vector<std::int64_t>>();
            const auto offsets = entry.at("data_offsets").get<std::vector<std::uint64_t>>();
            std::uint64_t elements = 1;
            for (auto d : tensor.shape)
                if (d < 0 || __builtin_mul_overflow(elements, static_cast<std::uint64_t>(d), &elements) || elements > dataSize)
                    fail(path, "tensor '" + name + "' has a shape with a negative dimension or more elements than the file holds");
            std::uint64_t width = 0;
            if (wanted && !wanted(name)) {
                if (offsets.size() != 2 || offsets[1] < offsets[0] || offsets[1] > dataSize)
                    fail(path, "tensor '" + name + "' has data_offsets outside the file");
                file.tensors.emplace(name, std::move(tensor));
                continue;
            }
            if (tensor.storedDtype == "F32") width = 4;
            else if (tensor.storedDtype == "F16" || tensor.storedDtype == "BF16") width = 2;
            else fail(path, "tensor '" + name + "' has dtype " + tensor.storedDtype + " (F32, F16 or BF16 expected)");
            if (offsets.size() != 2 || offsets[1] < offsets[0] || offsets[1] > dataSize ||
                offsets[1] - offsets[0] != elements * width)
                fail(path, "tensor '" + name + "' has data_offsets inconsistent with its shape or the file size");
            in.seekg(static_cast<std::streamoff>(dataStart + offsets[0]));
            tensor.values.resize(elements);
            if (width == 4) {
                // F32 goes straight into the values: no second copy of a large tensor.
                in.read(reinterpret_cast<char*>(tensor.values.data()), static_cast<std::streamsize>(elements * 4));
                if (!in) fail(path, "tensor '" + name + "' data is truncated");
            } else {
                std::vector<char> raw(offsets[1] - offsets[0]);
                in.read(raw.data(), static_cast<std::streamsize>(raw.size()));
                if (!in) fail(path, "tensor '" + name + "' data is truncated");
                for (std::uint64_t i = 0; i < elements; ++i) {
                    std::uint16_t half;
                    std::memcpy(&half, raw.data() + 2 * i, 2);
                    tensor.values[i] = tensor.storedDtype == "F16" ? halfToFloat(half) : bfloatToFloat(half);
                }
            }
            file.tensors.emplace(name, std::move(tensor));
        } catch (const nlohmann::json::exception& e) {
            fail(path, "tensor '" + name + "' has a malformed header entry: " + e.what());
        }
    }
    return file;
}

}  // namespace imc::nn::safetensors
