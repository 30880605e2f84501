// Workload source, filled in by later commits.
#include "lsh/lsh.hpp"
