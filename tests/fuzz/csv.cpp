// lib/fit/csv.cpp: any text is a table or an error naming the file.
#include "fit/fit.hpp"
#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto t = imc::fit::parseCsv(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.csv");
        for (const auto& name : t.names) {
            (void)t.column(name);
            (void)t.unitOf(name);
        }
        if (t.columns.size() != t.names.size()) std::abort();
        for (const auto& c : t.columns)
            if (c.size() != t.rows()) std::abort();
    } catch (const std::exception& e) {
        imc::fuzz::requireNamed(e.what(), "fuzz.csv");
    }
    return 0;
}
