/* Inference-only fusion of a Conv and the elementwise nodes after it:
 *   Conv [-> Add(., Z)] -> Relu | LeakyRelu | Clip (bounds known:
 *   attributes, initializers or Constant nodes)
 * becomes one com.microsoft FusedConv node: ONNX Runtime's contrib op, the
 * Conv's inputs and attributes plus the sum input Z (a residual branch) and
 * activation / activation_params. The Conv kernels add Z and apply the
 * activation to each output block while it is still in cache, instead of
 * separate nodes reading and writing the whole tensor again. The Conv's
 * output must feed only the Add (or the activation), and Z must be computed
 * by the graph: a constant Z is a bias, often broadcast, left to the Add.
 *
 * The result is a model for the executor's forward only: FusedConv has no
 * backward, so a trainer refuses it, and a writer would give ONNX Runtime's
 * op, not the ONNX one; eval and run apply the pass, convert and train
 * never do. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "ir/edit.h"
#include "ir/model_info.h"
#include "passes/passes.h"

#define FUSED_DOMAIN "com.microsoft"

typedef struct act_spec {
    const char *name;
    size_t n_params;
    float params[2];
    int bound_nodes[2]; /* Constant nodes giving Clip's bounds, -1 if none */
} act_spec;

/* The activation node n as FusedConv attributes, or false when it is not
 * one the Conv kernels apply. Omitted Clip bounds are the float range, as
 * the Clip op takes them. */
static bool act_of(const qfd_model *m, const qfd_graph *g, const qfd_node *n, act_spec *a)
{
    memset(a, 0, sizeof *a);
    a->bound_nodes[0] = a->bound_nodes[1] = -1;
    if (n->n_out != 1 || n->n_in < 1)
        return false;
    if (qfd_node_is(n, "Relu")) {
        a->name = "Relu";
        return n->n_in == 1;
    }
    if (qfd_node_is(n, "LeakyRelu")) {
        a->name = "LeakyRelu";
        a->n_params = 1;
        a->params[0] = qfd_attr_float(n, "alpha", 0.01f);
        return n->n_in == 1;
    }
    if (!qfd_node_is(n, "Clip") || n->n_in > 3)
        return false;
    a->name = "Clip";
    a->n_params = 2;
    a->params[0] = -FLT_MAX;
    a->params[1] = FLT_MAX;
    if (qfd_model_opset(m, "") < 11) {
        a->params[0] = qfd_attr_float(n, "min", -FLT_MAX);
        a->params[1] = qfd_attr_float(n, "max", FLT_MAX);
        return n->n_in == 1;
    }
    for (size_t k = 1; k < n->n_in; k++)
        if (n->in[k] >= 0 && !qfd_graph_known_scalar(g, n->in[k], &a->params[k - 1], &a->bound_nodes[k - 1]))
            return false;
    return true;
}

/* Renames conv to FusedConv (op and dom: its new, allocated names). */
static void become_fused(qfd_node *conv, char *op, char *dom)
{
    free(conv->op_type);
    free(conv->domain);
    conv->op_type = op;
    conv->domain = dom;
}

/* Makes the Conv node ci a FusedConv writing what the activation wrote.
 * Everything is allocated before anything changes. */
static bool rewrite(qfd_node *conv, const qfd_node *act, const act_spec *a)
{
    char *op = strdup("FusedConv"), *dom = strdup(FUSED_DOMAIN), *an = strdup("activation"),
         *pn = a->n_params ? strdup("activation_params") : NULL, *av = strdup(a->name);
    float *pv = a->n_params ? malloc(a->n_params * sizeof *pv) : NULL;
    qfd_attr *attrs = realloc(conv->attrs, (conv->n_attrs + 2) * sizeof *attrs);
    if (attrs)
        conv->attrs = attrs;
    if (!op || !dom || !an || !av || !attrs || (a->n_params && (!pn || !pv))) {
        free(op), free(dom), free(an), free(pn), free(av), free(pv);
        return false;
    }
    qfd_attr *s = &conv->attrs[conv->n_attrs++];
    memset(s, 0, sizeof *s);
    s->name = an;
    s->has_type = true;
    s->type = 3; /* STRING */
    s->s = (qfd_blob){true, strlen(av), (uint8_t *)av};
    if (a->n_params) {
        qfd_attr *f = &conv->attrs[conv->n_attrs++];
        memset(f, 0, sizeof *f);
        f->name = pn;
        f->has_type = true;
        f->type = 6; /* FLOATS */
        memcpy(pv, a->params, a->n_params * sizeof *pv);
        f->floats = pv;
        f->n_floats = a->n_params;
    }
    become_fused(conv, op, dom);
    conv->out[0] = act->out[0];
    return true;
}

/* The model imports FusedConv's domain, which the op lookup goes by. */
static bool import_domain(qfd_model *m)
{
    return qfd_model_opset(m, FUSED_DOMAIN) >= 1 || qfd_model_set_opset(m, FUSED_DOMAIN, 1) == 0;
}

/* Reads of tensor t by nodes other than the dropped ones, and by graph outputs. */
static int kept_consumers(const qfd_graph *g, const bool *drop, int t)
{
    int n = qfd_graph_n_readers(g, t);
    for (size_t i = 0; i < g->n_nodes; i++)
        for (size_t k = 0; drop[i] && k < g->nodes[i].n_in; k++)
            n -= g->nodes[i].in[k] == t;
    return n;
}

