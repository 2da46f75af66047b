/* What the process measures of itself: a monotonic clock for progress,
 * timings and profiles, and its memory for the reports and benchmarks
 * (train --json, run --repeat, quantize --report). */
#ifndef QFD_CORE_PROC_H
#define QFD_CORE_PROC_H

#include <stddef.h>

/* Monotonic seconds (CLOCK_MONOTONIC). */
double qfd_now(void);
/* The resident set size now, from /proc/self/statm; 0 when unknown. */
size_t qfd_rss_bytes(void);
/* The process's peak resident set size so far (getrusage's ru_maxrss);
 * 0 when unknown. */
size_t qfd_peak_rss_bytes(void);

#endif
