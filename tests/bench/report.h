/* The benchmark report: each figure with the baseline it is bounded by and their ratio, appended
 * to build/bench/report.json and printed as a table row. */
#ifndef FUSION_BENCH_REPORT_H
#define FUSION_BENCH_REPORT_H

/* Records one figure. baseline may be 0 when a figure has none (ratio is then omitted). */
void bench_report(const char *name, double value, const char *unit, double baseline);

/* Seconds from a monotonic clock. */
double bench_now(void);

#endif
