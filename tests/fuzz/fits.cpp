// lib/fit/fits_file.cpp: readFit of any bytes is a record or an error naming the file.
#include "fit/fit.hpp"
#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto path = imc::fuzz::writeScratch("fuzz-fit.json", {reinterpret_cast<const char*>(data), size});
    try {
        const auto rec = imc::fit::readFit(path.string());
        (void)imc::fit::toJson(rec).dump();
        for (const auto& [name, value] : rec.coefficients) (void)rec.coefficient(name);
    } catch (const std::exception& e) {
        imc::fuzz::requireNamed(e.what(), "fuzz-fit.json");
    }
    return 0;
}
