#include "data/idx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/ctx.h"
#include "ir/dtype.h"

/* Far beyond any IDX dataset (full MNIST is 47 MB), small enough that a
 * corrupt header cannot make us allocate without bound. */
#define IDX_MAX_BYTES ((int64_t)1 << 32)

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* gzread's count is an int-sized unsigned; read big arrays in slices. */
static int64_t read_all(gzFile gz, uint8_t *buf, int64_t n)
{
    int64_t got = 0;
    while (got < n) {
        unsigned chunk = n - got > (1 << 30) ? 1u << 30 : (unsigned)(n - got);
        int r = gzread(gz, buf + got, chunk);
        if (r <= 0)
            break;
        got += r;
    }
    return got;
}

static qfd_status read_error(qfd_ctx *ctx, gzFile gz, const char *what, int64_t got, int64_t need)
{
    int zerr;
    const char *msg = gzerror(gz, &zerr);
    if (zerr == Z_ERRNO)
        return qfd_fail(ctx, QFD_ERR_IO, "read failed: %s", strerror(errno));
    if (zerr != Z_OK && zerr != Z_BUF_ERROR)
        return qfd_fail(ctx, QFD_ERR_PARSE, "corrupt gzip data in the %s: %s", what, msg);
    return qfd_fail(ctx, QFD_ERR_PARSE, "truncated IDX file: %s has %lld of %lld bytes", what, (long long)got,
                    (long long)need);
}

qfd_status qfd_idx_read(qfd_ctx *ctx, const char *path, qfd_array *out)
{
    memset(out, 0, sizeof *out);
    qfd_status st = QFD_OK;
    uint8_t head[16];
    errno = 0;
    gzFile gz = gzopen(path, "rb"); /* reads uncompressed files as they are */
    if (!gz) {
        st = qfd_fail(ctx, errno == ENOMEM ? QFD_ERR_NOMEM : QFD_ERR_IO, "cannot open: %s",
                      strerror(errno ? errno : ENOMEM));
        goto fail;
    }
    int64_t got = read_all(gz, head, 4);
    if (got < 4) {
        st = read_error(ctx, gz, "header", got, 4);
        goto fail;
    }
    uint32_t magic = be32(head);
    if (magic != 0x803 && magic != 0x801) {
        st = qfd_fail(ctx, QFD_ERR_PARSE,
                      "not an MNIST IDX file: magic 0x%08x, expected 0x00000803 (images) or 0x00000801 (labels)",
                      (unsigned)magic);
        goto fail;
    }
    int rank = (int)(magic & 0xff);
    if ((got = read_all(gz, head + 4, 4 * rank)) < 4 * rank) {
        st = read_error(ctx, gz, "header", 4 + got, 4 + 4 * rank);
        goto fail;
    }
    int64_t dims[3], numel = 1;
    for (int i = 0; i < rank; i++) {
        dims[i] = be32(head + 4 + 4 * i);
        if (dims[i] == 0 || dims[i] > IDX_MAX_BYTES / numel) {
            st = qfd_fail(ctx, QFD_ERR_PARSE, "implausible IDX size %lld in dimension %d (corrupt header?)",
                          (long long)dims[i], i);
            goto fail;
        }
        numel *= dims[i];
    }
    if ((st = qfd_array_alloc(ctx, out, QFD_DT_UINT8, rank, dims)))
        goto fail;
    if ((got = read_all(gz, out->data, numel)) < numel) {
        st = read_error(ctx, gz, "data", got, numel);
        goto fail;
    }
    gzclose(gz);
    return QFD_OK;
fail:
    if (gz)
        gzclose(gz);
    qfd_array_free(out);
    qfd_ctx_prefix(ctx, path);
    return st;
}
