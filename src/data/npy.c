/* .npy: "\x93NUMPY", major, minor, header length (2 bytes LE in 1.0, 4 in
 * 2.0/3.0), then a Python dict literal {'descr': ..., 'fortran_order': ...,
 * 'shape': (...), } padded with spaces and '\n', then the raw data.
 * .npz: a zip of such files; we read the central directory, not the local
 * headers, because numpy writes members with zip64 local headers. */
#include "data/npy.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/ctx.h"
#include "ir/dtype.h"

static const char k_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

static const struct {
    char kind;
    int size;
    int32_t dtype;
} k_types[] = {
    {'f', 2, QFD_DT_FLOAT16}, {'f', 4, QFD_DT_FLOAT},  {'f', 8, QFD_DT_DOUBLE}, {'i', 1, QFD_DT_INT8},
    {'i', 2, QFD_DT_INT16},   {'i', 4, QFD_DT_INT32},  {'i', 8, QFD_DT_INT64},  {'u', 1, QFD_DT_UINT8},
    {'u', 2, QFD_DT_UINT16},  {'u', 4, QFD_DT_UINT32}, {'u', 8, QFD_DT_UINT64}, {'b', 1, QFD_DT_BOOL},
};

static uint32_t rd16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}
static uint32_t rd32(const uint8_t *p)
{
    return rd16(p) | rd16(p + 2) << 16;
}
static uint64_t rd64(const uint8_t *p)
{
    return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* ---- header dict --------------------------------------------------------- */

typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int eat(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string without escapes (all numpy writes); 0 if absent. */
static int parse_str(cursor *c, char *buf, size_t cap)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return 0;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (n + 1 < cap)
            buf[n++] = *c->p;
        c->p++;
    }
    buf[n] = 0;
    return c->p < c->end && *c->p++ == q;
}

static int parse_shape(cursor *c, qfd_array *a)
{
    if (!eat(c, '('))
        return 0;
    a->rank = 0;
    for (;;) {
        if (eat(c, ')'))
            return 1;
        skip_ws(c);
        int64_t v = 0;
        const char *start = c->p;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return 0;
            v = v * 10 + (*c->p++ - '0');
        }
        if (c->p == start || a->rank == QFD_ARRAY_MAX_RANK)
            return 0;
        if (c->p < c->end && *c->p == 'L') /* written by Python 2 */
            c->p++;
        a->dims[a->rank++] = v;
        if (!eat(c, ','))
            return eat(c, ')');
    }
}

static qfd_status parse_descr(qfd_ctx *ctx, const char *d, int32_t *dtype)
{
    char order = d[0], kind = d[0] ? d[1] : 0;
    char *end;
    long size = kind ? strtol(d + 2, &end, 10) : 0;
    if (kind == 'O')
        return qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "object arrays (dtype '%s') cannot be read: they hold Python pickles",
                        d);
    if (!kind || size <= 0 || *end || !strchr("<>|=", order))
        return qfd_fail(ctx, QFD_ERR_PARSE, "bad .npy header: dtype '%s' is not a simple type", d);
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++) {
        if (k_types[i].kind != kind || k_types[i].size != size)
            continue;
        if ((order == '>' || order == '=') && size > 1)
            return qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "%s data (dtype '%s') is not supported; save it as '<%c%ld'",
                            order == '>' ? "big-endian" : "native-order", d, kind, size);
        *dtype = k_types[i].dtype;
        return QFD_OK;
    }
    return qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "dtype '%s' is not supported (use float, int, uint or bool)", d);
}

