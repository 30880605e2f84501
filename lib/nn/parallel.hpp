#pragma once
// A small persistent thread pool. Callers split work into tasks whose boundaries do not depend
// on the thread count, so every result is bit-identical for any number of threads.
#include <functional>

namespace imc::nn {

// Runs fn(0) .. fn(tasks - 1), possibly concurrently; returns when all are done.
// Nested calls from inside a task run inline.
void parallelFor(int tasks, const std::function<void(int)>& fn);

// fn(begin, count) over consecutive chunks of `chunk` rows, possibly concurrently; the chunk
// boundaries depend only on the sizes, never on the thread count.
template <class Fn>
void forRowChunks(long rows, long chunk, Fn&& fn) {
    parallelFor(static_cast<int>((rows + chunk - 1) / chunk), [&](int task) {
        const long begin = task * chunk;
        fn(begin, rows - begin < chunk ? rows - begin : chunk);
    });
}

}  // namespace imc::nn
