// lib/characterize/job.cpp: a job file is a job or an error naming the file (and the key). The
// cell netlist it may name, res.lib, sits beside it.
#include "characterize/job.hpp"
#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const bool cell = [] {
        imc::fuzz::writeScratch("res.lib", "* a resistor\n.subckt res a b params: R=1k\nR1 a b {R}\n.ends res\n");
        return true;
    }();
    (void)cell;
    const auto path = imc::fuzz::writeScratch("fuzz-job.json", {reinterpret_cast<const char*>(data), size});
    try {
        const auto job = imc::characterize::loadJob(path);
        for (std::uint64_t s = 0; s < 2 && s < std::uint64_t(job.samples); ++s) (void)imc::characterize::drawInstanceParams(job, s, 0);
    } catch (const std::exception& e) {
        imc::fuzz::requireNamed(e.what(), "fuzz-job.json");
    }
    return 0;
}
