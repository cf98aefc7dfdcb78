/*
 * bench/bench_env.h — the line every benchmark prints first: the CPU its
 * figures come from and the kernel path in use (docs/benchmarks.md: a figure
 * without its machine means nothing).
 */
#ifndef TT_BENCH_ENV_H
#define TT_BENCH_ENV_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tt/common.h"

static inline void bench_print_env(void) {
    char model[256] = "unknown CPU", line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        while (fgets(line, sizeof line, f)) {
            const char *c = strchr(line, ':');
            if (!strncmp(line, "model name", 10) && c) {
                snprintf(model, sizeof model, "%s", c + 2);
                model[strcspn(model, "\n")] = '\0';
                break;
            }
        }
        fclose(f);
    }
    printf("CPU: %s, %ld logical CPUs online; tt %s, kernels: %s\n", model, sysconf(_SC_NPROCESSORS_ONLN),
           tt_version(), tt_kernel_isa());
}

#endif
