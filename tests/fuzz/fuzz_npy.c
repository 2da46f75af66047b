/* libFuzzer harness: the .npy reader (and the TensorProto .pb reader that
 * shares its entry point, qfd_tensor_file_read, as `run --input` does). */
#include "core/ctx.h"
#include "data/npy.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("input.npy", data, size);
    qfd_ctx *ctx = qfd_ctx_new();
    if (path && ctx) {
        qfd_ctx_set_memory_limit(ctx, FUZZ_MEMORY_LIMIT);
        qfd_array a = {0};
        if (qfd_tensor_file_read(ctx, path, &a) == QFD_OK)
            qfd_array_free(&a);
    }
    qfd_ctx_free(ctx);
    return 0;
}