/* Fills a->dtype, rank and dims from the dict text h[0..len). */
static qfd_status parse_dict(qfd_ctx *ctx, const char *h, size_t len, qfd_array *a)
{
    cursor c = {h, h + len};
    char key[32], descr[64] = "";
    int fortran = -1, have_shape = 0;
    if (!eat(&c, '{'))
        return qfd_fail(ctx, QFD_ERR_PARSE, "bad .npy header: not a dict");
    while (!eat(&c, '}')) {
        if (!parse_str(&c, key, sizeof key) || !eat(&c, ':'))
            return qfd_fail(ctx, QFD_ERR_PARSE, "bad .npy header: expected a quoted key");
        skip_ws(&c);
        if (!strcmp(key, "descr")) {
            if (c.p < c.end && *c.p == '[')
                return qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "structured dtypes (record arrays) are not supported");
            if (!parse_str(&c, descr, sizeof descr))
                return qfd_fail(ctx, QFD_ERR_PARSE, "bad .npy header: 'descr' is not a string");
        } else if (!strcmp(key, "fortran_order")) {
            size_t left = (size_t)(c.end - c.p);
            if (left >= 4 && !memcmp(c.p, "True", 4))
                fortran = 1, c.p += 4;
            else if (left >= 5 && !memcmp(c.p, "False", 5))
                fortran = 0, c.p += 5;
            else
                return qfd_fail(ctx, QFD_ERR_PARSE, "bad .npy header: 'fortran_order' is not True or False");
        } else if (!strcmp(key, "shape")) {
            if (!parse_shape(&c, a))
                return qfd_fail(ctx, QFD_ERR_PARSE, "bad .npy header: 'shape' is not a tuple of at most %d sizes",
                                QFD_ARRAY_MAX_RANK);
            have_shape = 1;
        } else {
            return qfd_fail(ctx, QFD_ERR_PARSE, "bad .npy header: unknown key '%s'", key);
        }
        if (!eat(&c, ',')) {
            if (!eat(&c, '}'))
                return qfd_fail(ctx, QFD_ERR_PARSE, "bad .npy header: expected ',' or '}' after '%s'", key);
            break;
        }
    }
    if (!descr[0] || fortran < 0 || !have_shape)
        return qfd_fail(ctx, QFD_ERR_PARSE, "bad .npy header: missing '%s'",
                        !descr[0]     ? "descr"
                        : fortran < 0 ? "fortran_order"
                                      : "shape");
    if (fortran && a->rank > 1)
        return qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "fortran_order=True arrays are not supported; save a C-order copy");
    return parse_descr(ctx, descr, &a->dtype);
}

/* From the first n bytes: total header size (data offset) and dict offset. */
static qfd_status parse_preamble(qfd_ctx *ctx, const uint8_t *b, size_t n, size_t *total, size_t *dict)
{
    if (memcmp(b, k_magic, n < 6 ? n : 6))
        return qfd_fail(ctx, QFD_ERR_PARSE, "not a .npy file (bad magic)");
    if (n < 10)
        return qfd_fail(ctx, QFD_ERR_PARSE, "truncated .npy file: %zu bytes, shorter than the header", n);
    if (b[6] == 1) {
        *dict = 10;
        *total = 10 + rd16(b + 8);
    } else if (b[6] == 2 || b[6] == 3) {
        if (n < 12)
            return qfd_fail(ctx, QFD_ERR_PARSE, "truncated .npy file: %zu bytes, shorter than the header", n);
        *dict = 12;
        *total = 12 + (size_t)rd32(b + 8);
    } else {
        return qfd_fail(ctx, QFD_ERR_UNSUPPORTED, ".npy format version %u.%u is not supported (only 1.0, 2.0, 3.0)",
                        b[6], b[7]);
    }
    return QFD_OK;
}

static qfd_status data_bytes(qfd_ctx *ctx, const qfd_array *a, size_t *nbytes)
{
    int ok = 0;
    int64_t numel = qfd_array_numel(a);
    *nbytes = numel < 0 ? 0 : qfd_dtype_nbytes(a->dtype, numel, &ok);
    return ok ? QFD_OK : qfd_fail(ctx, QFD_ERR_PARSE, "bad .npy header: shape is too large");
}

static qfd_status short_data(qfd_ctx *ctx, size_t have, size_t need)
{
    return qfd_fail(ctx, QFD_ERR_PARSE, "truncated .npy data: %zu bytes where the header's shape needs %zu", have,
                    need);
}

