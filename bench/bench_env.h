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

/* The CPU's model name from /proc/cpuinfo ("unknown CPU" if none). */
static inline void bench_cpu_name(char *buf, size_t cap) {
    snprintf(buf, cap, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        const char *c = strchr(line, ':');
        if (!strncmp(line, "model name", 10) && c) {
            c++;
            while (*c == ' ') c++;
            snprintf(buf, cap, "%s", c);
            buf[strcspn(buf, "\n")] = '\0';
            break;
        }
    }
    fclose(f);
}

static inline void bench_print_env(void) {
    char model[256];
    bench_cpu_name(model, sizeof model);
    printf("CPU: %s, %ld logical CPUs online; tt %s, kernels: %s\n", model, sysconf(_SC_NPROCESSORS_ONLN),
           tt_version(), tt_kernel_isa());
}

#endif
