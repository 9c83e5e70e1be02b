/* Helpers shared by the cmocka unit tests: temporary directories and files. */
#ifndef FUSION_TESTUTIL_H
#define FUSION_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Creates a fresh temporary directory (removed by tu_rmtree). Returns a malloc'd path. */
char *tu_tempdir(void);

/* Removes a directory tree. */
void tu_rmtree(const char *path);

/* Joins dir and name into a malloc'd path. */
char *tu_path(const char *dir, const char *name);

/* Writes text to path with the given mode; fails the test on error. */
void tu_write(const char *path, const char *text, unsigned mode);

/* The directory of test data files (tests/data), from FUSION_TEST_DATA or the default. */
const char *tu_data_dir(void);

#endif
