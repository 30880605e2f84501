#include "spice/session.hpp"

#include <ngspice/sharedspice.h>

#include <algorithm>
#include <optional>
#include <atomic>
#include <clocale>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <regex>
#include <sstream>

namespace imc::spice {

SpiceError::SpiceError(Kind k, const std::string& message, std::vector<std::string> out)
    : std::runtime_error(message), kind(k), ngspiceOutput(std::move(out)) {}

const char* toString(SpiceError::Kind kind) {
    switch (kind) {
        case SpiceError::Kind::Parse: return "parse";
        case SpiceError::Kind::Convergence: return "convergence";
        case SpiceError::Kind::Simulation: return "simulation";
        case SpiceError::Kind::ControlledExit: return "controlled-exit";
        case SpiceError::Kind::MissingVector: return "missing-vector";
        case SpiceError::Kind::Library: return "library";
    }
    return "unknown";
}

std::vector<std::string> findErrorLines(const std::vector<std::string>& output) {
    static const std::regex errorPattern(
        R"((\berror\b|circuit not parsed|timestep too small|simulation\(s\) aborted|not started|singular matrix|)"
        R"(iteration limit reached|gmin stepping failed|source stepping failed|unknown subckt|could not find)"
        R"(|unable to find definition|no such vector|is not a valid .* line))",
        std::regex::icase);
    std::vector<std::string> hits;
    for (const auto& line : output)
        if (std::regex_search(line, errorPattern)) hits.push_back(line);
    return hits;
}

namespace {

// What libngspice allocates is its own: it keeps interpreter, parser and circuit tables in globals
// it never frees, and unloading it (after a controlled exit, at the end) leaves them unreachable.
// Leak checking is paused for the duration of each call into the library, and stays on for ours.
using NgspiceAllocations = PausedLeakCheck;

std::string lowered(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

std::string trimmed(const std::string& s) {
    const auto a = s.find_first_not_of(" \t\r\n");
    if (a == std::string::npos) return "";
    return s.substr(a, s.find_last_not_of(" \t\r\n") - a + 1);
}

std::string firstWord(const std::string& s) {
    const std::string t = trimmed(s);
    return lowered(t.substr(0, t.find_first_of(" \t")));
}

// The 0-based deck line of a load error, or npos.
std::size_t errorDeckLine(const std::vector<std::string>& deckLines, const std::vector<std::string>& output) {
    // ngspice echoes the offending card: find a deck card (not the title) quoted in the output.
    for (std::size_t i = 1; i < deckLines.size(); ++i) {
        const std::string card = lowered(trimmed(deckLines[i]));
        if (card.size() < 2 || card[0] == '*') continue;
        for (const auto& out : output)
            if (lowered(out).find(card) != std::string::npos) return i;
    }
    // "Error on line N or its substitute:" then the card as ngspice rewrote it ({1/0} -> inf):
    // line N of the deck, when it names the same element.
    static const std::regex onLine(R"(error on line ([0-9]{1,9}))", std::regex::icase);
    for (std::size_t k = 0; k < output.size(); ++k) {
        std::smatch m;
        if (!std::regex_search(output[k], m, onLine)) continue;
        const std::size_t n = std::stoul(m[1].str());
        std::size_t next = k + 1;
        while (next < output.size() && trimmed(output[next]).empty()) ++next;
        if (n >= 2 && n <= deckLines.size() && next < output.size() && !firstWord(deckLines[n - 1]).empty() &&
            firstWord(deckLines[n - 1]) == firstWord(output[next]))
            return n - 1;
    }
    return std::string::npos;
}

}  // namespace

std::string errorMessage(const std::vector<std::string>& output) {
    const auto errors = findErrorLines(output);
    if (errors.empty()) return "";
    constexpr std::size_t kMaxLines = 24;  // a runaway output stays readable
    std::string message;
    std::size_t kept = 0;
    bool started = false;
    for (const auto& line : output) {
        // A warning just before the error is often its cause ("No job defined" before "not started").
        if (!started && line != errors.front() && lowered(line).find("warning") == std::string::npos) continue;
        started = true;
        std::string t;  // blanks collapsed: ngspice pads echoed cards to columns
        for (char c : trimmed(line))
            if (!(std::isspace(static_cast<unsigned char>(c)) && !t.empty() && t.back() == ' ')) t += std::isspace(static_cast<unsigned char>(c)) ? ' ' : c;
        if (t.empty()) continue;
        if (kept++ == kMaxLines) {
            message += " | ...";
            break;
        }
        message += (message.empty() ? "" : " | ") + t;
    }
    return message;
}

std::string loadErrorMessage(const std::vector<std::string>& deckLines, const std::vector<std::string>& output,
                             const std::string& sourceName) {
    const std::size_t at = errorDeckLine(deckLines, output);
    const std::string where =
        at == std::string::npos ? sourceName : sourceName + ":" + std::to_string(at + 1) + ": " + trimmed(deckLines[at]);
    return where + ": ngspice: " + errorMessage(output);
}

namespace {

std::atomic<bool> sessionAlive{false};

// Forces LC_NUMERIC=C for the duration of one ngspice call: ngspice parses and prints numbers
// with the C locale, and a host program may have set another.
class CNumericLocale {
public:
    CNumericLocale() {
        const char* current = std::setlocale(LC_NUMERIC, nullptr);
        saved_ = current ? current : "C";
        std::setlocale(LC_NUMERIC, "C");
    }
    ~CNumericLocale() { std::setlocale(LC_NUMERIC, saved_.c_str()); }

private:
    std::string saved_;
};

std::string trimRight(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

SpiceError::Kind classify(const std::vector<std::string>& errors) {
    for (const auto& e : errors) {
        std::string lower = e;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return char(std::tolower(c)); });
        if (lower.find("timestep too small") != std::string::npos || lower.find("singular matrix") != std::string::npos ||
            lower.find("iteration limit") != std::string::npos || lower.find("stepping failed") != std::string::npos ||
            lower.find("no convergence") != std::string::npos)
            return SpiceError::Kind::Convergence;
    }
    return SpiceError::Kind::Simulation;
}

}  // namespace

struct Session::Impl {
    using InitFn = int (*)(SendChar*, SendStat*, ControlledExit*, SendData*, SendInitData*, BGThreadRunning*, void*);
    using CommandFn = int (*)(char*);
    using CircFn = int (*)(char**);
    using VecInfoFn = pvector_info (*)(char*);
    using CurPlotFn = char* (*)();
    using AllVecsFn = char** (*)(char*);

