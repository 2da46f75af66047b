/* libFuzzer harness: the .npz reader (zip directory, zip64, stored and
 * deflated members, CRC, then each member's .npy), for the member names the
 * dataset loader asks for. */
#include "core/ctx.h"
#include "data/npy.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"x", "y", "x_test", "y_test"};
    const char *path = fuzz_file("data.npz", data, size);
    qfd_ctx *ctx = qfd_ctx_new();
    for (int k = 0; path && ctx && k < 4; k++) {
        qfd_ctx_set_memory_limit(ctx, FUZZ_MEMORY_LIMIT);
        qfd_array a = {0};
        int which = -1;
        if (qfd_npz_read_any(ctx, path, names + k, 4 - k, &which, &a) == QFD_OK)
            qfd_array_free(&a);
    }
    qfd_ctx_free(ctx);
    return 0;
}
