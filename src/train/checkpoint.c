/* The checkpoint file, little-endian as the machine writes it:
 *   "QFDCKPT3", state (epoch, batch, step, seed, batch size, seen, hits as
 *   u64, loss_sum as f64, the loss terms' count as u64 and their sums as
 *   f64), source fingerprint (u64), optimizer kind and step
 *   (u64), config and stage (u64 length + bytes), float initializers (u64
 *   count, then per tensor: name, u64 count, floats), optimizer buffers (u64
 *   count, then per parameter: name, u64 count, m floats [, v floats]),
 *   CRC-32 of everything before it (u32). */
#include "train/checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/atomic.h"
#include "core/ctx.h"

/* Version 3 added the loss terms' sums. */
static const char k_magic[8] = {'Q', 'F', 'D', 'C', 'K', 'P', 'T', '3'};

/* ---- writing into a growing buffer ---------------------------------- */

typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
    int failed;
} wbuf;

static void put(wbuf *b, const void *src, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put_u64(wbuf *b, uint64_t v)
{
    put(b, &v, sizeof v);
}

static void put_str(wbuf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    put_u64(b, n);
    put(b, s, n);
}

static void put_floats(wbuf *b, const char *name, const float *v, int64_t n)
{
    put_str(b, name);
    put_u64(b, (uint64_t)n);
    put(b, v, (size_t)n * sizeof *v);
}

static bool is_float_init(const qfd_tensor *t)
{
    return (t->flags & QFD_T_INITIALIZER) && t->dtype == QFD_DT_FLOAT && t->data && qfd_tensor_numel(t) > 0;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

qfd_status qfd_checkpoint_save(qfd_ctx *ctx, const char *dir, const qfd_model *m, const qfd_optim *o, const int *params,
                               const qfd_train_state *s, const qfd_checkpoint_meta *meta)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return qfd_fail(ctx, QFD_ERR_IO, "checkpoint folder %s: %s", dir, strerror(errno));
    const qfd_graph *g = &m->graph;
    char *model = join(dir, "model.onnx"), *ckpt = join(dir, "checkpoint.bin");
    wbuf b = {0};
    qfd_status st = QFD_OK;
    if (!model || !ckpt) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((st = qfd_model_save(ctx, m, model)))
        goto out;
    put(&b, k_magic, sizeof k_magic);
    uint64_t head[7] = {(uint64_t)s->epoch,      (uint64_t)s->batch, (uint64_t)s->step, s->seed,
                        (uint64_t)s->batch_size, (uint64_t)s->seen,  (uint64_t)s->hits};
    put(&b, head, sizeof head);
    put(&b, &s->loss_sum, sizeof s->loss_sum);
    int64_t nt = s->n_terms > 0 && s->n_terms <= QFD_LOSS_TERMS_MAX ? s->n_terms : 0;
    put_u64(&b, (uint64_t)nt);
    put(&b, s->term_sum, (size_t)nt * sizeof *s->term_sum);
    put_u64(&b, meta->source);
    put_u64(&b, (uint64_t)o->kind);
    put_u64(&b, (uint64_t)o->step);
    put_str(&b, meta->config);
    put_str(&b, meta->stage);
    uint64_t n_init = 0;
    for (size_t i = 0; i < g->n_tensors; i++)
        n_init += is_float_init(&g->tensors[i]);
    put_u64(&b, n_init);
    for (size_t i = 0; i < g->n_tensors; i++)
        if (is_float_init(&g->tensors[i]))
            put_floats(&b, g->tensors[i].name, g->tensors[i].data, qfd_tensor_numel(&g->tensors[i]));
    put_u64(&b, o->n_params);
    for (size_t i = 0; i < o->n_params; i++) {
        put_floats(&b, g->tensors[params[i]].name, o->m[i], o->params[i].n);
        if (o->kind == QFD_OPT_ADAMW)
            put(&b, o->v[i], (size_t)o->params[i].n * sizeof(float));
    }
    uint32_t crc = (uint32_t)crc32(0L, b.p, (uInt)0);
    for (size_t off = 0; off < b.len;) { /* crc32 takes at most UINT_MAX bytes a call */
        size_t n = b.len - off < (1u << 30) ? b.len - off : (1u << 30);
        crc = (uint32_t)crc32(crc, b.p + off, (uInt)n);
        off += n;
    }
    put(&b, &crc, sizeof crc);
    if (b.failed) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "%s: out of memory", ckpt);
        goto out;
    }
    qfd_atomic f;
    if (!(st = qfd_atomic_open(ctx, ckpt, &f))) {
        fwrite(b.p, 1, b.len, f.f); /* a short write shows as ferror in commit */
        st = qfd_atomic_commit(ctx, &f);
    }
