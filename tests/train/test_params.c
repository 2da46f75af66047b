/* Which initializers the trainer treats as parameters, and in which role
 * and default group: the ops declare their parameter slots. Weights and
 * biases (even of one element), normalization scales/shifts, PReLU slopes,
 * positional embeddings, weights reached through Transpose; not BatchNorm
 * running statistics, folded scalar constants, integer tensors or inputs. */
#include <stdio.h>
#include <stdlib.h>

#include "../support/check.h"
#include "../support/model_builder.h"
#include "core/ctx.h"
#include "train/trainer.h"

int main(void)
{
    qfd_model *m = mb_new(13);
    const int64_t w[] = {4, 1, 3, 3}, c[] = {4}, one[] = {1}, w1[] = {1, 1, 1, 1}, shape[] = {2}, pos[] = {1, 4, 8, 8},
                  mm[] = {8, 8};
    const int64_t shape_v[] = {1, -1};
    mb_input(m, "x", 4, (const int64_t[]){1, 1, 8, 8});
    mb_param(m, "conv.w", 4, w, NULL, -1, 1);
    mb_param(m, "conv.b", 1, c, NULL, -1, 1);
    mb_param(m, "bn.scale", 1, c, NULL, 0.5f, 1.5f);
    mb_param(m, "bn.bias", 1, c, NULL, -1, 1);
    mb_param(m, "bn.mean", 1, c, NULL, -1, 1);
    mb_param(m, "bn.var", 1, c, NULL, 0.5f, 1.5f);
    mb_param(m, "pos", 4, pos, NULL, -1, 1);
    mb_param(m, "tiny.w", 4, w1, NULL, -1, 1);
    mb_param(m, "tiny.b", 1, one, NULL, -1, 1);
    mb_param(m, "slope", 1, one, NULL, 0.1f, 0.2f);
    mb_param(m, "half", 1, one, NULL, 0.5f, 0.5f);
    mb_param(m, "mm.w", 2, mm, NULL, -1, 1);
    mb_const(m, "shape", QFD_DT_INT64, 1, shape, shape_v);
    mb_node(m, "Conv", 3, (const char *[]){"x", "conv.w", "conv.b"}, 1, (const char *[]){"c"});
    mb_node(m, "BatchNormalization", 5, (const char *[]){"c", "bn.scale", "bn.bias", "bn.mean", "bn.var"}, 1,
            (const char *[]){"b"});
    mb_node(m, "Add", 2, (const char *[]){"b", "pos"}, 1, (const char *[]){"p"});
    mb_node(m, "Conv", 3, (const char *[]){"x", "tiny.w", "tiny.b"}, 1, (const char *[]){"tc"});
    mb_node(m, "PRelu", 2, (const char *[]){"tc", "slope"}, 1, (const char *[]){"u"});
    mb_node(m, "Add", 2, (const char *[]){"p", "u"}, 1, (const char *[]){"q"});
    mb_node(m, "Mul", 2, (const char *[]){"q", "half"}, 1, (const char *[]){"h"});
    mb_node(m, "Transpose", 1, (const char *[]){"mm.w"}, 1, (const char *[]){"mm.wt"});
    mb_node(m, "MatMul", 2, (const char *[]){"h", "mm.wt"}, 1, (const char *[]){"mmo"});
    mb_node(m, "Reshape", 2, (const char *[]){"mmo", "shape"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    const struct {
        const char *name;
        qfd_param_role role;
        int group; /* default group, -1: not a parameter */
    } want[] = {{"conv.w", QFD_ROLE_WEIGHT, 0}, {"conv.b", QFD_ROLE_BIAS, 1},  {"bn.scale", QFD_ROLE_NORM, 1},
                {"bn.bias", QFD_ROLE_NORM, 1},  {"pos", QFD_ROLE_WEIGHT, 0},   {"tiny.w", QFD_ROLE_WEIGHT, 0},
                {"tiny.b", QFD_ROLE_BIAS, 1},   {"slope", QFD_ROLE_NORM, 1},   {"mm.w", QFD_ROLE_WEIGHT, 0},
                {"bn.mean", QFD_ROLE_NONE, -1}, {"bn.var", QFD_ROLE_NONE, -1}, {"half", QFD_ROLE_NONE, -1},
                {"shape", QFD_ROLE_NONE, -1},   {"x", QFD_ROLE_NONE, -1},      {"mm.wt", QFD_ROLE_NONE, -1}};
    const size_t n_want = sizeof want / sizeof *want;
    uint8_t *roles = calloc(m->graph.n_tensors, 1);
    qfd_trainer_param_roles(m, roles);
    for (size_t i = 0; i < n_want; i++) {
        int t = qfd_graph_find(&m->graph, want[i].name);
        if (roles[t] != want[i].role)
            fprintf(stderr, "'%s': role %d, expected %d\n", want[i].name, roles[t], want[i].role);
        CHECK(roles[t] == want[i].role);
        CHECK(qfd_trainer_is_param(m, t) == (want[i].role != QFD_ROLE_NONE));
    }
    free(roles);

    /* the default groups follow the roles */
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_trainer *tr = NULL;
    qfd_trainer_opts o = {.optimizer = QFD_OPT_SGD, .lr = 0.1f, .weight_decay = 1e-4f, .n_threads = 1};
    CHECK_OK(ctx, qfd_trainer_new(ctx, m, &o, &tr));
    if (tr) {
        const qfd_optim *opt = qfd_trainer_optim(tr);
        size_t n_params = 0;
        for (size_t i = 0; i < n_want; i++)
            n_params += want[i].group >= 0;
        CHECK(opt->n_params == n_params && opt->n_groups == 3);
        CHECK(opt->groups[0].weight_decay == 1e-4f && opt->groups[1].weight_decay == 0.0f &&
              opt->groups[2].weight_decay == 0.0f);
        for (size_t i = 0; i < n_want; i++) {
            const qfd_tensor *tt = &m->graph.tensors[qfd_graph_find(&m->graph, want[i].name)];
            int group = -1;
            for (size_t k = 0; k < opt->n_params; k++)
                if (tt->data && opt->params[k].value == tt->data)
                    group = opt->params[k].group;
            if (group != want[i].group)
                fprintf(stderr, "'%s': group %d, expected %d\n", want[i].name, group, want[i].group);
            CHECK(group == want[i].group);
        }
    }
    qfd_trainer_free(tr);
    qfd_ctx_free(ctx);
    qfd_model_free(m);
    return TEST_DONE();
}
