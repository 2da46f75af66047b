/* Time per op type: where a model's run and backward spend their time,
 * for users tuning a model (`--profile`) and for work on the kernels. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ctx.h"
#include "exec/exec_impl.h"

double qfd_exec_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

qfd_status qfd_exec_profile_start(qfd_ctx *ctx, qfd_exec *e)
{
    if (e->prof)
        return QFD_OK;
    e->prof = calloc(2 * e->g->n_nodes + 1, sizeof *e->prof);
    if (!e->prof)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    e->prof_runs = e->prof_backwards = 0;
    return QFD_OK;
}

typedef struct prof_row {
    const char *op, *domain;
    int64_t nodes;
    double fwd, bwd;
} prof_row;

static int by_total(const void *a, const void *b)
{
    const prof_row *x = a, *y = b;
    double tx = x->fwd + x->bwd, ty = y->fwd + y->bwd;
    return tx < ty ? 1 : tx > ty ? -1 : strcmp(x->op, y->op);
}

void qfd_exec_profile_write(const qfd_exec *e, FILE *f)
{
    if (!e->prof || !e->prof_runs)
        return;
    const size_t nn = e->g->n_nodes;
    prof_row *rows = calloc(nn + 1, sizeof *rows);
    if (!rows) {
        fprintf(f, "profile: out of memory\n");
        return;
    }
    size_t n_rows = 0;
    double total = 0.0;
    for (size_t i = 0; i < nn; i++) {
        if (e->nodes[i].folded)
            continue;
        const qfd_node *n = &e->g->nodes[i];
        const char *dom = n->domain ? n->domain : "";
        size_t r = 0;
        while (r < n_rows && (strcmp(rows[r].op, n->op_type) || strcmp(rows[r].domain, dom)))
            r++;
        if (r == n_rows)
            rows[n_rows++] = (prof_row){.op = n->op_type, .domain = dom};
        rows[r].nodes++;
        rows[r].fwd += e->prof[2 * i];
        rows[r].bwd += e->prof[2 * i + 1];
        total += e->prof[2 * i] + e->prof[2 * i + 1];
    }
    qsort(rows, n_rows, sizeof *rows, by_total);
    const double runs = (double)e->prof_runs, bws = e->prof_backwards ? (double)e->prof_backwards : 1.0;
    fprintf(f, "profile: %lld runs, %lld backward; ms per run (per backward)\n", (long long)e->prof_runs,
            (long long)e->prof_backwards);
    fprintf(f, "  %-24s %6s %11s %12s %7s\n", "op", "nodes", "forward", "backward", "share");
    for (size_t r = 0; r < n_rows; r++) {
        char name[64];
        snprintf(name, sizeof name, "%s%s%s", rows[r].domain, *rows[r].domain ? "." : "", rows[r].op);
        fprintf(f, "  %-24s %6lld %11.3f %12.3f %6.1f%%\n", name, (long long)rows[r].nodes, 1e3 * rows[r].fwd / runs,
                1e3 * rows[r].bwd / bws, total > 0 ? 100.0 * (rows[r].fwd + rows[r].bwd) / total : 0.0);
    }
    free(rows);
}