/* Parses a whole .npy image in memory, taking ownership of buf. */
static qfd_status npy_from_buffer(qfd_ctx *ctx, uint8_t *buf, size_t len, qfd_array *out)
{
    size_t total = 0, dict = 0, nbytes = 0;
    qfd_array a = {0};
    qfd_status st = parse_preamble(ctx, buf, len, &total, &dict);
    if (st)
        goto fail;
    if (total > len) {
        st = qfd_fail(ctx, QFD_ERR_PARSE, "truncated .npy header: %zu bytes of %zu", len, total);
        goto fail;
    }
    if ((st = parse_dict(ctx, (const char *)buf + dict, total - dict, &a)) || (st = data_bytes(ctx, &a, &nbytes)))
        goto fail;
    if (len - total < nbytes) {
        st = short_data(ctx, len - total, nbytes);
        goto fail;
    }
    memmove(buf, buf + total, nbytes);
    uint8_t *shrunk = realloc(buf, nbytes ? nbytes : 1);
    a.data = shrunk ? shrunk : buf;
    a.nbytes = nbytes;
    *out = a;
    return QFD_OK;
fail:
    free(buf);
    return st;
}

qfd_status qfd_npy_read(qfd_ctx *ctx, const char *path, qfd_array *out)
{
    memset(out, 0, sizeof *out);
    qfd_status st = QFD_OK;
    char *dict_text = NULL;
    FILE *f = fopen(path, "rb");
    struct stat sb;
    if (!f || fstat(fileno(f), &sb) != 0) {
        st = qfd_fail(ctx, QFD_ERR_IO, "cannot open: %s", strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = qfd_fail(ctx, QFD_ERR_IO, "not a regular file");
        goto fail;
    }
    if (sb.st_size == 0) {
        st = qfd_fail(ctx, QFD_ERR_PARSE, "file is empty, not a .npy file");
        goto fail;
    }
    size_t fsize = (size_t)sb.st_size, total = 0, dict = 0, nbytes = 0;
    uint8_t pre[12];
    size_t n = fread(pre, 1, fsize < sizeof pre ? fsize : sizeof pre, f);
    if ((st = parse_preamble(ctx, pre, n, &total, &dict)))
        goto fail;
    if (total > fsize) {
        st = qfd_fail(ctx, QFD_ERR_PARSE, "truncated .npy header: file has %zu bytes, header needs %zu", fsize, total);
        goto fail;
    }
    dict_text = malloc(total - dict + 1);
    if (!dict_text) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (fseek(f, (long)dict, SEEK_SET) != 0 || fread(dict_text, 1, total - dict, f) != total - dict) {
        st = qfd_fail(ctx, QFD_ERR_IO, "read failed: %s", strerror(errno));
        goto fail;
    }
    qfd_array hdr = {0};
    if ((st = parse_dict(ctx, dict_text, total - dict, &hdr)) || (st = data_bytes(ctx, &hdr, &nbytes)))
        goto fail;
    /* Checked before allocating, so a corrupt shape cannot ask for terabytes. */
    if (fsize - total < nbytes) {
        st = short_data(ctx, fsize - total, nbytes);
        goto fail;
    }
    if ((st = qfd_array_alloc(ctx, out, hdr.dtype, hdr.rank, hdr.dims)))
        goto fail;
    if (fread(out->data, 1, nbytes, f) != nbytes) {
        st = qfd_fail(ctx, QFD_ERR_IO, "read failed: %s", strerror(errno));
        goto fail;
    }
    free(dict_text);
    fclose(f);
    return QFD_OK;
fail:
    free(dict_text);
    if (f)
        fclose(f);
    qfd_array_free(out);
    qfd_ctx_prefix(ctx, path);
    return st;
}

/* ---- writer ------------------------------------------------------------- */

/* The preamble and dict numpy itself would write: padded with spaces so the
 * data starts at a multiple of 64 bytes, ending in '\n'. */
static size_t format_header(const qfd_array *a, char kind, int size, char *buf, size_t cap)
{
    int n = snprintf(buf + 10, cap - 10, "{'descr': '%c%c%d', 'fortran_order': False, 'shape': (",
                     size == 1 ? '|' : '<', kind, size);
    for (int i = 0; i < a->rank; i++)
        n += snprintf(buf + 10 + n, cap - 10 - (size_t)n, "%s%lld", i ? ", " : "", (long long)a->dims[i]);
    n += snprintf(buf + 10 + n, cap - 10 - (size_t)n, "%s), }", a->rank == 1 ? "," : "");
    size_t hlen = (size_t)n + 1;
    size_t pad = 64 - (10 + hlen) % 64;
    memset(buf + 10 + n, ' ', pad);
    buf[10 + hlen + pad - 1] = '\n';
    memcpy(buf, k_magic, 6);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (char)((hlen + pad) & 0xff);
    buf[9] = (char)((hlen + pad) >> 8);
    return 10 + hlen + pad;
}

/* What qfd_npy_write needs of a: a dtype .npy has, a shape matching its bytes. */
static qfd_status writable(qfd_ctx *ctx, const qfd_array *a, char *kind, int *size, size_t *nbytes)
{
    *kind = 0;
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
        if (k_types[i].dtype == a->dtype)
            *kind = k_types[i].kind, *size = k_types[i].size;
    if (!*kind)
        return qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "cannot write %s arrays as .npy",
                        qfd_dtype_name(a->dtype) ? qfd_dtype_name(a->dtype) : "unknown-type");
    if (a->rank < 0 || a->rank > QFD_ARRAY_MAX_RANK || data_bytes(ctx, a, nbytes) || *nbytes != a->nbytes ||
        (*nbytes && !a->data))
        return qfd_fail(ctx, QFD_ERR_ARG, "array shape does not match its %zu data bytes", a->nbytes);
    return QFD_OK;
}

