/* Appends benchmark figures to the JSON report named by FUSION_BENCH_REPORT. */
#include "report.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int s_compare(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

void bench_sort(double *values, size_t n)
{
    qsort(values, n, sizeof *values, s_compare);
}

double bench_median(double *values, size_t n)
{
    bench_sort(values, n);
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

void bench_report(const char *name, double value, const char *unit, double baseline)
{
    double ratio = baseline > 0 ? value / baseline : 0;
    if (baseline > 0)
        printf("%-58s %14.2f %-10s baseline %14.2f  ratio %8.3f\n", name, value, unit, baseline,
               ratio);
    else
        printf("%-58s %14.2f %-10s\n", name, value, unit);
    const char *path = getenv("FUSION_BENCH_REPORT");
    if (!path)
        return;
    json_t *report = json_load_file(path, 0, NULL);
    if (!json_is_array(report)) {
        json_decref(report);
        report = json_array();
    }
    json_t *row = json_pack("{s:s, s:f, s:s}", "name", name, "value", value, "unit", unit);
    json_object_set_new(row, "baseline", baseline > 0 ? json_real(baseline) : json_null());
    json_object_set_new(row, "ratio", baseline > 0 ? json_real(ratio) : json_null());
    json_array_append_new(report, row);
    if (json_dump_file(report, path, JSON_INDENT(2)) != 0)
        fprintf(stderr, "bench: cannot write %s\n", path);
    json_decref(report);
}
