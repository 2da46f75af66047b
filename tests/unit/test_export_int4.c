/* The int4 export (qfd_quant_export with QFD_FORMAT_INT4) on a small CNN
 * at opset 21 (Conv -> Relu6 Clip -> Conv -> Relu -> GlobalAveragePool ->
 * Flatten -> Gemm), at 2 to 8 bits:
 *  - the written file computes exactly what the fake-quant model computes,
 *    before and after a write/read round trip;
 *  - tensors of 4 bits or fewer are INT4/UINT4 with zero point 0, wider
 *    ones 8-bit; weight integers are packed two per byte, element k in
 *    byte k/2, low nibble first (checked against the integers computed
 *    here from the weights and steps);
 *  - no Clip feeds a 4-bit QuantizeLinear (ONNX Runtime 1.30 fails to load
 *    that), a quantizer below 4 bits is clamped by Min/Max, and the model's
 *    Relu6 Clip is gone when the quantizer after it makes it redundant;
 *  - the same rule in the ort format, at a step a hair past the Clip's
 *    bound (dropped) and one clearly past it (kept).
 * usage: test_export_int4 TMP_DIR */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "../support/model_builder.h"
#include "core/ctx.h"
#include "exec/exec.h"
#include "ir/edit.h"
#include "quant/quant.h"

static const int64_t XD[] = {2, 3, 8, 8};

static qfd_model *small_cnn(void)
{
    qfd_model *m = mb_new(21);
    mb_input(m, "x", 4, XD);
    mb_param(m, "w0", 4, (const int64_t[]){4, 3, 3, 3}, NULL, -0.5f, 0.5f);
    mb_param(m, "b0", 1, (const int64_t[]){4}, NULL, -0.2f, 0.2f);
    mb_param(m, "w1", 4, (const int64_t[]){5, 4, 3, 3}, NULL, -0.5f, 0.5f);
    mb_param(m, "b1", 1, (const int64_t[]){5}, NULL, -0.2f, 0.2f);
    mb_param(m, "lo", 0, NULL, (const float[]){0}, 0, 0);
    mb_param(m, "hi", 0, NULL, (const float[]){6}, 0, 0);
    mb_param(m, "W", 2, (const int64_t[]){3, 5}, NULL, -1, 1);
    mb_param(m, "C", 1, (const int64_t[]){3}, NULL, -0.3f, 0.3f);
    qfd_node *n = mb_node(m, "Conv", 3, (const char *[]){"x", "w0", "b0"}, 1, (const char *[]){"c0"});
    mb_attr_ints(n, "pads", 4, (const int64_t[]){1, 1, 1, 1});
    mb_node(m, "Clip", 3, (const char *[]){"c0", "lo", "hi"}, 1, (const char *[]){"r0"});
    n = mb_node(m, "Conv", 3, (const char *[]){"r0", "w1", "b1"}, 1, (const char *[]){"c1"});
    mb_attr_ints(n, "pads", 4, (const int64_t[]){1, 1, 1, 1});
    mb_node(m, "Relu", 1, (const char *[]){"c1"}, 1, (const char *[]){"r1"});
    mb_node(m, "GlobalAveragePool", 1, (const char *[]){"r1"}, 1, (const char *[]){"p"});
    mb_node(m, "Flatten", 1, (const char *[]){"p"}, 1, (const char *[]){"f"});
    mb_attr_int(mb_node(m, "Gemm", 3, (const char *[]){"f", "W", "C"}, 1, (const char *[]){"logits"}), "transB", 1);
    mb_output(m, "logits");
    return m;
}

/* Steps without calibration: max |w| / qmax per channel for weights, and
 * activation steps that clamp some values (the inputs reach 3). */
