#include "sweep/cluster.hpp"

#include "spice/leak_check.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#ifdef IMC_HAVE_MPI
#include <mpi.h>
#endif

namespace imc::sweep {

namespace {

int envInt(const char* name, int fallback) {
    const char* v = std::getenv(name);
    return v ? std::atoi(v) : fallback;
}
}  // namespace

bool launchedByMpiLauncher() {
    return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE") || std::getenv("PMIX_RANK");
}

Cluster launcherCluster() {
    Cluster c;
    if (!launchedByMpiLauncher()) return c;
    c.rank = envInt("OMPI_COMM_WORLD_RANK", envInt("PMI_RANK", 0));
    c.size = envInt("OMPI_COMM_WORLD_SIZE", envInt("PMI_SIZE", 1));
    c.localSize = envInt("OMPI_COMM_WORLD_LOCAL_SIZE", envInt("MPI_LOCALNRANKS", 1));
    if (c.size < 1 || c.rank < 0 || c.rank >= c.size) c = Cluster{};
    return c;
}

const Cluster& cluster() {
    static const Cluster c = [] {
        Cluster c;
        if (!launchedByMpiLauncher()) return c;
#ifdef IMC_HAVE_MPI
        // Workers are forked processes that never call MPI; keep Open MPI from warning about fork.
        setenv("OMPI_MCA_mpi_warn_on_fork", "0", 0);
        // Open MPI keeps what its components allocate (some after they are unloaded at finalize,
        // where LeakSanitizer reports them from an unknown module): out of leak checking, as
        // libngspice's; each call into it below pauses the check, ours stay in it.
        int provided = 0;
        {
            spice::PausedLeakCheck openMpiOwn;
            MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
            MPI_Comm_rank(MPI_COMM_WORLD, &c.rank);
            MPI_Comm_size(MPI_COMM_WORLD, &c.size);
        }
        c.localSize = envInt("OMPI_COMM_WORLD_LOCAL_SIZE", envInt("MPI_LOCALNRANKS", 1));
        std::atexit([] {
            spice::PausedLeakCheck openMpiOwn;
            int finalized = 0;
            MPI_Finalized(&finalized);
            if (!finalized) MPI_Finalize();
        });
        // Every rank runs the same command; only rank 0 prints its results.
        if (c.rank != 0 && !std::freopen("/dev/null", "w", stdout)) std::perror("imc: rank output");
#else
        if (envInt("OMPI_COMM_WORLD_SIZE", envInt("PMI_SIZE", 1)) > 1)
            throw std::runtime_error("imc was built without MPI (install libopenmpi-dev and rebuild) but was launched by mpirun");
#endif
        return c;
    }();
    return c;
}

void sendToRoot(const std::string& text, Channel channel) {
#ifdef IMC_HAVE_MPI
    if (!cluster().distributed()) return;
    spice::PausedLeakCheck openMpiOwn;
    MPI_Send(text.data(), int(text.size()), MPI_CHAR, 0, int(channel), MPI_COMM_WORLD);
#else
    (void)text, (void)channel;
#endif
}

bool receiveAtRoot(std::string& text, bool block, Channel channel) {
#ifdef IMC_HAVE_MPI
    if (!cluster().distributed()) return false;
    spice::PausedLeakCheck openMpiOwn;
    MPI_Status status;
    if (!block) {
        int flag = 0;
        MPI_Iprobe(MPI_ANY_SOURCE, int(channel), MPI_COMM_WORLD, &flag, &status);
        if (!flag) return false;
    } else {
        // Poll with a short sleep rather than a busy MPI_Probe, so a waiting rank 0 leaves its
        // core to the workers.
        for (int flag = 0; !flag;) {
            MPI_Iprobe(MPI_ANY_SOURCE, int(channel), MPI_COMM_WORLD, &flag, &status);
            if (!flag) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }
    int count = 0;
    MPI_Get_count(&status, MPI_CHAR, &count);
    text.resize(std::size_t(count));
    MPI_Recv(text.data(), count, MPI_CHAR, status.MPI_SOURCE, int(channel), MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    return true;
#else
    (void)text, (void)block, (void)channel;
    return false;
#endif
}

void broadcastFromRoot(std::string& text) {
#ifdef IMC_HAVE_MPI
    if (!cluster().distributed()) return;
    spice::PausedLeakCheck openMpiOwn;
    unsigned long long n = text.size();
    MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
    text.resize(std::size_t(n));
    // Large tables go in chunks: MPI counts are int.
    for (unsigned long long off = 0; off < n; off += (1ull << 30)) {
        const int len = int(std::min<unsigned long long>(1ull << 30, n - off));
        MPI_Bcast(text.data() + off, len, MPI_CHAR, 0, MPI_COMM_WORLD);
    }
#else
    (void)text;
#endif
}

void abortAllRanks(const std::string& why) {
    std::fprintf(stderr, "imc: rank %d: %s\n", cluster().rank, why.c_str());
#ifdef IMC_HAVE_MPI
    spice::PausedLeakCheck openMpiOwn;
    MPI_Abort(MPI_COMM_WORLD, 1);
#endif
    std::exit(1);
}

}  // namespace imc::sweep
