#pragma once
// The one wrapper around libngspice. ngspice keeps global state, so there is one Session per
// process (a second one throws); parallel runs use worker processes (spice/worker_pool.hpp).
// Every call forces the C numeric locale; errors ngspice only prints become SpiceError.
#include <Eigen/Core>

#include "spice/leak_check.hpp"  // IMC_ASAN

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace imc::spice {

// Raised for anything ngspice reports as an error. `ngspiceOutput` holds ngspice's own words.
struct SpiceError : std::runtime_error {
    enum class Kind { Parse, Convergence, Simulation, ControlledExit, MissingVector, Library };
    SpiceError(Kind kind, const std::string& message, std::vector<std::string> ngspiceOutput = {});
    Kind kind;
    std::vector<std::string> ngspiceOutput;
};

const char* toString(SpiceError::Kind kind);

struct SessionOptions {
    int deviceThreads = 1;       // ngspice's OpenMP threads for BSIM3/4; 1 when one worker per core
    bool echoOutput = false;     // copy everything ngspice prints to stderr
};

class Session {
public:
    explicit Session(SessionOptions options = {});
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Loads a circuit from deck text (title line first, `.end` optional). The previous circuit is
    // removed first, so loading circuit after circuit keeps memory flat. `sourceName` names the
    // deck in errors (a file name or a job id).
    void load(const std::string& deckText, const std::string& sourceName = "deck");
    void load(const std::vector<std::string>& lines, const std::string& sourceName = "deck");

    // Runs the analyses of the loaded circuit in the foreground.
    void run();

    // An interpreter command (e.g. "alter r1 1k", "setseed 3"); throws on a reported error.
    void command(const std::string& line);

    // A vector of the current plot as doubles (real part): node names ("out", "v(out)"),
    // branch currents ("i(v1)", "v1#branch"), "time", or any ngspice expression of them.
    Eigen::VectorXd vector(const std::string& name);
    bool hasVector(const std::string& name);
    std::vector<std::string> vectorNames();

    // "46" for ngspice-46; read once at start-up.
    const std::string& version() const { return version_; }

    // Everything ngspice printed during the last call (lines without the stdout/stderr tag).
    const std::vector<std::string>& lastOutput() const { return lastOutput_; }

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
    std::string version_;
    std::vector<std::string> lastOutput_;
    std::string loadedName_;                    // the loaded deck's name, for errors of run()
};

// Lines of ngspice output that report an error (pure; used by Session and tested alone).
std::vector<std::string> findErrorLines(const std::vector<std::string>& output);

// ngspice's whole message: from the first error line (or a warning before it) to the end of the
// output, blank lines left out, joined with " | " (an error is often a header line, the card, then the reason). Empty when
// no line reports an error.
std::string errorMessage(const std::vector<std::string>& output);

// The message of a failed load (pure): "<source>:<line>: <card>: ngspice: <message>" when the deck
// line ngspice complained about is found (by its echoed card, or by "Error on line N" and the card's
// name), else "<source>: ngspice: <message>".
std::string loadErrorMessage(const std::vector<std::string>& deckLines, const std::vector<std::string>& output,
                             const std::string& sourceName);

}  // namespace imc::spice
