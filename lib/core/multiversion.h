/* Function multi-versioning for hot loops: SPCNN_MULTIVERSION compiles a function for AVX-512
 * (x86-64-v4: F, BW, DQ, VL, CD — DQ's 64-bit multiplies for the random draws), AVX2 with FMA
 * (x86-64-v3) and plain x86-64, and the loader picks the best one the CPU has (GCC
 * target_clones). Write the loops so that each lane does the same operations whatever the
 * vector width (ISO C: no FMA contraction, so a multiply-add is fused only where fmaf says so,
 * in every version; no reduction reordered), and every version gives the same bytes. */
#ifndef SPCNN_CORE_MULTIVERSION_H
#define SPCNN_CORE_MULTIVERSION_H

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define SPCNN_MULTIVERSION \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SPCNN_MULTIVERSION
#endif

#endif
