#include "train/checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ctx.h"

static const char k_magic[8] = {'Q', 'F', 'D', 'C', 'K', 'P', 'T', '1'};

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int put(FILE *f, const void *p, size_t n)
{
    return fwrite(p, 1, n, f) == n ? 0 : -1;
}

qfd_status qfd_checkpoint_save(qfd_ctx *ctx, const char *dir, const qfd_model *m, const qfd_optim *o,
                               const qfd_train_state *s)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return qfd_fail(ctx, QFD_ERR_IO, "checkpoint folder %s: %s", dir, strerror(errno));
    char *model = join(dir, "model.onnx"), *state = join(dir, "state.bin"), *tmp = join(dir, "state.bin.tmp.XXXXXX");
    qfd_status st = QFD_OK;
    FILE *f = NULL;
    int fd = -1;
    if (!model || !state || !tmp) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((st = qfd_model_save(ctx, m, model)))
        goto out;
    if ((fd = mkstemp(tmp)) < 0 || !(f = fdopen(fd, "wb"))) {
        st = qfd_fail(ctx, QFD_ERR_IO, "%s: cannot write: %s", state, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        goto out;
    }
    uint64_t head[8] = {(uint64_t)s->epoch,      (uint64_t)s->batch, (uint64_t)s->step,     s->seed,
                        (uint64_t)s->batch_size, (uint64_t)o->kind,  (uint64_t)o->n_params, (uint64_t)o->step};
    int bad = put(f, k_magic, sizeof k_magic) || put(f, head, sizeof head);
    for (size_t i = 0; !bad && i < o->n_params; i++) {
        size_t n = (size_t)o->params[i].n;
        bad = put(f, &o->params[i].n, sizeof o->params[i].n) || put(f, o->m[i], n * sizeof(float)) ||
              (o->kind == QFD_OPT_ADAMW && put(f, o->v[i], n * sizeof(float)));
    }
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, state) != 0) {
        st = qfd_fail(ctx, QFD_ERR_IO, "%s: write failed: %s", state, strerror(errno));
        unlink(tmp);
    }
out:
    free(model);
    free(state);
    free(tmp);
    return st;
}

qfd_status qfd_checkpoint_load_state(qfd_ctx *ctx, const char *dir, qfd_optim *o, qfd_train_state *s)
{
    char *path = join(dir, "state.bin");
    if (!path)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    qfd_status st = QFD_OK;
    FILE *f = fopen(path, "rb");
    char magic[8];
    uint64_t head[8];
    if (!f) {
        st = qfd_fail(ctx, QFD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, k_magic, 8) || fread(head, sizeof head, 1, f) != 1) {
        st = qfd_fail(ctx, QFD_ERR_PARSE, "%s: not a qfd-onnx checkpoint state", path);
        goto out;
    }
    if (head[5] != (uint64_t)o->kind || head[6] != o->n_params) {
        st = qfd_fail(ctx, QFD_ERR_ARG, "%s: saved for another optimizer or model (%llu parameters, this run has %zu)",
                      path, (unsigned long long)head[6], o->n_params);
        goto out;
    }
    *s = (qfd_train_state){(int64_t)head[0], (int64_t)head[1], (int64_t)head[2], head[3], (int64_t)head[4]};
    o->step = (int64_t)head[7];
    for (size_t i = 0; i < o->n_params; i++) {
        int64_t n;
        size_t cnt = (size_t)o->params[i].n;
        if (fread(&n, sizeof n, 1, f) != 1 || n != o->params[i].n || fread(o->m[i], sizeof(float), cnt, f) != cnt ||
            (o->kind == QFD_OPT_ADAMW && fread(o->v[i], sizeof(float), cnt, f) != cnt)) {
            st = qfd_fail(ctx, QFD_ERR_PARSE, "%s: truncated or for another model (parameter %zu)", path, i);
            goto out;
        }
    }
out:
    if (f)
        fclose(f);
    free(path);
    return st;
}