out:
    free(b.p);
    free(model);
    free(ckpt);
    return st;
}

/* ---- reading, every length checked against what is left ------------- */

typedef struct rbuf {
    const uint8_t *p;
    size_t len, off;
    int bad;
} rbuf;

static const void *take(rbuf *r, size_t n)
{
    if (r->bad || n > r->len - r->off) {
        r->bad = 1;
        return NULL;
    }
    const void *p = r->p + r->off;
    r->off += n;
    return p;
}

static uint64_t take_u64(rbuf *r)
{
    uint64_t v = 0;
    const void *p = take(r, sizeof v);
    if (p)
        memcpy(&v, p, sizeof v);
    return v;
}

/* A length-prefixed string, copied and terminated; NULL when malformed. */
static char *take_str(rbuf *r)
{
    uint64_t n = take_u64(r);
    const char *p = take(r, n < SIZE_MAX ? (size_t)n : SIZE_MAX);
    char *s = p ? malloc((size_t)n + 1) : NULL;
    if (s) {
        memcpy(s, p, (size_t)n);
        s[n] = 0;
    } else {
        r->bad = 1;
    }
    return s;
}

/* Floats of the named record; checks that there are `want` of them. */
static const float *take_floats(qfd_ctx *ctx, rbuf *r, const char *path, const char *name, int64_t want)
{
    uint64_t n = take_u64(r);
    if (!r->bad && n != (uint64_t)want) {
        qfd_fail(ctx, QFD_ERR_INVALID, "%s: '%s' has %llu values, this model's has %lld: made for another model", path,
                 name, (unsigned long long)n, (long long)want);
        return NULL;
    }
    const float *p = take(r, (size_t)n * sizeof(float));
    if (!p)
        qfd_fail(ctx, QFD_ERR_PARSE, "%s: truncated or corrupt", path);
    return p;
}

static qfd_status slurp(qfd_ctx *ctx, const char *path, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return qfd_fail(ctx, QFD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    qfd_status st = QFD_OK;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = qfd_fail(ctx, QFD_ERR_IO, "%s: not a regular file", path);
    } else if (!(*buf = malloc((size_t)sb.st_size + 1))) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "%s: out of memory", path);
    } else if ((*len = fread(*buf, 1, (size_t)sb.st_size, f)) != (size_t)sb.st_size) {
        st = qfd_fail(ctx, QFD_ERR_IO, "%s: read error", path);
        free(*buf);
        *buf = NULL;
    }
    fclose(f);
    return st;
}

/* The line of text ("k=v\n" lines) whose key is line's key, or NULL; *n is
 * its length without the newline. */
static const char *find_key(const char *text, const char *line, size_t key, size_t *n)
{
    for (const char *h = text; h && *h; h = strchr(h, '\n') ? strchr(h, '\n') + 1 : NULL) {
        const char *end = strchr(h, '\n');
        *n = end ? (size_t)(end - h) : strlen(h);
        if (*n > key && !strncmp(h, line, key + 1))
            return h;
    }
    return NULL;
}

/* Fails naming the first "--flag=value" line of want that have differs on. */
static qfd_status same_config(qfd_ctx *ctx, const char *dir, const char *have, const char *want)
{
    for (const char *line = want; line && *line;) {
        const char *end = strchr(line, '\n'), *eq = strchr(line, '=');
        size_t n = end ? (size_t)(end - line) : strlen(line), hn = 0;
        if (eq && eq < line + n) {
            const char *h = find_key(have, line, (size_t)(eq - line), &hn);
            if (!h)
                return qfd_fail(ctx, QFD_ERR_ARG, "%s was saved without %.*s: resume with the same options", dir,
                                (int)n, line);
            if (hn != n || strncmp(h, line, n))
                return qfd_fail(ctx, QFD_ERR_ARG,
                                "%s was saved with %.*s, this run has %.*s: resume with the same value", dir, (int)hn,
                                h, (int)n, line);
        }
        line = end ? end + 1 : NULL;
    }
    return QFD_OK;
}