/* A FusedConv made by fuse_sums, which an activation may still join. */
static bool is_fusable_conv(const qfd_node *n)
{
    if (qfd_node_is(n, "Conv"))
        return true;
    if (strcmp(n->op_type, "FusedConv") || !n->domain || strcmp(n->domain, FUSED_DOMAIN))
        return false;
    for (size_t i = 0; i < n->n_attrs; i++)
        if (n->attrs[i].name && !strcmp(n->attrs[i].name, "activation"))
            return false;
    return true;
}

/* Conv -> Add(., z): the Conv node becomes FusedConv(X, W, B, Z) writing
 * the Add's output (the graph is sorted again afterwards: z may come later). */
static bool rewrite_sum(qfd_node *conv, const qfd_node *add, int z)
{
    char *op = strdup("FusedConv"), *dom = strdup(FUSED_DOMAIN);
    int *in = malloc(4 * sizeof *in);
    if (!op || !dom || !in) {
        free(op), free(dom), free(in);
        return false;
    }
    for (size_t k = 0; k < 3; k++)
        in[k] = k < conv->n_in ? conv->in[k] : -1;
    in[3] = z;
    free(conv->in);
    conv->in = in;
    conv->n_in = 4;
    become_fused(conv, op, dom);
    conv->out[0] = add->out[0];
    return true;
}

static bool computed_by_graph(const qfd_graph *g, int t)
{
    const qfd_tensor *tt = &g->tensors[t];
    if (tt->flags & QFD_T_INPUT)
        return true;
    return !(tt->flags & QFD_T_INITIALIZER) && tt->producer >= 0 && !qfd_node_is(&g->nodes[tt->producer], "Constant");
}

static qfd_status fuse_sums(qfd_ctx *ctx, qfd_model *m, int *fused)
{
    qfd_graph *g = &m->graph;
    bool *drop = calloc(g->n_nodes + 1, sizeof *drop);
    if (!drop)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    int n = 0;
    qfd_status st = QFD_OK;
    for (size_t ai = 0; ai < g->n_nodes; ai++) {
        const qfd_node *add = &g->nodes[ai];
        if (!qfd_node_is(add, "Add") || add->n_in != 2 || add->n_out != 1 || add->in[0] < 0 || add->in[1] < 0 ||
            add->in[0] == add->in[1] || add->out[0] < 0)
            continue;
        /* the later input first: its Conv ran last, the other is ready */
        for (int k = 1; k >= 0; k--) {
            const int t = add->in[k], z = add->in[1 - k], ci = g->tensors[t].producer;
            if (ci < 0 || drop[ci] || !qfd_node_is(&g->nodes[ci], "Conv") || g->nodes[ci].n_out != 1 ||
                g->nodes[ci].n_in > 3 || qfd_graph_n_readers(g, t) != 1 || !computed_by_graph(g, z))
                continue;
            if ((!*fused && !n && !import_domain(m)) || !rewrite_sum(&g->nodes[ci], add, z)) {
                st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory fusing sums");
                goto out;
            }
            drop[ai] = true;
            n++;
            break;
        }
    }
out:
    if (n) {
        qfd_graph_drop_nodes(g, drop);
        qfd_status vs = qfd_graph_validate(ctx, g);
        st = st ? st : vs;
    }
    *fused += n;
    free(drop);
    return st;
}

qfd_status qfd_pass_fuse_act(qfd_ctx *ctx, qfd_model *m, int *fused)
{
    qfd_graph *g = &m->graph;
    *fused = 0;
    qfd_status fs = fuse_sums(ctx, m, fused);
    if (fs)
        return fs;
    const int sums = *fused;
    bool *drop = calloc(g->n_nodes + 1, sizeof *drop), *bounds = calloc(g->n_nodes + 1, sizeof *bounds);
    if (!drop || !bounds) {
        free(drop), free(bounds);
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    }
    qfd_status st = QFD_OK;
    for (size_t ai = 0; ai < g->n_nodes; ai++) {
        const qfd_node *act = &g->nodes[ai];
        if (act->n_in < 1 || act->in[0] < 0)
            continue;
        const int x = act->in[0], ci = g->tensors[x].producer;
        if (ci < 0 || drop[ci] || !is_fusable_conv(&g->nodes[ci]) || g->nodes[ci].n_out != 1 ||
            qfd_graph_n_readers(g, x) != 1)
            continue;
        act_spec a;
        if (!act_of(m, g, act, &a))
            continue;
        if ((!*fused && !import_domain(m)) || !rewrite(&g->nodes[ci], act, &a)) {
            st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory fusing activations");
            break;
        }
        drop[ai] = true;
        for (int k = 0; k < 2; k++)
            if (a.bound_nodes[k] >= 0)
                bounds[a.bound_nodes[k]] = true;
        ++*fused;
    }
    if (*fused > sums) {
        /* The Constant nodes that only gave Clip its bounds go too. */
        for (size_t i = 0; i < g->n_nodes; i++)
            if (bounds[i] && g->nodes[i].n_out == 1 && g->nodes[i].out[0] >= 0)
                drop[i] = kept_consumers(g, drop, g->nodes[i].out[0]) == 0;
        qfd_graph_drop_nodes(g, drop);
        qfd_status vs = qfd_graph_validate(ctx, g);
        st = st ? st : vs;
    }
    free(drop);
    free(bounds);
    return st;
}

qfd_status qfd_model_fuse_activations(qfd_ctx *ctx, qfd_model *m, int *fused)
{
    qfd_status st = qfd_pass_fuse_act(ctx, m, fused);
    if (st && m->path)
        qfd_ctx_prefix(ctx, m->path);
    return st;
}
