#include "core/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ctx.h"

qfd_status qfd_atomic_open(qfd_ctx *ctx, const char *path, qfd_atomic *a)
{
    memset(a, 0, sizeof *a);
    a->path = path;
    size_t n = strlen(path) + 16;
    if (!(a->tmp = malloc(n)))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    snprintf(a->tmp, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(a->tmp);
    if (fd >= 0 && !(a->f = fdopen(fd, "wb")))
        close(fd);
    if (!a->f) {
        qfd_status st = qfd_fail(ctx, QFD_ERR_IO, "%s: cannot write there: %s", path, strerror(errno));
        if (fd >= 0)
            unlink(a->tmp);
        free(a->tmp);
        a->tmp = NULL;
        return st;
    }
    fchmod(fd, 0644);
    return QFD_OK;
}

void qfd_atomic_abort(qfd_atomic *a)
{
    if (a->f)
        fclose(a->f);
    if (a->tmp)
        unlink(a->tmp);
    free(a->tmp);
    memset(a, 0, sizeof *a);
}

qfd_status qfd_atomic_commit(qfd_ctx *ctx, qfd_atomic *a)
{
    int err = ferror(a->f) ? (errno ? errno : EIO) : 0;
    if (!err && (fflush(a->f) != 0 || fsync(fileno(a->f)) != 0))
        err = errno;
    if (fclose(a->f) != 0 && !err)
        err = errno;
    a->f = NULL;
    if (!err && rename(a->tmp, a->path) != 0)
        err = errno;
    if (err) {
        qfd_status st = qfd_fail(ctx, QFD_ERR_IO, "%s: write failed: %s", a->path, strerror(err));
        qfd_atomic_abort(a);
        return st;
    }
    /* the rename itself survives a power cut once the folder is synced */
    const char *slash = strrchr(a->path, '/');
    char *dir = slash ? strndup(a->path, (size_t)(slash - a->path + (slash == a->path))) : strdup(".");
    int dfd = dir ? open(dir, O_RDONLY) : -1;
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(dir);
    free(a->tmp);
    memset(a, 0, sizeof *a);
    return QFD_OK;
}
