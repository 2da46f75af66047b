/* libFuzzer harness: the image readers of --data. The first byte chooses:
 * 0 a JPEG/PNG decoded to RGB, then resized and cropped as eval does;
 * 1 the same to one channel (PIL's 'L'); 2 the rest as a CIFAR-10 test
 * batch. */
#include <string.h>

#include "core/ctx.h"
#include "data/dataset.h"
#include "data/image.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const int mode = data[0] % 3;
    qfd_ctx *ctx = qfd_ctx_new();
    if (!ctx)
        return 0;
    qfd_ctx_set_memory_limit(ctx, FUZZ_MEMORY_LIMIT);
    if (mode < 2) {
        qfd_image im = {0}, r = {0}, c = {0};
        if (qfd_image_decode(ctx, "fuzz", data + 1, size - 1, mode == 0 ? 3 : 1, &im) == QFD_OK) {
            int w, h;
            qfd_image_shorter_side(im.w, im.h, 9, &w, &h);
            if (w <= 4096 && h <= 4096 && qfd_image_resize(ctx, &im, w, h, &r) == QFD_OK &&
                qfd_image_crop(ctx, &r, qfd_image_center_offset(r.w, 8), qfd_image_center_offset(r.h, 8), 8, 8, &c) ==
                    QFD_OK) {
                float out[3 * 8 * 8];
                qfd_image_to_chw(&c, 0, NULL, NULL, 1, out);
            }
        }
        qfd_image_free(&im), qfd_image_free(&r), qfd_image_free(&c);
    } else {
        const char *path = fuzz_file("test_batch.bin", data + 1, size - 1);
        qfd_dataset ds;
        if (path && qfd_dataset_load(ctx, fuzz_dir(), QFD_SPLIT_TEST, 0, &ds) == QFD_OK)
            qfd_dataset_free(&ds);
    }
    qfd_ctx_free(ctx);
    return 0;
}