qfd_status qfd_npy_check(qfd_ctx *ctx, const char *path, const qfd_array *a)
{
    char kind;
    int size;
    size_t nbytes = 0;
    qfd_status st = writable(ctx, a, &kind, &size, &nbytes);
    if (st)
        qfd_ctx_prefix(ctx, path);
    return st;
}

qfd_status qfd_npy_write(qfd_ctx *ctx, const char *path, const qfd_array *a)
{
    qfd_status st = QFD_OK;
    char *tmp = NULL;
    FILE *f = NULL;
    char kind = 0;
    int size = 0;
    size_t nbytes = 0;
    if ((st = writable(ctx, a, &kind, &size, &nbytes)))
        goto fail;
    char header[512]; /* 8 dims of at most 20 digits fit with room to spare */
    size_t hsize = format_header(a, kind, size, header, sizeof header);
    size_t plen = strlen(path) + 16;
    if (!(tmp = malloc(plen))) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        goto fail;
    }
    snprintf(tmp, plen, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st = qfd_fail(ctx, QFD_ERR_IO, "cannot create: %s", strerror(errno));
        free(tmp);
        tmp = NULL;
        goto fail;
    }
    fchmod(fd, 0644);
    if (!(f = fdopen(fd, "wb"))) {
        st = qfd_fail(ctx, QFD_ERR_IO, "cannot write: %s", strerror(errno));
        close(fd);
        goto fail;
    }
    int failed = fwrite(header, 1, hsize, f) != hsize || (nbytes && fwrite(a->data, 1, nbytes, f) != nbytes) ||
                 fflush(f) != 0 || fsync(fileno(f)) != 0;
    int saved = errno;
    failed |= fclose(f) != 0;
    f = NULL;
    if (failed) {
        st = qfd_fail(ctx, QFD_ERR_IO, "write failed: %s", strerror(saved ? saved : errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        st = qfd_fail(ctx, QFD_ERR_IO, "cannot rename the finished file into place: %s", strerror(errno));
        goto fail;
    }
    free(tmp);
    return QFD_OK;
fail:
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    qfd_ctx_prefix(ctx, path);
    return st;
}

/* ---- .npz: zip central directory ------------------------------------------ */

typedef struct zip_entry {
    char *name;
    uint32_t method, flags, crc;
    uint64_t csize, usize, offset;
} zip_entry;

static void free_entries(zip_entry *e, size_t n)
{
    for (size_t i = 0; e && i < n; i++)
        free(e[i].name);
    free(e);
}

static int read_at(FILE *f, uint64_t off, void *buf, size_t n)
{
    return off <= LONG_MAX && fseek(f, (long)off, SEEK_SET) == 0 && fread(buf, 1, n, f) == n;
}

static qfd_status not_zip(qfd_ctx *ctx, const char *why)
{
    return qfd_fail(ctx, QFD_ERR_PARSE, "not a valid .npz (zip) archive: %s", why);
}

/* Locates the central directory through the end record (and its zip64 twin). */
static qfd_status find_dir(qfd_ctx *ctx, FILE *f, uint64_t fsize, uint64_t *count, uint64_t *off, uint64_t *size)
{
    size_t tail = fsize < 22 + 65535 ? (size_t)fsize : 22 + 65535;
    uint8_t *b = malloc(tail ? tail : 1);
    qfd_status st = QFD_OK;
    if (!b)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    if (!read_at(f, fsize - tail, b, tail)) {
        st = qfd_fail(ctx, QFD_ERR_IO, "read failed: %s", strerror(errno));
        goto out;
    }
    size_t e = tail >= 22 ? tail - 22 + 1 : 0;
    while (e-- > 0 && rd32(b + e) != 0x06054b50)
        ;
    if (e == (size_t)-1) {
        st = not_zip(ctx, "no end-of-directory record (truncated file?)");
        goto out;
    }
    *count = rd16(b + e + 10);
    *size = rd32(b + e + 12);
    *off = rd32(b + e + 16);
    if (*count == 0xffff || *size == 0xffffffff || *off == 0xffffffff) {
        uint8_t z[56];
        if (e < 20 || rd32(b + e - 20) != 0x07064b50 || !read_at(f, rd64(b + e - 20 + 8), z, sizeof z) ||
            rd32(z) != 0x06064b50) {
            st = not_zip(ctx, "bad zip64 end-of-directory record");
            goto out;
        }
        *count = rd64(z + 32);
        *size = rd64(z + 40);
        *off = rd64(z + 48);
    }
    if (*off > fsize || *size > fsize - *off || *count > *size / 46)
        st = not_zip(ctx, "central directory lies outside the file (truncated file?)");
out:
    free(b);
    return st;
}

/* The zip64 extra field holds, in order, the 64-bit values whose 32-bit
 * fields were saturated to 0xffffffff. */
static int apply_zip64(zip_entry *z, const uint8_t *x, size_t len)
{
    while (len >= 4) {
        size_t id = rd16(x), n = rd16(x + 2);
        if (n > len - 4)
            return 0;
        if (id == 1) {
            uint64_t *fields[3] = {&z->usize, &z->csize, &z->offset};
            const uint8_t *p = x + 4;
            for (int i = 0; i < 3; i++) {
                if (*fields[i] != 0xffffffff)
                    continue;
                if ((size_t)(p - x - 4) + 8 > n)
                    return 0;
                *fields[i] = rd64(p);
                p += 8;
            }
        }
        x += 4 + n;
        len -= 4 + n;
    }
    return 1;
}

static qfd_status read_dir(qfd_ctx *ctx, FILE *f, uint64_t fsize, zip_entry **out, size_t *n_out)
{
    uint64_t count = 0, off = 0, size = 0;
    uint8_t *d = NULL;
    zip_entry *e = NULL;
    size_t n = 0;
    qfd_status st = find_dir(ctx, f, fsize, &count, &off, &size);
    if (st)
        goto fail;
    d = malloc(size ? (size_t)size : 1);
    e = calloc(count ? (size_t)count : 1, sizeof *e);
    if (!d || !e) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (!read_at(f, off, d, (size_t)size)) {
        st = qfd_fail(ctx, QFD_ERR_IO, "read failed: %s", strerror(errno));
        goto fail;
    }
    const uint8_t *p = d, *end = d + size;
    for (; n < count; n++) {
        size_t nl, xl, cl;
        if (end - p < 46 || rd32(p) != 0x02014b50 ||
            (nl = rd16(p + 28), xl = rd16(p + 30), cl = rd16(p + 32), (size_t)(end - p) - 46 < nl + xl + cl)) {
            st = not_zip(ctx, "corrupt central directory");
            goto fail;
        }
        zip_entry *z = &e[n];
        *z = (zip_entry){NULL, rd16(p + 10), rd16(p + 8), rd32(p + 16), rd32(p + 20), rd32(p + 24), rd32(p + 42)};
        if (!apply_zip64(z, p + 46 + nl, xl)) {
            st = not_zip(ctx, "corrupt zip64 extra field");
            goto fail;
        }
        if (!(z->name = malloc(nl + 1))) {
            st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
            goto fail;
        }
        memcpy(z->name, p + 46, nl);
        z->name[nl] = 0;
        p += 46 + nl + xl + cl;
    }
    free(d);
    *out = e;
    *n_out = n;
    return QFD_OK;
fail:
    free(d);
    free_entries(e, n); /* e[n] never holds a name when we get here */
    return st;
}

static qfd_status inflate_all(qfd_ctx *ctx, const uint8_t *in, uint64_t n_in, uint8_t *out, uint64_t n_out)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, -MAX_WBITS) != Z_OK)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "cannot start zlib inflate");
    s.next_in = (Bytef *)(uintptr_t)in; /* zlib's API is not const-correct */
    s.next_out = out;
    int zr;
    do { /* avail_in/avail_out are 32-bit, members may not be */
        if (!s.avail_in) {
            s.avail_in = n_in > UINT_MAX ? UINT_MAX : (uInt)n_in;
            n_in -= s.avail_in;
        }
        if (!s.avail_out) {
            s.avail_out = n_out > UINT_MAX ? UINT_MAX : (uInt)n_out;
            n_out -= s.avail_out;
        }
        zr = inflate(&s, Z_NO_FLUSH);
    } while (zr == Z_OK);
    int complete = zr == Z_STREAM_END && !s.avail_out && !n_out;
    const char *msg = s.msg;
    inflateEnd(&s);
    if (zr == Z_DATA_ERROR)
        return qfd_fail(ctx, QFD_ERR_PARSE, "corrupt deflate data: %s", msg ? msg : "invalid stream");
    if (zr == Z_MEM_ERROR)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory inflating");
    if (!complete)
        return qfd_fail(ctx, QFD_ERR_PARSE, "deflate data does not match the size in the zip directory (truncated?)");
    return QFD_OK;
}

