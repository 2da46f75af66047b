/* ir/edit.h: unique names, new initializers and nodes, attribute setters,
 * consumers, opset imports, dropping nodes; and io's clone. Each edit is
 * checked by validating the graph and by running it, and the clone by a
 * write/read round trip. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "../support/model_builder.h"
#include "core/ctx.h"
#include "exec/exec.h"
#include "io/io.h"
#include "ir/edit.h"
#include "ir/model_info.h"

/* y = Relu(x) + c, then grown by the edits below into y = Relu(x) * 2 + c. */
static qfd_model *base_model(void)
{
    qfd_model *m = mb_new(13);
    int64_t d[2] = {1, 4};
    mb_input(m, "x", 2, d);
    float c[4] = {1, 2, 3, 4};
    mb_param(m, "c", 2, d, c, 0, 0);
    mb_node(m, "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"r"});
    mb_node(m, "Add", 2, (const char *[]){"r", "c"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    return m;
}

static void run(qfd_ctx *ctx, const qfd_model *m, const float *x, float *y)
{
    qfd_exec *e = NULL;
    qfd_array in = {.dtype = QFD_DT_FLOAT, .rank = 2, .dims = {1, 4}, .data = (void *)x, .nbytes = 16};
    CHECK_OK(ctx, qfd_exec_new(ctx, m, 1, &e));
    if (!e)
        return;
    CHECK_OK(ctx, qfd_exec_run(ctx, e, &in, 1));
    memcpy(y, qfd_exec_output(e, 0)->data, 16);
    qfd_exec_free(e);
}

int main(void)
{
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_model *m = base_model();
    qfd_graph *g = &m->graph;

    /* unique names */
    char *n1 = qfd_graph_unique_name(g, "c"), *n2 = qfd_graph_unique_name(g, "fresh");
    CHECK(n1 && !strcmp(n1, "c_2"));
    CHECK(n2 && !strcmp(n2, "fresh"));
    free(n1), free(n2);

    /* consumers and readers */
    int r = qfd_graph_find(g, "r"), y = qfd_graph_find(g, "y"), nodes[4];
    CHECK(qfd_graph_consumers(g, r, nodes, 4) == 1 && qfd_node_is(&g->nodes[nodes[0]], "Add"));
    CHECK(qfd_graph_n_readers(g, y) == 1 && qfd_graph_is_output(g, y) && !qfd_graph_is_output(g, r));

    /* insert r2 = r * two between Relu and Add */
    float *two = malloc(sizeof *two);
    *two = 2.0f;
    int t_two = qfd_graph_add_init(g, "c", QFD_DT_FLOAT, 0, NULL, two, sizeof *two);
    CHECK(t_two >= 0 && !strcmp(g->tensors[t_two].name, "c_2"));
    CHECK(qfd_graph_float_init(g, t_two, 1) && !qfd_graph_float_init(g, t_two, 2));
    int r2 = qfd_graph_add_value(g, "r");
    CHECK(r2 >= 0 && !strcmp(g->tensors[r2].name, "r_2"));
    r = qfd_graph_find(g, "r");
    int mul = qfd_graph_add_node(g, "Mul", "", "scale", (int[]){r, t_two}, 2, (int[]){r2}, 1);
    CHECK(mul >= 0 && g->tensors[r2].producer == mul);
    for (size_t i = 0; i < g->n_nodes; i++)
        if (qfd_node_is(&g->nodes[i], "Add"))
            g->nodes[i].in[0] = r2;
    CHECK_OK(ctx, qfd_graph_validate(ctx, g));
    /* validate sorted the new node before the Add */
    CHECK(qfd_node_is(&g->nodes[1], "Mul") && qfd_node_is(&g->nodes[2], "Add"));
    float x[4] = {-1, 0.5f, 2, -3}, out[4];
    run(ctx, m, x, out);
    CHECK(out[0] == 1 && out[1] == 3 && out[2] == 7 && out[3] == 4);

    /* attribute setters: add, then replace */
    qfd_node *relu = &g->nodes[0];
    CHECK(qfd_node_set_int(relu, "k", 3) == 0 && qfd_node_set_float(relu, "f", 0.5f) == 0);
    CHECK(qfd_node_set_int(relu, "k", 4) == 0);
    CHECK(qfd_node_set_ints(relu, "v", (int64_t[]){7, 8}, 2) == 0);
    const int64_t *v;
    CHECK(relu->n_attrs == 3 && qfd_attr_int(relu, "k", 0) == 4 && qfd_attr_float(relu, "f", 0) == 0.5f);
    CHECK(qfd_attr_ints(relu, "v", &v) == 2 && v[0] == 7 && v[1] == 8);
    CHECK(qfd_node_set_str(relu, "s", "text") == 0 && !strcmp(qfd_attr_str(relu, "s", ""), "text"));
    qfd_node_remove_attr(relu, "s");
    qfd_node_remove_attr(relu, "absent");
    CHECK(relu->n_attrs == 3 && !qfd_attr_get(relu, "s") && qfd_attr_int(relu, "k", 0) == 4);

    /* inputs set past the end: the gap is omitted inputs */
    size_t n_in = relu->n_in;
    int x_in = relu->in[0];
    CHECK(qfd_node_set_input(relu, n_in + 2, x_in) == 0);
    CHECK(relu->n_in == n_in + 3 && relu->in[n_in] == -1 && relu->in[n_in + 1] == -1 && relu->in[n_in + 2] == x_in);
    relu->n_in = n_in; /* back to the graph the clone below expects */

    /* opsets */
    CHECK(qfd_model_set_opset(m, "ai.qfd.test", 1) == 0 && qfd_model_opset(m, "ai.qfd.test") == 1);
    CHECK(qfd_model_set_opset(m, "", 17) == 0 && qfd_model_opset(m, "") == 17);

    /* clone: a deep copy that survives the original, attributes included */
    qfd_model *c = NULL;
    CHECK_OK(ctx, qfd_onnx_clone(ctx, m, &c));
    if (c) {
        CHECK(c->graph.n_nodes == 3 && qfd_attr_int(&c->graph.nodes[0], "k", 0) == 4);
        CHECK(qfd_model_opset(c, "ai.qfd.test") == 1 && qfd_model_opset(c, "") == 17);
        int tc = qfd_graph_find(&c->graph, "c_2");
        CHECK(tc >= 0 && c->graph.tensors[tc].data != g->tensors[t_two].data);
    }
    relu->n_attrs = 0; /* the test attributes are not Relu's */
    for (int k = 0; k < 3; k++)
        qfd_attr_clear(&relu->attrs[k]);

    /* drop the Mul again, rewire, prune its constant */
    bool drop[3] = {false, true, false};
    g->nodes[2].in[0] = r;
    qfd_graph_drop_nodes(g, drop);
    qfd_graph_prune_inits(g);
    CHECK(g->n_nodes == 2 && g->tensors[y].producer == 1 && g->tensors[r].producer == 0);
    CHECK(!(g->tensors[t_two].flags & QFD_T_INITIALIZER) && g->n_inits == 1);
    CHECK_OK(ctx, qfd_graph_validate(ctx, g));
    run(ctx, m, x, out);
    CHECK(out[0] == 1 && out[1] == 2.5f && out[2] == 5 && out[3] == 4);
    if (c) {
        run(ctx, c, x, out);
        CHECK(out[0] == 1 && out[1] == 3 && out[2] == 7 && out[3] == 4);
    }
    qfd_model_free(c);
    qfd_model_free(m);
    qfd_ctx_free(ctx);
    return TEST_DONE();
}
