/* What the libFuzzer harnesses share. */
#ifndef QFD_TESTS_FUZZ_FILE_H
#define QFD_TESTS_FUZZ_FILE_H

#include <stddef.h>
#include <stdint.h>

/* A memory limit for every harness's context: far above what a seed needs,
 * far below libFuzzer's 2 GiB RSS limit, so that an input asking for a lot
 * of memory meets the library's limit (an error) rather than libFuzzer's
 * (a reported crash). */
#define FUZZ_MEMORY_LIMIT ((uint64_t)64 << 20)

/* The readers take paths: writes the input to `name` in a private
 * temporary folder (made once per process, removed at exit) and returns
 * its path; NULL if that fails. */
const char *fuzz_file(const char *name, const uint8_t *data, size_t size);
/* The folder itself, for files that an input may refer to. */
const char *fuzz_dir(void);

#endif
