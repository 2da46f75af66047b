/* Time per op type: where a model's run and backward spend their time,
 * for users tuning a model (`--profile`) and for work on the kernels. The
 * multiply-adds of the ops that declare them (op.h: macs) turn time into
 * GFLOP/s (2 FLOP per multiply-add), which says how far a kernel is from
 * what the machine's FMA units can do; the slowest nodes are listed too,
 * since one op type covers layers of very different shapes. */
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/proc.h"
#include "exec/exec_impl.h"

#define PROF_SLOTS 4
#define PROF_TOP_NODES 8

qfd_status qfd_exec_profile_start(qfd_ctx *ctx, qfd_exec *e)
{
    if (e->prof)
        return QFD_OK;
    e->prof = calloc(PROF_SLOTS * e->g->n_nodes + 1, sizeof *e->prof);
    if (!e->prof)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    e->prof_runs = e->prof_backwards = 0;
    return QFD_OK;
}

void qfd_exec_profile_add(qfd_exec *e, size_t i, bool backward, double seconds, const qfd_op_ctx *oc)
{
    double *p = e->prof + PROF_SLOTS * i;
    p[backward] += seconds;
    const qfd_op_def *def = e->nodes[i].def;
    if (def->macs)
        p[2 + backward] += def->macs(oc, backward);
}

typedef struct prof_row {
    const char *op, *domain;
    int64_t nodes;
    double fwd, bwd, fwd_macs, bwd_macs;
} prof_row;

static int by_total(const void *a, const void *b)
{
    const prof_row *x = a, *y = b;
    double tx = x->fwd + x->bwd, ty = y->fwd + y->bwd;
    return tx < ty ? 1 : tx > ty ? -1 : strcmp(x->op, y->op);
}

/* "  123.4" GFLOP/s, or blank when the op declares no multiply-adds. */
static void rate(char *buf, size_t cap, double macs, double seconds)
{
    if (macs > 0.0 && seconds > 0.0)
        snprintf(buf, cap, "%8.1f", 2e-9 * macs / seconds);
    else
        snprintf(buf, cap, "%8s", "");
}

static void write_types(const qfd_exec *e, FILE *f, prof_row *rows, double runs, double bws)
{
    const size_t nn = e->g->n_nodes;
    size_t n_rows = 0;
    double total = 0.0;
    for (size_t i = 0; i < nn; i++) {
        if (e->nodes[i].folded)
            continue;
        const qfd_node *n = &e->g->nodes[i];
        const char *dom = n->domain ? n->domain : "";
        const double *p = e->prof + PROF_SLOTS * i;
        size_t r = 0;
        while (r < n_rows && (strcmp(rows[r].op, n->op_type) || strcmp(rows[r].domain, dom)))
            r++;
        if (r == n_rows)
            rows[n_rows++] = (prof_row){.op = n->op_type, .domain = dom};
        rows[r].nodes++;
        rows[r].fwd += p[0];
        rows[r].bwd += p[1];
        rows[r].fwd_macs += p[2];
        rows[r].bwd_macs += p[3];
        total += p[0] + p[1];
    }
    qsort(rows, n_rows, sizeof *rows, by_total);
    fprintf(f, "  %-24s %6s %11s %8s %12s %8s %7s\n", "op", "nodes", "forward", "GFLOP/s", "backward", "GFLOP/s",
            "share");
    for (size_t r = 0; r < n_rows; r++) {
        char name[64], rf[16], rb[16];
        snprintf(name, sizeof name, "%s%s%s", rows[r].domain, *rows[r].domain ? "." : "", rows[r].op);
        rate(rf, sizeof rf, rows[r].fwd_macs, rows[r].fwd);
        rate(rb, sizeof rb, rows[r].bwd_macs, rows[r].bwd);
        fprintf(f, "  %-24s %6lld %11.3f %s %12.3f %s %6.1f%%\n", name, (long long)rows[r].nodes,
                1e3 * rows[r].fwd / runs, rf, 1e3 * rows[r].bwd / bws, rb,
                total > 0 ? 100.0 * (rows[r].fwd + rows[r].bwd) / total : 0.0);
    }
}

typedef struct node_time {
    size_t i;
    double t;
} node_time;

static int by_time(const void *a, const void *b)
{
    const node_time *x = a, *y = b;
    return x->t < y->t ? 1 : x->t > y->t ? -1 : (x->i > y->i) - (x->i < y->i);
}

static void write_nodes(const qfd_exec *e, FILE *f, node_time *order, double runs, double bws)
{
    size_t n = 0;
    for (size_t i = 0; i < e->g->n_nodes; i++)
        if (!e->nodes[i].folded)
            order[n++] = (node_time){i, e->prof[PROF_SLOTS * i] + e->prof[PROF_SLOTS * i + 1]};
    qsort(order, n, sizeof *order, by_time);
    fprintf(f, "  slowest nodes: %-28s %-18s %11s %8s %12s %8s\n", "name", "op", "forward", "GFLOP/s", "backward",
            "GFLOP/s");
    for (size_t r = 0; r < n && r < PROF_TOP_NODES; r++) {
        const size_t i = order[r].i;
        const qfd_node *nd = &e->g->nodes[i];
        const double *p = e->prof + PROF_SLOTS * i;
        char name[32], rf[16], rb[16];
        if (nd->name && *nd->name)
            snprintf(name, sizeof name, "%s", nd->name);
        else
            snprintf(name, sizeof name, "#%zu", i);
        rate(rf, sizeof rf, p[2], p[0]);
        rate(rb, sizeof rb, p[3], p[1]);
        fprintf(f, "  %15s%-28s %-18s %11.3f %s %12.3f %s\n", "", name, nd->op_type, 1e3 * p[0] / runs, rf,
                1e3 * p[1] / bws, rb);
    }
}

void qfd_exec_profile_write(const qfd_exec *e, FILE *f)
{
    if (!e->prof || !e->prof_runs)
        return;
    const size_t nn = e->g->n_nodes;
    prof_row *rows = calloc(nn + 1, sizeof *rows);
    node_time *order = calloc(nn + 1, sizeof *order);
    if (!rows || !order) {
        fprintf(f, "profile: out of memory\n");
        free(rows);
        free(order);
        return;
    }
    const double runs = (double)e->prof_runs, bws = e->prof_backwards ? (double)e->prof_backwards : 1.0;
    fprintf(f, "profile: %lld runs, %lld backward; ms per run (per backward), GFLOP/s = 2 x multiply-adds / s\n",
            (long long)e->prof_runs, (long long)e->prof_backwards);
    write_types(e, f, rows, runs, bws);
    write_nodes(e, f, order, runs, bws);
    free(rows);
    free(order);
}
