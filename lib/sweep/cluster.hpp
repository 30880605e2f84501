#pragma once
// Runs across machines: when imc is launched by `mpirun`, every rank executes the same command
// and each sweep's jobs are split across ranks (job i on rank i mod size). Each rank builds the
// decks of its share while MPI starts and runs them with its own worker processes; rank 0,
// which gets every deck, keys and writes the results folder as rows arrive and sends the
// finished table to every rank, so all ranks continue with the same numbers.
// Without mpirun (or in a build without MPI) there is one rank and nothing changes.
#include <string>

namespace imc::sweep {

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

// The rank and size the launcher announced in the environment, readable before MPI starts
// (Open MPI and MPICH-style launchers); {0, 1} when it did not say. A hint for work done
// while MPI starts up: cluster() has the real values.
Cluster launcherCluster();

// Point-to-point text messages to rank 0 on a channel, and broadcasts from it (no-ops on one rank).
enum class Channel { Rows = 71, Versions = 72, Decks = 73 };
void sendToRoot(const std::string& text, Channel channel = Channel::Rows);
// Receives one message sent with sendToRoot; when block is false returns false if none waits.
bool receiveAtRoot(std::string& text, bool block, Channel channel = Channel::Rows);
void broadcastFromRoot(std::string& text);

// Ends every rank (one rank's error would leave the others waiting in a collective call).
[[noreturn]] void abortAllRanks(const std::string& why);

}  // namespace imc::sweep