/* DIR/checkpoint.bin read whole, its magic and checksum verified; *r
 * then stands after the magic, over everything before the checksum. */
static qfd_status read_checked(qfd_ctx *ctx, const char *path, uint8_t **buf, rbuf *r)
{
    size_t len = 0;
    qfd_status st = slurp(ctx, path, buf, &len);
    if (st)
        return st;
    uint32_t crc = 0;
    if (len < sizeof k_magic + sizeof crc || memcmp(*buf, k_magic, sizeof k_magic))
        return qfd_fail(ctx, QFD_ERR_PARSE, "%s: not a qfd-onnx checkpoint (or one of an older version)", path);
    memcpy(&crc, *buf + len - sizeof crc, sizeof crc);
    uint32_t sum = (uint32_t)crc32(0L, *buf, 0);
    for (size_t off = 0; off < len - sizeof crc;) {
        size_t n = len - sizeof crc - off < (1u << 30) ? len - sizeof crc - off : (1u << 30);
        sum = (uint32_t)crc32(sum, *buf + off, (uInt)n);
        off += n;
    }
    if (sum != crc)
        return qfd_fail(ctx, QFD_ERR_PARSE, "%s: checksum mismatch: the file is corrupt", path);
    *r = (rbuf){*buf, len - sizeof crc, sizeof k_magic, 0};
    return QFD_OK;
}

typedef struct head {
    qfd_train_state s;
    uint64_t source, kind, ostep;
    char *config, *stage;
} head;

/* Everything before the tensors; config and stage are malloc'd. */
static qfd_status read_head(qfd_ctx *ctx, const char *path, rbuf *r, head *h)
{
    memset(h, 0, sizeof *h);
    qfd_train_state *ns = &h->s;
    ns->epoch = (int64_t)take_u64(r);
    ns->batch = (int64_t)take_u64(r);
    ns->step = (int64_t)take_u64(r);
    ns->seed = take_u64(r);
    ns->batch_size = (int64_t)take_u64(r);
    ns->seen = (int64_t)take_u64(r);
    ns->hits = (int64_t)take_u64(r);
    const void *ls = take(r, sizeof ns->loss_sum);
    if (ls)
        memcpy(&ns->loss_sum, ls, sizeof ns->loss_sum);
    uint64_t nt = take_u64(r);
    const void *ts = nt <= QFD_LOSS_TERMS_MAX ? take(r, (size_t)nt * sizeof(double)) : NULL;
    if (ts) {
        ns->n_terms = (int64_t)nt;
        memcpy(ns->term_sum, ts, (size_t)nt * sizeof(double));
    } else {
        r->bad = 1;
    }
    h->source = take_u64(r);
    h->kind = take_u64(r);
    h->ostep = take_u64(r);
    h->config = take_str(r);
    h->stage = take_str(r);
    if (r->bad)
        return qfd_fail(ctx, QFD_ERR_PARSE, "%s: truncated or corrupt", path);
    return QFD_OK;
}

qfd_status qfd_checkpoint_stage(qfd_ctx *ctx, const char *dir, char **stage)
{
    *stage = NULL;
    char *path = join(dir, "checkpoint.bin");
    uint8_t *buf = NULL;
    rbuf r;
    head h = {0};
    qfd_status st = path ? QFD_OK : qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    if (!st && !(st = read_checked(ctx, path, &buf, &r)) && !(st = read_head(ctx, path, &r, &h))) {
        *stage = h.stage;
        h.stage = NULL;
    }
    free(h.config);
    free(h.stage);
    free(buf);
    free(path);
    return st;
}

