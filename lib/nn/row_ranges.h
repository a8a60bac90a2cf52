/* Splitting a loop's rows over the OpenMP threads, or not. */
#ifndef SPCNN_NN_ROW_RANGES_H
#define SPCNN_NN_ROW_RANGES_H

#include <omp.h>

/* Run `call` over rows [lo, hi): split evenly among the OpenMP threads, or over all of them in
 * this thread when the work is small, there is one thread, or the caller is already in a
 * parallel region (the sampler's workers). Not `#pragma omp parallel for if (...)`: a region
 * whose condition is false still sets up a team, and a nested one costs two futex calls, about
 * 2.4 µs here; the sampler's workers made some 35 such calls per pixel. Loop bodies must compute
 * each row from its inputs alone, so that the split cannot change a result. */
#define FOR_ROW_RANGES(rows, work, min_work, call)                                       \
    do {                                                                                 \
        const size_t rows_ = (rows);                                                     \
        if ((work) < (min_work) || omp_get_max_threads() == 1 || omp_in_parallel()) {    \
            const size_t lo = 0, hi = rows_;                                             \
            call;                                                                        \
            break;                                                                       \
        }                                                                                \
        _Pragma("omp parallel")                                                          \
        {                                                                                \
            const size_t t_ = (size_t)omp_get_thread_num();                              \
            const size_t nt_ = (size_t)omp_get_num_threads();                            \
            const size_t lo = rows_ * t_ / nt_, hi = rows_ * (t_ + 1) / nt_;             \
            call;                                                                        \
        }                                                                                \
    } while (0)

#endif
