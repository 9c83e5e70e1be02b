/* The benchmark report: each figure with the baseline it is bounded by and their ratio, appended
 * to build/bench/report.json and printed as a table row. */
#ifndef FUSION_BENCH_REPORT_H
#define FUSION_BENCH_REPORT_H

#include <stddef.h>

/* Records one figure. baseline may be 0 when a figure has none (ratio is then omitted). */
void bench_report(const char *name, double value, const char *unit, double baseline);

/* Sorts n values in increasing order. */
void bench_sort(double *values, size_t n);

/* The median of n values (n > 0); sorts them in place. */
double bench_median(double *values, size_t n);

/* Seconds from a monotonic clock. */
double bench_now(void);

#endif
