#pragma once
// Runs across machines: when imc is launched by `mpirun`, every rank executes the same command
// and each sweep's jobs are split across ranks (job i on rank i mod size). Each rank runs its
// share with its own worker processes; rank 0 writes the results folder as rows arrive and
// sends the finished table to every rank, so all ranks continue with the same numbers.
// Without mpirun (or in a build without MPI) there is one rank and nothing changes.
#include <future>
#include <string>
#include <utility>

namespace imc::characterize {

struct Cluster {
    int rank = 0;
    int size = 1;
    int localSize = 1;  // ranks on this machine, to share its cores among them
    bool distributed() const { return size > 1; }
};

// The cluster this process belongs to; initializes MPI on first use when launched by mpirun.
const Cluster& cluster();

// True when the environment says an MPI launcher started this process.
bool launchedByMpiLauncher();

// Returns build(), computed while MPI starts: under mpirun, MPI_Init mostly waits on the
// launcher (a quarter of a second here), so `build` (a job list) runs on a helper thread
// meanwhile and MPI is initialized on this thread, which stays the one that calls MPI.
// Without a launcher this is just build().
template <class Build>
auto buildWhileClusterStarts(Build&& build) -> decltype(build()) {
    if (!launchedByMpiLauncher()) return build();
    auto job = std::async(std::launch::async, std::forward<Build>(build));
    cluster();
    return job.get();
}

// Point-to-point text messages to rank 0 on a channel, and broadcasts from it (no-ops on one rank).
enum class Channel { Rows = 71, Versions = 72 };
void sendToRoot(const std::string& text, Channel channel = Channel::Rows);
// Receives one message sent with sendToRoot; when block is false returns false if none waits.
bool receiveAtRoot(std::string& text, bool block, Channel channel = Channel::Rows);
void broadcastFromRoot(std::string& text);

// Ends every rank (one rank's error would leave the others waiting in a collective call).
[[noreturn]] void abortAllRanks(const std::string& why);

}  // namespace imc::characterize
