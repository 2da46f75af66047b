/* What `info` reads from a quantized file (src/quant/inspect.c): on the
 * exports of small models in both formats at 2 to 8 bits, without the
 * metadata quantize writes, the inferred format and every layer's weight
 * and activation bits equal the plan's (4-bit activations in 8-bit
 * containers included); with the metadata, the metadata's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "../support/quant_models.h"
#include "core/ctx.h"
#include "ir/edit.h"
#include "quant/inspect.h"
#include "quant/quant.h"

/* Bits of the quantizer of tensor t in plan p, 0 if none; t as the
 * fake-quant model g has it (a FakeQuant's output: its input). */
static int planned_bits(const qfd_quant_plan *p, const qfd_graph *g, int t)
{
    const qfd_node *fq = t >= 0 && g->tensors[t].producer >= 0 ? &g->nodes[g->tensors[t].producer] : NULL;
    if (fq && !strcmp(fq->op_type, QFD_FQ_OP))
        t = fq->in[0];
    for (size_t i = 0; i < p->n_q; i++)
        if (p->q[i].tensor == t)
            return p->q[i].bits;
    return 0;
}

/* The layers inspect finds in q against the plan made for m, now the
 * fake-quant model (q keeps its node names): returns the mismatches,
 * printing the first. */
static int compare_layers(const qfd_quant_info *qi, const qfd_quant_plan *p, const qfd_model *m, const qfd_model *q,
                          bool from_metadata)
{
    int bad = 0;
    if (qi->n_layers != p->n_layers)
        return fprintf(stderr, "  %zu layers found, the plan has %zu\n", qi->n_layers, p->n_layers), 1;
    for (size_t i = 0; i < qi->n_layers; i++) {
        const qfd_node *n = &q->graph.nodes[qi->layers[i].node];
        const qfd_graph *g = &m->graph;
        int want_w = 0, want_a = 0;
        for (size_t k = 0; k < g->n_nodes; k++) {
            const qfd_node *o = &g->nodes[k];
            if (o->name && n->name && !strcmp(o->name, n->name)) {
                want_w = planned_bits(p, g, o->in[1]);
                want_a = planned_bits(p, g, o->in[0]);
            }
        }
        if (from_metadata) /* the metadata gives the plan's per-layer bits */
            want_w = p->layers[i].wbits, want_a = p->layers[i].abits;
        if (qi->layers[i].wbits != want_w || qi->layers[i].abits != want_a ||
            qi->layers[i].from_metadata != from_metadata) {
            if (!bad++)
                fprintf(stderr, "  layer %s: w%da%d (%s), want w%da%d\n", n->name, qi->layers[i].wbits,
                        qi->layers[i].abits, qi->layers[i].from_metadata ? "metadata" : "inferred", want_w, want_a);
        }
    }
    return bad;
}

/* "name=wNaM,..." as quantize writes it, with abits + 1 so that a test
 * can tell the metadata from inference. */
static char *bits_meta(const qfd_quant_plan *p, int bump)
{
    size_t cap = 64;
    for (size_t i = 0; i < p->n_layers; i++)
        cap += strlen(p->layers[i].name) + 16;
    char *s = calloc(cap, 1);
    for (size_t i = 0; s && i < p->n_layers; i++) {
        size_t n = strlen(s);
        snprintf(s + n, cap - n, "%s%s=w%da%d", n ? "," : "", p->layers[i].name, p->layers[i].wbits,
                 p->layers[i].abits + bump);
    }
    return s;
}

static void inspect_case(qfd_ctx *ctx, const char *label, qm_model_fn mk, qfd_quant_format fmt, int wbits, int abits,
                         qfd_first_last fl)
{
    int64_t xd[4];
    qfd_model *m = mk(xd), *q = NULL;
    qfd_quant_plan p;
    qfd_quant_cfg c = {wbits, abits, fl, fmt, NULL, 0};
    const char *want = fmt == QFD_FORMAT_TENSORRT ? "tensorrt" : "ort";
    CHECK_OK(ctx, qm_quantize(ctx, m, xd, &c, &p, &q));
    int bad = 1, bad_meta = 1;
    if (q) {
        qfd_qlayer_info *layers = calloc(q->graph.n_nodes + 1, sizeof *layers);
        qfd_quant_info qi = {.layers = layers};
        qfd_quant_inspect(q, &qi);
        bad = compare_layers(&qi, &p, m, q, false) + !qi.format + (qi.format && strcmp(qi.format, want)) +
              qi.format_from_metadata;
        /* with metadata (layer bits bumped, a made-up format name) */
        char *meta = bits_meta(&p, 1);
        CHECK(meta && !qfd_model_set_metadata(q, QFD_META_BITS, meta) &&
              !qfd_model_set_metadata(q, QFD_META_FORMAT, "x"));
        for (size_t i = 0; i < p.n_layers; i++)
            p.layers[i].abits++;
        qfd_quant_inspect(q, &qi);
        bad_meta = compare_layers(&qi, &p, m, q, true) + !qi.format_from_metadata +
                   (qi.format && strcmp(qi.format, "x"));
        free(meta);
        free(layers);
    }
    bool ok = !bad && !bad_meta;
    printf("%s inspect %s %s W%dA%d: format and bits %s inferred, %s from metadata\n", ok ? "ok  " : "FAIL", want,
           label, wbits, abits, bad ? "wrongly" : "rightly", bad_meta ? "wrong" : "right");
    CHECK(ok);
    qfd_quant_plan_free(&p);
    qfd_model_free(q);
    qfd_model_free(m);
}

int main(void)
{
    qfd_ctx *ctx = qfd_ctx_new();
    static const struct {
        const char *label;
        qm_model_fn mk;
    } models[] = {{"conv-relu chain", qm_conv_chain},
                  {"resnet block + gemm", qm_resnet_block},
                  {"inverted residual", qm_inverted_residual},
                  {"gemm transB 1/0", qm_gemm2},
                  {"matmul weight and activations", qm_matmul}};
    for (int f = 0; f < 2; f++)
        for (size_t i = 0; i < sizeof models / sizeof *models; i++)
            for (int bits = 2; bits <= 8; bits++)
                inspect_case(ctx, models[i].label, models[i].mk, f ? QFD_FORMAT_TENSORRT : QFD_FORMAT_ORT, bits, bits,
                             QFD_FIRST_LAST_SAME);
    inspect_case(ctx, "resnet block + gemm, first/last 8", qm_resnet_block, QFD_FORMAT_ORT, 4, 4, QFD_FIRST_LAST_8);
    inspect_case(ctx, "conv-relu chain, first/last fp", qm_conv_chain, QFD_FORMAT_TENSORRT, 3, 5, QFD_FIRST_LAST_FP);

    /* a float model: no format, no quantized layer */
    int64_t xd[4];
    qfd_model *m = qm_resnet_block(xd);
    qfd_qlayer_info layers[32];
    qfd_quant_info qi = {.layers = layers};
    qfd_quant_inspect(m, &qi);
    bool fp_ok = !qi.format && qi.n_layers == 4;
    for (size_t i = 0; i < qi.n_layers; i++)
        fp_ok &= !layers[i].wbits && !layers[i].abits;
    printf("%s inspect: an FP32 model has no format and 4 float layers\n", fp_ok ? "ok  " : "FAIL");
    CHECK(fp_ok);
    qfd_model_free(m);
    qfd_ctx_free(ctx);
    return TEST_DONE();
}