static void set_steps(const qfd_model *m, qfd_quant_plan *p)
{
    for (size_t i = 0; i < p->n_q; i++) {
        qfd_qtensor *q = &p->q[i];
        if (q->bias)
            continue;
        q->step = malloc((size_t)q->n_step * sizeof *q->step);
        if (!q->weight) {
            q->step[0] = fminf(2.0f / (float)q->qmax, q->clip_hi / (float)q->qmax);
            continue;
        }
        const qfd_tensor *w = &m->graph.tensors[q->tensor];
        const float *v = w->data;
        int64_t numel = qfd_tensor_numel(w), inner = numel / q->n_step;
        for (int64_t c = 0; c < q->n_step; c++) {
            float mx = 1e-3f;
            for (int64_t k = 0; k < inner; k++) /* axis 0: channel c's block */
                mx = fmaxf(mx, fabsf(v[c * inner + k]));
            q->step[c] = 0.9f * mx / (float)q->qmax; /* 0.9: some weights clamp */
        }
    }
}

static void run(qfd_ctx *ctx, const qfd_model *m, float *y, size_t n)
{
    static float x[2 * 3 * 8 * 8];
    for (size_t i = 0; i < sizeof x / sizeof *x; i++)
        x[i] = 3.0f * sinf((float)i * 0.61f);
    qfd_array in = {QFD_DT_FLOAT, 4, {2, 3, 8, 8}, x, sizeof x};
    qfd_exec *e = NULL;
    CHECK_OK(ctx, qfd_exec_new(ctx, m, 1, &e));
    if (e) {
        CHECK_OK(ctx, qfd_exec_run(ctx, e, &in, 1));
        const qfd_array *o = qfd_exec_output(e, 0);
        CHECK(o->nbytes == n * sizeof *y);
        if (o->nbytes == n * sizeof *y)
            memcpy(y, o->data, n * sizeof *y);
    }
    qfd_exec_free(e);
}

/* The weights of q: each 4-bit one packed as clamp(rint(w / s)) of the
 * fake-quant model's weight w and step s, element k in byte k / 2, low
 * nibble first; returns how many weights were 4-bit. */
static int check_weights(const qfd_model *fq, const qfd_model *q, int *bad)
{
    const qfd_graph *g = &q->graph, *gf = &fq->graph;
    int four = 0;
    for (size_t i = 0; i < gf->n_nodes; i++) {
        const qfd_node *n = &gf->nodes[i];
        if (strcmp(n->op_type, QFD_FQ_OP) || !qfd_graph_float_init(gf, n->in[0], -1))
            continue;
        const qfd_tensor *w = &gf->tensors[n->in[0]];
        char name[300];
        snprintf(name, sizeof name, "%s_quantized", w->name);
        int t = qfd_graph_find(g, name);
        const int bits = (int)qfd_attr_int(n, "bits", 8);
        const int32_t want = bits <= 4 ? QFD_DT_INT4 : QFD_DT_INT8;
        const int64_t numel = qfd_tensor_numel(w), c_n = w->dims[0], inner = numel / c_n;
        const size_t bytes = want == QFD_DT_INT4 ? (size_t)(numel + 1) / 2 : (size_t)numel;
        if (t < 0 || g->tensors[t].dtype != want || g->tensors[t].nbytes != bytes) {
            fprintf(stderr, "weight %s: missing, or not %d-bit packed\n", w->name, bits <= 4 ? 4 : 8);
            ++*bad;
            continue;
        }
        four += want == QFD_DT_INT4;
        const float *wv = w->data, *sv = gf->tensors[n->in[1]].data;
        const uint8_t *bytes_of = g->tensors[t].data;
        const int qmin = -(1 << (bits - 1)), qmax = (1 << (bits - 1)) - 1;
        for (int64_t k = 0; k < numel; k++) {
            float r = rintf(wv[k] / sv[k / inner]);
            int v = (int)(r < (float)qmin ? (float)qmin : r > (float)qmax ? (float)qmax : r);
            int got = want == QFD_DT_INT8 ? (int8_t)bytes_of[k] : (bytes_of[k / 2] >> (k % 2 * 4)) & 15;
            if (want == QFD_DT_INT4 && got >= 8)
                got -= 16;
            if (got != v) {
                fprintf(stderr, "weight %s[%lld]: %d stored, %d expected\n", w->name, (long long)k, got, v);
                ++*bad;
                break;
            }
        }
        if (want == QFD_DT_INT4 && numel % 2 && bytes_of[numel / 2] >> 4)
            ++*bad; /* the unused high nibble of an odd count stays 0 */
    }
    return four;
}