/* Returns the member's uncompressed bytes, CRC-checked, in a new buffer. */
static qfd_status extract(qfd_ctx *ctx, FILE *f, uint64_t fsize, const zip_entry *z, uint8_t **out)
{
    uint8_t lh[30], *raw = NULL, *buf = NULL;
    qfd_status st = QFD_OK;
    *out = NULL;
    if (z->flags & 1)
        return qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "member is encrypted");
    if (z->method != 0 && z->method != 8)
        return qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "compression method %u is not supported (only stored and deflated)",
                        (unsigned)z->method);
    if (!read_at(f, z->offset, lh, sizeof lh) || rd32(lh) != 0x04034b50)
        return not_zip(ctx, "bad local file header (truncated file?)");
    uint64_t data = z->offset + 30 + rd16(lh + 26) + rd16(lh + 28);
    if (data > fsize || z->csize > fsize - data)
        return not_zip(ctx, "member data runs past the end of the file (truncated file?)");
    /* deflate cannot expand more than about 1032:1; a bigger claim is corrupt */
    if ((z->method == 0 && z->csize != z->usize) || z->usize / 1032 > z->csize + 1 || z->usize > SIZE_MAX / 2)
        return not_zip(ctx, "member sizes in the directory are inconsistent");
    if (qfd_over_memory_limit(ctx, z->usize)) {
        char a[32], b[32];
        return qfd_fail(ctx, QFD_ERR_LIMIT, "member of %s is over the memory limit of %s",
                        qfd_format_bytes(a, z->usize), qfd_format_bytes(b, qfd_ctx_memory_limit(ctx)));
    }
    buf = malloc(z->usize ? (size_t)z->usize : 1);
    raw = z->method == 8 ? malloc(z->csize ? (size_t)z->csize : 1) : buf;
    if (!buf || !raw) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory for %llu bytes", (unsigned long long)z->usize);
        goto fail;
    }
    if (!read_at(f, data, raw, (size_t)z->csize)) {
        st = qfd_fail(ctx, QFD_ERR_IO, "read failed: %s", strerror(errno));
        goto fail;
    }
    if (z->method == 8 && (st = inflate_all(ctx, raw, z->csize, buf, z->usize)))
        goto fail;
    if (crc32_z(0, buf, (z_size_t)z->usize) != z->crc) {
        st = qfd_fail(ctx, QFD_ERR_PARSE, "CRC mismatch: the archive is corrupt");
        goto fail;
    }
    if (raw != buf)
        free(raw);
    *out = buf;
    return QFD_OK;
