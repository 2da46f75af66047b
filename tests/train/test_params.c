/* Which initializers the trainer treats as parameters: weights and biases,
 * normalization scales/shifts, embeddings; not BatchNorm running statistics,
 * Resize scales, quantization scales, folded scalar constants or integer
 * tensors. */
#include <stdio.h>

#include "../support/check.h"
#include "../support/model_builder.h"
#include "train/trainer.h"

int main(void)
{
    qfd_model *m = mb_new(13);
    const int64_t w[] = {4, 1, 3, 3}, c[] = {4}, one[] = {1}, shape[] = {2}, pos[] = {1, 4, 8, 8};
    const int64_t shape_v[] = {1, -1};
    mb_input(m, "x", 4, (const int64_t[]){1, 1, 8, 8});
    mb_param(m, "conv.w", 4, w, NULL, -1, 1);
    mb_param(m, "conv.b", 1, c, NULL, -1, 1);
    mb_param(m, "bn.scale", 1, c, NULL, 0.5f, 1.5f);
    mb_param(m, "bn.bias", 1, c, NULL, -1, 1);
    mb_param(m, "bn.mean", 1, c, NULL, -1, 1);
    mb_param(m, "bn.var", 1, c, NULL, 0.5f, 1.5f);
    mb_param(m, "half", 1, one, NULL, 0.5f, 0.5f);
    mb_param(m, "pos", 4, pos, NULL, -1, 1);
    mb_const(m, "shape", QFD_DT_INT64, 1, shape, shape_v);
    mb_node(m, "Conv", 3, (const char *[]){"x", "conv.w", "conv.b"}, 1, (const char *[]){"c"});
    mb_node(m, "BatchNormalization", 5, (const char *[]){"c", "bn.scale", "bn.bias", "bn.mean", "bn.var"}, 1,
            (const char *[]){"b"});
    mb_node(m, "Add", 2, (const char *[]){"b", "pos"}, 1, (const char *[]){"p"});
    mb_node(m, "Mul", 2, (const char *[]){"p", "half"}, 1, (const char *[]){"h"});
    mb_node(m, "Reshape", 2, (const char *[]){"h", "shape"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    const struct {
        const char *name;
        bool param;
    } want[] = {{"conv.w", true},   {"conv.b", true},  {"bn.scale", true}, {"bn.bias", true}, {"pos", true},
                {"bn.mean", false}, {"bn.var", false}, {"half", false},    {"shape", false},  {"x", false}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        bool got = qfd_trainer_is_param(m, qfd_graph_find(&m->graph, want[i].name));
        if (got != want[i].param)
            fprintf(stderr, "'%s': parameter %d, expected %d\n", want[i].name, got, want[i].param);
        CHECK(got == want[i].param);
    }
    qfd_model_free(m);
    return TEST_DONE();
}
