#include "sweep/sha256.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define IMC_SHA256_X86 1
#endif

namespace imc::sweep {
namespace {

alignas(16) constexpr std::array<std::uint32_t, 64> K = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
    0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
    0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
    0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

constexpr std::array<std::uint32_t, 8> kInitial = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

void compressPortable(std::uint32_t* h, const unsigned char* data, std::size_t blocks) {
    for (; blocks--; data += 64) {
        std::uint32_t w[64];
        for (int i = 0; i < 16; ++i)
            w[i] = std::uint32_t(data[4 * i]) << 24 | std::uint32_t(data[4 * i + 1]) << 16 |
                   std::uint32_t(data[4 * i + 2]) << 8 | std::uint32_t(data[4 * i + 3]);
        for (int i = 16; i < 64; ++i) {
            const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
            const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
        for (int i = 0; i < 64; ++i) {
            const std::uint32_t t1 =
                hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[std::size_t(i)] + w[i];
            const std::uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
        }
        h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
    }
}

#ifdef IMC_SHA256_X86
// The x86 SHA extensions: four rounds per pair of sha256rnds2, the message schedule by
// sha256msg1/msg2. State is kept as ABEF / CDGH as those instructions want it.
__attribute__((target("sha,sse4.1,ssse3"))) void compressShaNi(std::uint32_t* h, const unsigned char* data,
                                                               std::size_t blocks) {
    const __m128i byteSwap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)), 0xB1);  // CDAB
    __m128i state1 = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + 4)), 0x1B);  // EFGH
    __m128i state0 = _mm_alignr_epi8(tmp, state1, 8);     // ABEF
    state1 = _mm_blend_epi16(state1, tmp, 0xF0);          // CDGH
    for (; blocks--; data += 64) {
        const __m128i abefSaved = state0, cdghSaved = state1;
        __m128i msg[4];
#pragma GCC unroll 16
        for (int g = 0; g < 16; ++g) {
            if (g < 4)
                msg[g] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(data + 16 * g)), byteSwap);
            else
                msg[g & 3] = _mm_sha256msg2_epu32(
                    _mm_add_epi32(_mm_sha256msg1_epu32(msg[g & 3], msg[(g + 1) & 3]),
                                  _mm_alignr_epi8(msg[(g + 3) & 3], msg[(g + 2) & 3], 4)),
                    msg[(g + 3) & 3]);
            __m128i wk = _mm_add_epi32(msg[g & 3], _mm_load_si128(reinterpret_cast<const __m128i*>(K.data() + 4 * g)));
            state1 = _mm_sha256rnds2_epu32(state1, state0, wk);
            wk = _mm_shuffle_epi32(wk, 0x0E);
            state0 = _mm_sha256rnds2_epu32(state0, state1, wk);
        }
        state0 = _mm_add_epi32(state0, abefSaved);
        state1 = _mm_add_epi32(state1, cdghSaved);
    }
    tmp = _mm_shuffle_epi32(state0, 0x1B);             // FEBA
    state1 = _mm_shuffle_epi32(state1, 0xB1);          // DCHG
    state0 = _mm_blend_epi16(tmp, state1, 0xF0);       // DCBA
    state1 = _mm_alignr_epi8(state1, tmp, 8);          // HGFE
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h), state0);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h + 4), state1);
}

bool haveShaNi() {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    const bool ssse3 = c & (1u << 9), sse41 = c & (1u << 19);
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return ssse3 && sse41 && (b & (1u << 29));
}
#endif

using Compress = void (*)(std::uint32_t*, const unsigned char*, std::size_t);

Compress pickCompress() {
#ifdef IMC_SHA256_X86
    if (haveShaNi()) return compressShaNi;
#endif
    return compressPortable;
}

// Chosen on first use (not at static initialization: another file's static may hash first).
void compress(std::uint32_t* h, const unsigned char* data, std::size_t blocks) {
    static const Compress chosen = pickCompress();
    chosen(h, data, blocks);
}

}  // namespace

Sha256::Sha256() : h_(kInitial) {}

Sha256& Sha256::update(std::string_view data) {
    auto p = reinterpret_cast<const unsigned char*>(data.data());
    std::size_t n = data.size();
    length_ += n;
    if (pendingLen_) {
        const std::size_t take = std::min(n, 64 - pendingLen_);
        std::memcpy(pending_ + pendingLen_, p, take);
        pendingLen_ += take, p += take, n -= take;
        if (pendingLen_ < 64) return *this;
        compress(h_.data(), pending_, 1);
        pendingLen_ = 0;
    }
    if (n >= 64) compress(h_.data(), p, n / 64);
    p += n / 64 * 64, n %= 64;
    std::memcpy(pending_, p, n);
    pendingLen_ = n;
    return *this;
}

std::string Sha256::hex() {
    unsigned char tail[128] = {};
    std::memcpy(tail, pending_, pendingLen_);
    tail[pendingLen_] = 0x80;  // pendingLen_ < 64
    const std::size_t blocks = pendingLen_ + 9 > 64 ? 2 : 1;
    const std::uint64_t bits = length_ * 8;
    for (int k = 0; k < 8; ++k) tail[blocks * 64 - 1 - std::size_t(k)] = static_cast<unsigned char>(bits >> (8 * k));
    compress(h_.data(), tail, blocks);
    std::string hex;
    char buf[9];
    for (auto v : h_) std::snprintf(buf, sizeof buf, "%08x", v), hex += buf;
    return hex;
}

std::string sha256Hex(std::string_view data) { return Sha256().update(data).hex(); }

}  // namespace imc::sweep