    SessionOptions options;
    void* handle = nullptr;
    InitFn init = nullptr;
    CommandFn cmd = nullptr;
    CircFn circ = nullptr;
    VecInfoFn vecInfo = nullptr;
    CurPlotFn curPlot = nullptr;
    AllVecsFn allVecs = nullptr;
    std::vector<std::string> output;
    bool exited = false;
    int exitStatus = 0;
    bool circuitLoaded = false;

    static int onChar(char* text, int, void* user) {
        auto* self = static_cast<Impl*>(user);
        std::string line = trimRight(text ? text : "");
        if (line.rfind("stdout ", 0) == 0) line.erase(0, 7);
        else if (line.rfind("stderr ", 0) == 0) line.erase(0, 7);
        if (self->options.echoOutput) std::fprintf(stderr, "ngspice: %s\n", line.c_str());
        self->output.push_back(std::move(line));
        return 0;
    }
    static int onStat(char*, int, void*) { return 0; }
    static int onExit(int status, NG_BOOL, NG_BOOL, int, void* user) {
        auto* self = static_cast<Impl*>(user);
        self->exited = true;
        self->exitStatus = status;
        return 0;
    }
    static int onBgThread(NG_BOOL, int, void*) { return 0; }

    template <class Fn>
    Fn symbol(const char* name) {
        void* p = dlsym(handle, name);
        if (!p) throw SpiceError(SpiceError::Kind::Library, std::string("libngspice lacks symbol ") + name);
        return reinterpret_cast<Fn>(p);
    }

