/* Minimal assertions for the unit tests: report every failure, exit non-zero. */
#ifndef QFD_TESTS_CHECK_H
#define QFD_TESTS_CHECK_H

#include <stdio.h>

static int qfd_test_failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            qfd_test_failures++;                                                     \
        }                                                                            \
    } while (0)

#define CHECK_OK(ctx, expr)                                                                           \
    do {                                                                                              \
        qfd_status st_ = (expr);                                                                      \
        if (st_ != QFD_OK) {                                                                          \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, qfd_ctx_error(ctx)); \
            qfd_test_failures++;                                                                      \
        }                                                                                             \
    } while (0)

/* A failure described in words, printf-style (for checks over a file's
 * contents, where the condition alone would not say which node failed). */
#define FAIL(...)                     \
    do {                              \
        printf("FAIL: " __VA_ARGS__); \
        putchar('\n');                \
        qfd_test_failures++;          \
    } while (0)

#define TEST_DONE() (printf("%s\n", qfd_test_failures ? "FAILED" : "all checks passed"), qfd_test_failures ? 1 : 0)

#endif
