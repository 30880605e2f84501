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
        init(&onChar, &onStat, &onExit, nullptr, nullptr, &onBgThread, this);
        for (const char* c : {"set noaskquit", "set nomoremode"}) cmd(const_cast<char*>(c));
        std::string threads = "set num_threads=" + std::to_string(std::max(1, options.deviceThreads));
        cmd(threads.data());
    }

    void close() {
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
            rc = f();
        }
        if (exited || rc == 1) {
            exited = true;
            throw SpiceError(SpiceError::Kind::ControlledExit,
                             what + ": ngspice exited (status " + std::to_string(exitStatus) + ")" +
                                 (output.empty() ? "" : ": " + output.back()),
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
    auto errors = findErrorLines(lastOutput_);
    if (!errors.empty()) {
        // Name the deck line ngspice complained about: ngspice echoes the offending card text.
        std::string where;
        for (std::size_t i = 0; i < linesIn.size() && where.empty(); ++i) {
            std::string card = linesIn[i];
            card.erase(0, card.find_first_not_of(" \t"));
            while (!card.empty() && std::isspace(static_cast<unsigned char>(card.back()))) card.pop_back();
            if (card.size() < 2 || card[0] == '*') continue;
            for (const auto& out : lastOutput_) {
                std::string lowOut = out, lowCard = card;
                for (auto* s : {&lowOut, &lowCard})
                    std::transform(s->begin(), s->end(), s->begin(), [](unsigned char c) { return char(std::tolower(c)); });
                if (lowOut.find(lowCard) != std::string::npos && i > 0) {
                    where = sourceName + ":" + std::to_string(i + 1) + ": " + card;
                    break;
                }
            }
        }
        std::string message = (where.empty() ? sourceName : where) + ": ngspice: ";
        for (std::size_t i = 0; i < errors.size() && i < 4; ++i) message += (i ? " | " : "") + errors[i];
        throw SpiceError(SpiceError::Kind::Parse, message, lastOutput_);
    }
}

void Session::run() {
    auto& im = *impl_;
    if (!im.circuitLoaded) throw SpiceError(SpiceError::Kind::Simulation, "run: no circuit loaded");
    lastOutput_ = im.call([&] { return im.cmd(const_cast<char*>("run")); }, "run");
    auto errors = findErrorLines(lastOutput_);
    if (!errors.empty()) {
        std::string message = "ngspice run failed: ";
        for (std::size_t i = 0; i < errors.size() && i < 4; ++i) message += (i ? " | " : "") + errors[i];
        throw SpiceError(classify(errors), message, lastOutput_);
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
    char* plot = im.curPlot();
    if (!plot) return names;
    char** vecs = im.allVecs(plot);
    for (int i = 0; vecs && vecs[i]; ++i) names.emplace_back(vecs[i]);
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace imc::spice