fail:
    if (raw != buf)
        free(raw);
    free(buf);
    return st;
}

static int is_member(const char *entry, const char *name)
{
    size_t n = strlen(name);
    return !strncmp(entry, name, n) && !strcmp(entry + n, ".npy");
}

static qfd_status no_member(qfd_ctx *ctx, const char *const *names, int n_names, const zip_entry *e, size_t n)
{
    char want[256] = "", have[512] = "";
    size_t w = 0, h = 0;
    for (int i = 0; i < n_names && w < sizeof want; i++)
        w += (size_t)snprintf(want + w, sizeof want - w, "%s'%s'",
                              i == 0            ? ""
                              : i + 1 < n_names ? ", "
                                                : " or ",
                              names[i]);
    for (size_t i = 0; i < n && h < sizeof have; i++) {
        size_t len = strlen(e[i].name);
        int npy = len >= 4 && !strcmp(e[i].name + len - 4, ".npy");
        h += (size_t)snprintf(have + h, sizeof have - h, "%s%.*s", i ? ", " : "", (int)(npy ? len - 4 : len),
                              e[i].name);
    }
    return qfd_fail(ctx, QFD_ERR_ARG, "no array %s in the archive (it holds: %s)", want, n ? have : "nothing");
}

qfd_status qfd_npz_read_any(qfd_ctx *ctx, const char *path, const char *const *names, int n_names, int *which,
                            qfd_array *out)
{
    memset(out, 0, sizeof *out);
    zip_entry *e = NULL;
    size_t n = 0;
    qfd_status st = QFD_OK;
    FILE *f = fopen(path, "rb");
    struct stat sb;
    if (!f || fstat(fileno(f), &sb) != 0) {
        st = qfd_fail(ctx, QFD_ERR_IO, "cannot open: %s", strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = qfd_fail(ctx, QFD_ERR_IO, "not a regular file");
        goto fail;
    }
    if (sb.st_size == 0) {
        st = qfd_fail(ctx, QFD_ERR_PARSE, "file is empty, not a .npz archive");
        goto fail;
    }
    if ((st = read_dir(ctx, f, (uint64_t)sb.st_size, &e, &n)))
        goto fail;
    for (int k = 0; k < n_names; k++) {
        for (size_t i = 0; i < n; i++) {
            if (!is_member(e[i].name, names[k]))
                continue;
            uint8_t *buf;
            if ((st = extract(ctx, f, (uint64_t)sb.st_size, &e[i], &buf)) ||
                (st = npy_from_buffer(ctx, buf, (size_t)e[i].usize, out))) {
                qfd_ctx_prefix(ctx, e[i].name);
                goto fail;
            }
            if (which)
                *which = k;
            free_entries(e, n);
            fclose(f);
            return QFD_OK;
        }
    }
    st = no_member(ctx, names, n_names, e, n);
fail:
    free_entries(e, n);
    if (f)
        fclose(f);
    qfd_ctx_prefix(ctx, path);
    return st;
}

qfd_status qfd_npz_read(qfd_ctx *ctx, const char *path, const char *name, qfd_array *out)
{
    return qfd_npz_read_any(ctx, path, &name, 1, NULL, out);
}