    void open() {
        NgspiceAllocations ngspiceOwn;
        handle = dlopen("libngspice.so.0", RTLD_NOW | RTLD_LOCAL);
        if (!handle) handle = dlopen("libngspice.so", RTLD_NOW | RTLD_LOCAL);
        if (!handle)
            throw SpiceError(SpiceError::Kind::Library, std::string("cannot load libngspice: ") + dlerror() +
                                                            " (install libngspice0 from bookworm-backports)");
        init = symbol<InitFn>("ngSpice_Init");
        cmd = symbol<CommandFn>("ngSpice_Command");
        circ = symbol<CircFn>("ngSpice_Circ");
        vecInfo = symbol<VecInfoFn>("ngGet_Vec_Info");
        curPlot = symbol<CurPlotFn>("ngSpice_CurPlot");
        allVecs = symbol<AllVecsFn>("ngSpice_AllVecs");
        // ngSpice_nospiceinit (44+) would keep a user's .spiceinit out, but in 46 it crashes when
        // called before ngSpice_Init as documented; a .spiceinit in the working folder or $HOME is read.
        exited = false;
        circuitLoaded = false;
        CNumericLocale locale;
        // No SendStat: its progress lines are unused, and without it ngspice need not build them.
        init(&onChar, nullptr, &onExit, nullptr, nullptr, &onBgThread, this);
        for (const char* c : {"set noaskquit", "set nomoremode"}) cmd(const_cast<char*>(c));
        std::string threads = "set num_threads=" + std::to_string(std::max(1, options.deviceThreads));
        cmd(threads.data());
    }

    void close() {
        NgspiceAllocations ngspiceOwn;
        if (handle) dlclose(handle);
        handle = nullptr;
    }

    // After a controlled exit ngspice's state is unusable: reload the library from scratch.
    void reopenIfExited() {
        if (!exited) return;
        close();
        open();
    }

    // Runs one ngspice call with output captured; throws on a controlled exit.
    template <class F>
    std::vector<std::string> call(F&& f, const std::string& what) {
        reopenIfExited();
        output.clear();
        int rc = 0;
        {
            CNumericLocale locale;
            NgspiceAllocations ngspiceOwn;
            rc = f();
        }
        if (exited || rc == 1) {
            exited = true;
            std::string said = errorMessage(output);
            if (said.empty() && !output.empty()) said = output.back();
            throw SpiceError(SpiceError::Kind::ControlledExit,
                             what + ": ngspice exited (status " + std::to_string(exitStatus) + ")" + (said.empty() ? "" : ": " + said),
                             output);
        }
        return output;
    }
};

Session::Session(SessionOptions options) : impl_(std::make_unique<Impl>()) {
    if (sessionAlive.exchange(true))
        throw SpiceError(SpiceError::Kind::Library,
                         "one ngspice session per process: ngspice keeps global state (use a worker pool)");
    impl_->options = options;
    try {
        impl_->open();
        auto out = impl_->call([&] { return impl_->cmd(const_cast<char*>("version -s")); }, "version");
        static const std::regex versionPattern(R"(ngspice-([0-9]+(\.[0-9]+)?))");
        std::smatch m;
        for (const auto& line : out)
            if (std::regex_search(line, m, versionPattern)) {
                version_ = m[1];
                break;
            }
        if (version_.empty()) version_ = "unknown";
    } catch (...) {
        impl_->close();
        sessionAlive = false;
        throw;
    }
}

Session::~Session() {
    if (impl_->handle && !impl_->exited) {
        // Free the circuit so a tool like valgrind sees a clean exit; never call "quit".
        NgspiceAllocations ngspiceOwn;
        impl_->cmd(const_cast<char*>("remcirc"));
    }
    impl_->close();
    sessionAlive = false;
}

void Session::load(const std::string& deckText, const std::string& sourceName) {
    std::vector<std::string> lines;
    std::istringstream in(deckText);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        lines.push_back(std::move(line));
    }
    load(lines, sourceName);
}

void Session::load(const std::vector<std::string>& linesIn, const std::string& sourceName) {
    auto& im = *impl_;
    if (linesIn.empty()) throw SpiceError(SpiceError::Kind::Parse, sourceName + ": empty deck");
    if (im.circuitLoaded && !im.exited) {
        // Measured: without remcirc every load keeps its circuit; with remcirc + destroy all
        // (and freeing the command history) memory stays flat over hundreds of loads.
        im.call([&] { return im.cmd(const_cast<char*>("remcirc")); }, "remcirc");
        im.call([&] { return im.cmd(const_cast<char*>("destroy all")); }, "destroy all");
        im.call([&] { return im.cmd(nullptr); }, "reset history");
        im.circuitLoaded = false;
    }
    std::vector<std::string> lines = linesIn;
    bool hasEnd = false;
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
        std::string t = *it;
        t.erase(0, t.find_first_not_of(" \t"));
        if (t.empty()) continue;
        std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return char(std::tolower(c)); });
        hasEnd = t.rfind(".end", 0) == 0 && (t.size() == 4 || std::isspace(static_cast<unsigned char>(t[4])));
        break;
    }
    if (!hasEnd) lines.push_back(".end");
    std::vector<char*> ptrs;
    for (auto& l : lines) ptrs.push_back(l.data());
    ptrs.push_back(nullptr);
    lastOutput_ = im.call([&] { return im.circ(ptrs.data()); }, sourceName);
    im.circuitLoaded = true;
    loadedName_ = sourceName;
    if (!findErrorLines(lastOutput_).empty())
        throw SpiceError(SpiceError::Kind::Parse, loadErrorMessage(linesIn, lastOutput_, sourceName), lastOutput_);
}

