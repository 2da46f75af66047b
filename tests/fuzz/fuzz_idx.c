/* libFuzzer harness: the MNIST IDX reader, raw or gzip-compressed. */
#include "core/ctx.h"
#include "data/idx.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("images-idx3-ubyte.gz", data, size);
    qfd_ctx *ctx = qfd_ctx_new();
    if (path && ctx) {
        qfd_ctx_set_memory_limit(ctx, FUZZ_MEMORY_LIMIT);
        qfd_array a = {0};
        if (qfd_idx_read(ctx, path, &a) == QFD_OK)
            qfd_array_free(&a);
    }
    qfd_ctx_free(ctx);
    return 0;
}
