// lib/sweep/sweep.cpp readResults: a results folder (manifest.json, then a NUL
// byte, then results.csv) reads as rows or an error naming the folder's file.
#include "sweep/sweep.hpp"
#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto [manifest, table] = imc::fuzz::splitAtNul(data, size);
    const auto dir = imc::fuzz::scratch() / "results";
    std::filesystem::create_directories(dir);
    imc::fuzz::writeScratch("results/manifest.json", manifest);
    imc::fuzz::writeScratch("results/results.csv", table);
    try {
        const auto s = imc::sweep::readResults(dir);
        (void)s.column("G_S");
    } catch (const std::exception& e) {
        imc::fuzz::requireNamed(e.what(), dir.string());
    }
    return 0;
}
