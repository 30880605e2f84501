// imc: characterize analog in-memory-computing circuits in SPICE and run transformers on the fits.
#include "cli.hpp"

#include <clocale>
#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
    std::setlocale(LC_ALL, "C");
    imc::cli::setCommandLine(argc, argv);
    CLI::App app{"imc: analog in-memory-computing characterization and behavioral transformers"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "imc 0.1.0");
    imc::cli::buildCommandTree(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "imc: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