/* Quantizer types, clamps and Clips of the exported graph for a plan at
 * wbits/abits (first/last layers 8-bit when edge8). */
static void check_graph(const qfd_model *q, int abits, bool edge8, int *bad)
{
    const qfd_graph *g = &q->graph;
    int n_min = 0, n_clip = 0, n_q4 = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        n_min += qfd_node_is(n, "Min");
        n_clip += qfd_node_is(n, "Clip");
        if (!qfd_node_is(n, "QuantizeLinear"))
            continue;
        int32_t zt = g->tensors[n->in[2]].dtype;
        const int8_t *zp = g->tensors[n->in[2]].data;
        bool four = zt == QFD_DT_INT4 || zt == QFD_DT_UINT4;
        n_q4 += four;
        int p = g->tensors[n->in[0]].producer;
        if (four && (*zp != 0 || (p >= 0 && qfd_node_is(&g->nodes[p], "Clip")))) {
            fprintf(stderr, "a 4-bit QuantizeLinear with zero point %d%s\n", *zp,
                    p >= 0 && qfd_node_is(&g->nodes[p], "Clip") ? ", after a Clip" : "");
            ++*bad;
        }
    }
    /* activations: x and f (the inputs of conv0 and the Gemm: 8-bit with
     * edge8), r0 (conv1's input) and, at 8 bits only, r1 (conv1's output,
     * which only GlobalAveragePool reads: see plan.c output_quantizers);
     * r0's own Clip(0, 6), which its quantizer makes redundant (set_steps
     * keeps the step inside it), goes except below 4 bits, where the
     * Min/Max clamp sits between the two; 5 to 7 bits in 8-bit types keep
     * their clamp with a Clip, as in ort */
    int n_act = (edge8 ? 2 : 4) - (abits < 8);
    int want_q4 = abits <= 4 ? n_act : 0;
    int want_min = abits < 4 ? n_act : 0;
    int want_clip = (abits < 4 ? 1 : 0) + (abits > 4 && abits < 8 ? n_act : 0);
    if (n_q4 != want_q4 || n_min != want_min || n_clip != want_clip) {
        fprintf(stderr, "%d 4-bit quantizers, %d Min clamps, %d Clips; want %d, %d, %d\n", n_q4, n_min, n_clip, want_q4,
                want_min, want_clip);
        ++*bad;
    }
}