qfd_status qfd_checkpoint_load(qfd_ctx *ctx, const char *dir, qfd_model *m, qfd_optim *o, const int *params,
                               const qfd_checkpoint_meta *expect, qfd_train_state *s, char **stage_out)
{
    if (stage_out)
        *stage_out = NULL;
    char *path = join(dir, "checkpoint.bin"), *name = NULL;
    uint8_t *buf = NULL;
    head h = {0};
    rbuf r;
    qfd_status st;
    if (!path)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    if ((st = read_checked(ctx, path, &buf, &r)) || (st = read_head(ctx, path, &r, &h)))
        goto out;
    qfd_train_state ns = h.s;
    uint64_t source = h.source, kind = h.kind, ostep = h.ostep;
    char *config = h.config;
    if (source != expect->source) {
        st = qfd_fail(ctx, QFD_ERR_ARG, "%s was made from another model than %s", dir, m->path ? m->path : "this one");
        goto out;
    }
    if (kind != (uint64_t)o->kind) {
        st = qfd_fail(ctx, QFD_ERR_ARG, "%s was saved with --optimizer %s: resume with the same value", dir,
                      kind == QFD_OPT_ADAMW ? "adamw" : "sgd");
        goto out;
    }
    if ((st = same_config(ctx, dir, config, expect->config)))
        goto out;
    /* Everything is checked before anything is overwritten, so a failed
     * load leaves the model as it was built. */
    qfd_graph *g = &m->graph;
    size_t mark = r.off;
    for (int pass = 0; pass < 2; pass++) {
        r.off = mark;
        uint64_t n_init = take_u64(&r);
        for (uint64_t i = 0; !r.bad && i < n_init; i++) {
            free(name);
            if (!(name = take_str(&r)))
                break;
            int t = qfd_graph_find(g, name);
            if (t < 0 || !is_float_init(&g->tensors[t])) {
                st = qfd_fail(ctx, QFD_ERR_INVALID, "%s: holds '%s', which this model has not: made for another model",
                              path, name);
                goto out;
            }
            const float *v = take_floats(ctx, &r, path, name, qfd_tensor_numel(&g->tensors[t]));
            if (!v) {
                st = QFD_ERR_INVALID;
                goto out;
            }
            if (pass)
                memcpy(g->tensors[t].data, v, (size_t)qfd_tensor_numel(&g->tensors[t]) * sizeof *v);
        }
        uint64_t n_params = take_u64(&r);
        if (!r.bad && n_params != o->n_params) {
            st = qfd_fail(ctx, QFD_ERR_INVALID, "%s: %llu trained parameters, this run has %zu: made for another model",
                          path, (unsigned long long)n_params, o->n_params);
            goto out;
        }
        for (size_t i = 0; !r.bad && i < o->n_params; i++) {
            free(name);
            if (!(name = take_str(&r)))
                break;
            if (strcmp(name, g->tensors[params[i]].name)) {
                st = qfd_fail(ctx, QFD_ERR_INVALID, "%s: parameter %zu is '%s', this run's is '%s'", path, i, name,
                              g->tensors[params[i]].name);
                goto out;
            }
            size_t n = (size_t)o->params[i].n;
            const float *mv = take_floats(ctx, &r, path, name, o->params[i].n);
            const float *vv = o->kind == QFD_OPT_ADAMW ? take(&r, n * sizeof(float)) : NULL;
            if (!mv || (o->kind == QFD_OPT_ADAMW && !vv)) {
                st = mv ? qfd_fail(ctx, QFD_ERR_PARSE, "%s: truncated or corrupt", path) : QFD_ERR_INVALID;
                goto out;
            }
            if (pass) {
                memcpy(o->m[i], mv, n * sizeof(float));
                if (vv)
                    memcpy(o->v[i], vv, n * sizeof(float));
            }
        }
        if (r.bad || (!pass && r.off != r.len)) {
            st = qfd_fail(ctx, QFD_ERR_PARSE, "%s: truncated or corrupt", path);
            goto out;
        }
    }
    o->step = (int64_t)ostep;
    *s = ns;
    if (stage_out) {
        *stage_out = h.stage;
        h.stage = NULL;
    }
out:
    free(name);
    free(h.config);
    free(h.stage);
    free(buf);
    free(path);
    return st;
}

bool qfd_checkpoint_exists(const char *dir)
{
    char *path = join(dir, "checkpoint.bin");
    struct stat sb;
    bool yes = path && stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
    free(path);
    return yes;
}