void Session::run() {
    auto& im = *impl_;
    if (!im.circuitLoaded) throw SpiceError(SpiceError::Kind::Simulation, "run: no circuit loaded");
    lastOutput_ = im.call([&] { return im.cmd(const_cast<char*>("run")); }, loadedName_ + ": run");
    auto errors = findErrorLines(lastOutput_);
    if (!errors.empty()) {
        throw SpiceError(classify(errors), loadedName_ + ": ngspice run failed: " + errorMessage(lastOutput_), lastOutput_);
    }
}

void Session::command(const std::string& line) {
    auto& im = *impl_;
    if (line.size() >= 1024) throw SpiceError(SpiceError::Kind::Simulation, "ngspice command longer than 1023 characters");
    std::string copy = line;
    lastOutput_ = im.call([&] { return im.cmd(copy.data()); }, line);
    auto errors = findErrorLines(lastOutput_);
    if (!errors.empty()) throw SpiceError(SpiceError::Kind::Simulation, "'" + line + "': " + errors.front(), lastOutput_);
}

namespace {
// "v(out)" -> "out", "i(v1)" -> "v1#branch": the names ngspice stores vectors under.
std::string storedName(const std::string& name) {
    static const std::regex vOf(R"(^\s*[vV]\(\s*([^,()\s]+)\s*\)\s*$)");
    static const std::regex iOf(R"(^\s*[iI]\(\s*([^,()\s]+)\s*\)\s*$)");
    std::smatch m;
    if (std::regex_match(name, m, vOf)) return m[1];
    if (std::regex_match(name, m, iOf)) return std::string(m[1]) + "#branch";
    return name;
}
}  // namespace

Eigen::VectorXd Session::vector(const std::string& name) {
    auto& im = *impl_;
    im.reopenIfExited();
    auto fetch = [&](const std::string& stored) -> std::optional<Eigen::VectorXd> {
        std::string copy = stored;
        CNumericLocale locale;
        NgspiceAllocations ngspiceOwn;
        pvector_info info = im.vecInfo(copy.data());
        if (!info || info->v_length <= 0) return std::nullopt;
        // ngGet_Vec_Info returns one static struct overwritten by the next call: copy now.
        Eigen::VectorXd v(info->v_length);
        if (info->v_realdata)
            std::memcpy(v.data(), info->v_realdata, sizeof(double) * std::size_t(info->v_length));
        else if (info->v_compdata)
            for (int i = 0; i < info->v_length; ++i) v[i] = info->v_compdata[i].cx_real;
        else
            return std::nullopt;
        return v;
    };
    if (auto v = fetch(storedName(name))) return *v;
    // Not a stored vector: let ngspice evaluate it as an expression.
    im.output.clear();
    std::string let = "let imc_expr_result = " + name;
    if (let.size() < 1000) {
        {
            CNumericLocale locale;
            NgspiceAllocations ngspiceOwn;
            im.cmd(let.data());
        }
        if (findErrorLines(im.output).empty())
            if (auto v = fetch("imc_expr_result")) return *v;
    }
    throw SpiceError(SpiceError::Kind::MissingVector, "no vector '" + name + "' in the current plot", im.output);
}

bool Session::hasVector(const std::string& name) {
    try {
        vector(name);
        return true;
    } catch (const SpiceError&) {
        return false;
    }
}

std::vector<std::string> Session::vectorNames() {
    auto& im = *impl_;
    im.reopenIfExited();
    std::vector<std::string> names;
    CNumericLocale locale;
    NgspiceAllocations ngspiceOwn;
    char* plot = im.curPlot();
    if (!plot) return names;
    char** vecs = im.allVecs(plot);
    for (int i = 0; vecs && vecs[i]; ++i) names.emplace_back(vecs[i]);
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace imc::spice