static void one_case(qfd_ctx *ctx, const char *tmp, int bits, qfd_first_last fl)
{
    qfd_model *m = small_cnn(), *q = NULL, *back = NULL;
    qfd_quant_cfg cfg = {bits, bits, fl, QFD_FORMAT_INT4, NULL, 0};
    qfd_quant_plan p;
    float y_fq[6], y_q[6], y_back[6];
    int bad = 0;
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &cfg, &p));
    set_steps(m, &p);
    CHECK_OK(ctx, qfd_quant_insert(ctx, m, &p));
    CHECK_OK(ctx, qfd_quant_export(ctx, m, QFD_FORMAT_INT4, &q));
    if (!q) {
        qfd_quant_plan_free(&p);
        qfd_model_free(m);
        return;
    }
    run(ctx, m, y_fq, 6);
    run(ctx, q, y_q, 6);
    char path[512];
    snprintf(path, sizeof path, "%s/int4_w%d.onnx", tmp, bits);
    CHECK_OK(ctx, qfd_model_save(ctx, q, path));
    CHECK_OK(ctx, qfd_model_load(ctx, path, &back));
    if (back)
        run(ctx, back, y_back, 6);
    for (int k = 0; k < 6; k++)
        if (!(fabsf(y_fq[k] - y_q[k]) <= 1e-5f * fmaxf(1, fabsf(y_fq[k]))) || (back && y_back[k] != y_q[k])) {
            fprintf(stderr, "logit %d: fake-quant %g, exported %g, read back %g\n", k, (double)y_fq[k], (double)y_q[k],
                    back ? (double)y_back[k] : NAN);
            bad++;
        }
    int four = check_weights(m, q, &bad);
    int want_four = bits > 4 ? 0 : fl == QFD_FIRST_LAST_8 ? 1 : 3;
    if (four != want_four) {
        fprintf(stderr, "%d 4-bit weights, want %d\n", four, want_four);
        bad++;
    }
    check_graph(q, bits, fl == QFD_FIRST_LAST_8, &bad);
    if (back)
        check_weights(m, back, &bad); /* the bytes survive the writer and reader */
    printf("%s int4 export W%dA%d%s\n", bad ? "FAIL" : "ok  ", bits, bits,
           fl == QFD_FIRST_LAST_8 ? " first/last 8" : "");
    CHECK(!bad);
    qfd_quant_plan_free(&p);
    qfd_model_free(back);
    qfd_model_free(q);
    qfd_model_free(m);
}

/* A model's own Clip(0, 6) before an 8-bit ort quantizer: dropped when the
 * quantizer saturates where it does (a step a hair past 6 / 255, as
 * training can leave it), kept when it still clamps (6.1 / 255); the file
 * computes what the fake-quant model does either way. */
static void ort_clip_case(qfd_ctx *ctx, float hi_times_255, int want_clips)
{
    qfd_model *m = small_cnn(), *q = NULL;
    qfd_quant_cfg cfg = {8, 8, QFD_FIRST_LAST_SAME, QFD_FORMAT_ORT, NULL, 0};
    qfd_quant_plan p;
    float y_fq[6], y_q[6];
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &cfg, &p));
    set_steps(m, &p);
    for (size_t i = 0; i < p.n_q; i++)
        if (!p.q[i].weight && !p.q[i].bias && isfinite(p.q[i].clip_hi))
            p.q[i].step[0] = hi_times_255 / 255.0f;
    CHECK_OK(ctx, qfd_quant_insert(ctx, m, &p));
    CHECK_OK(ctx, qfd_quant_export(ctx, m, QFD_FORMAT_ORT, &q));
    if (q) {
        run(ctx, m, y_fq, 6);
        run(ctx, q, y_q, 6);
        int clips = 0, bad = 0;
        for (size_t i = 0; i < q->graph.n_nodes; i++)
            clips += qfd_node_is(&q->graph.nodes[i], "Clip");
        for (int k = 0; k < 6; k++)
            bad += !(fabsf(y_fq[k] - y_q[k]) <= 1e-5f * fmaxf(1, fabsf(y_fq[k])));
        printf("%s ort export, step x 255 = %g: %d Clip(s), want %d\n", bad || clips != want_clips ? "FAIL" : "ok  ",
               (double)hi_times_255, clips, want_clips);
        CHECK(!bad && clips == want_clips);
    }
    qfd_quant_plan_free(&p);
    qfd_model_free(q);
    qfd_model_free(m);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s TMP_DIR\n", argv[0]);
        return 2;
    }
    qfd_ctx *ctx = qfd_ctx_new();
    for (int bits = 2; bits <= 8; bits++)
        one_case(ctx, argv[1], bits, QFD_FIRST_LAST_SAME);
    one_case(ctx, argv[1], 4, QFD_FIRST_LAST_8);
    one_case(ctx, argv[1], 2, QFD_FIRST_LAST_8);
    ort_clip_case(ctx, 6.00005f, 0);
    ort_clip_case(ctx, 6.1f, 1);
    qfd_ctx_free(ctx);
    return TEST_DONE();
}
