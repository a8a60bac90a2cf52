/* Small helpers shared by the benchmark programs: a monotonic clock and the machine's peak. */
#ifndef SPCNN_BENCH_COMMON_H
#define SPCNN_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The clock the kernel reports for CPU 0, in GHz (0 when unknown). */
static inline double bench_cpu_ghz(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return 0;
    char line[256];
    double mhz = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "cpu MHz", 7) == 0 && sscanf(strchr(line, ':') + 1, "%lf", &mhz) == 1)
            break;
    fclose(f);
    return mhz / 1000.0;
}

/* FLOP per cycle per core: two FMA pipes of 16 floats with AVX-512 (64), of 8 with AVX2 (32). */
static inline double bench_flops_per_cycle(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return 32.0;
    char line[4096];
    int avx512 = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "flags", 5) == 0) {
            avx512 = strstr(line, " avx512f") != NULL;
            break;
        }
    fclose(f);
    return avx512 ? 64.0 : 32.0;
}

/* One line naming the CPU the figures come from: the machines this project is measured on
 * have differed between sessions (AMD Zen 5, Intel Xeon with AMX), so every benchmark prints
 * it; and libgomp's wait settings, which change two-thread figures by up to 1.6 times
 * (docs/benchmarks.md, "Wait policies"). */
static inline void bench_print_cpu(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096], name[128] = "unknown CPU";
    int family = -1, model = -1, cpus = 0, amx = 0, bf16 = 0;
    while (f && fgets(line, sizeof line, f)) {
        const char *v = strchr(line, ':');
        if (!v)
            continue;
        if (strncmp(line, "processor", 9) == 0)
            cpus++;
        else if (strncmp(line, "model name", 10) == 0 && cpus == 1)
            snprintf(name, sizeof name, "%.*s", (int)strcspn(v + 2, "\n"), v + 2);
        else if (strncmp(line, "cpu family", 10) == 0 && cpus == 1)
            sscanf(v + 1, "%d", &family);
        else if (strncmp(line, "model\t", 6) == 0 && cpus == 1)
            sscanf(v + 1, "%d", &model);
        else if (strncmp(line, "flags", 5) == 0 && cpus == 1) {
            amx = strstr(line, " amx_bf16") != NULL;
            bf16 = strstr(line, " avx512_bf16") != NULL;
        }
    }
    if (f)
        fclose(f);
    printf("CPU: %s (family %d, model %d), %d CPUs%s%s\n", name, family, model, cpus,
           bf16 ? ", AVX-512 BF16" : "", amx ? ", AMX-BF16" : "");
    const char *policy = getenv("OMP_WAIT_POLICY"), *spins = getenv("GOMP_SPINCOUNT");
    printf("OpenMP waiting: OMP_WAIT_POLICY=%s GOMP_SPINCOUNT=%s\n", policy ? policy : "(unset)",
           spins ? spins : "(unset)");
}

static inline double bench_peak_gflops(int cores)
{
    return cores * bench_cpu_ghz() * bench_flops_per_cycle();
}

#endif
