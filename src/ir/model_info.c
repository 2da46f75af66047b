#include "ir/model_info.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "ir/edit.h"

int64_t qfd_model_opset(const qfd_model *m, const char *domain)
{
    const char *d = domain && strcmp(domain, "ai.onnx") ? domain : "";
    for (size_t i = 0; i < m->n_opsets; i++) {
        const char *od = m->opsets[i].domain && strcmp(m->opsets[i].domain, "ai.onnx") ? m->opsets[i].domain : "";
        if (!strcmp(od, d))
            return m->opsets[i].version;
    }
    return -1;
}

const char *qfd_model_metadata(const qfd_model *m, const char *key)
{
    for (size_t i = 0; i < m->n_metadata; i++)
        if (m->metadata[i].key && !strcmp(m->metadata[i].key, key))
            return m->metadata[i].value;
    return NULL;
}

int qfd_parse_floats(const char *s, float *v, int cap)
{
    int n = 0;
    while (s && *s && n < cap) {
        char *end;
        double d = strtod(s, &end);
        if (end == s || !isfinite(d))
            return 0;
        v[n++] = (float)d;
        s = end;
        while (*s == ' ')
            s++;
        if (*s == ',')
            s++;
        else if (*s)
            return 0;
    }
    return s && !*s ? n : 0;
}

qfd_status qfd_model_normalization(qfd_ctx *ctx, const qfd_model *m, int n_flag_mean, const float *flag_mean,
                                   int n_flag_std, const float *flag_std, int *n, float mean[4], float std[4],
                                   const char **source)
{
    *n = 0;
    *source = "none";
    for (int c = 0; c < 4; c++)
        mean[c] = 0.0f, std[c] = 1.0f; /* past *n: defined, never read as normalization */
    if (n_flag_mean || n_flag_std) {
        if (n_flag_mean != n_flag_std)
            return qfd_fail(ctx, QFD_ERR_ARG, "--mean and --std need the same number of values (%d vs %d)", n_flag_mean,
                            n_flag_std);
        if (n_flag_mean < 0 || n_flag_mean > 4)
            return qfd_fail(ctx, QFD_ERR_ARG, "--mean and --std take 1 to 4 values, not %d", n_flag_mean);
        /* the flags' arrays hold as many values as they say, not always 4 */
        memcpy(mean, flag_mean, (size_t)n_flag_mean * sizeof *mean);
        memcpy(std, flag_std, (size_t)n_flag_mean * sizeof *std);
        *n = n_flag_mean;
        *source = "flags";
    } else {
        const char *ms = qfd_model_metadata(m, "qfd.mean"), *ss = qfd_model_metadata(m, "qfd.std");
        if (!ms && !ss)
            return QFD_OK;
        int nm = qfd_parse_floats(ms, mean, 4), ns = qfd_parse_floats(ss, std, 4);
        if (!nm || nm != ns)
            return qfd_fail(ctx, QFD_ERR_INVALID,
                            "model metadata qfd.mean='%s' / qfd.std='%s' are not matching lists of numbers",
                            ms ? ms : "", ss ? ss : "");
        *n = nm;
        *source = "metadata";
    }
    for (int i = 0; i < *n; i++)
        if (!(std[i] > 0))
            return qfd_fail(ctx, QFD_ERR_ARG, "std must be positive, got %g", std[i]);
    return QFD_OK;
}

qfd_status qfd_model_record_normalization(qfd_ctx *ctx, qfd_model *m, int n, const float *mean, const float *std)
{
    char ms[128] = "", ss[128] = "";
    if (n <= 0)
        return QFD_OK;
    for (int c = 0; c < n && c < 4; c++) {
        size_t a = strlen(ms), b = strlen(ss);
        snprintf(ms + a, sizeof ms - a, "%s%.7g", c ? "," : "", (double)mean[c]);
        snprintf(ss + b, sizeof ss - b, "%s%.7g", c ? "," : "", (double)std[c]);
    }
    if (qfd_model_set_metadata(m, "qfd.mean", ms) || qfd_model_set_metadata(m, "qfd.std", ss))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    return QFD_OK;
}

qfd_status qfd_model_image_input(qfd_ctx *ctx, const qfd_model *m, int64_t *c, int64_t *h, int64_t *w)
{
    const qfd_graph *g = &m->graph;
    for (size_t i = 0; i < g->n_inputs; i++) {
        const qfd_value_info *vi = &g->inputs[i];
        if (g->tensors[vi->tensor].flags & QFD_T_INITIALIZER)
            continue;
        const qfd_type *t = &vi->type;
        if (!vi->has_type || !t->has_shape || t->rank != 4)
            return qfd_fail(ctx, QFD_ERR_UNSUPPORTED,
                            "image data needs a model whose input '%s' is an image batch [N,C,H,W]",
                            g->tensors[vi->tensor].name);
        int64_t d[3];
        for (int k = 0; k < 3; k++)
            d[k] = t->dims[k + 1].kind == QFD_DIM_VALUE ? t->dims[k + 1].value : 0;
        if (d[0] != 1 && d[0] != 3)
            return qfd_fail(ctx, QFD_ERR_UNSUPPORTED,
                            "image data needs a model input of 1 or 3 channels; '%s' has %s%lld",
                            g->tensors[vi->tensor].name, d[0] ? "" : "an unknown count ", (long long)d[0]);
        *c = d[0], *h = d[1], *w = d[2];
        return QFD_OK;
    }
    return qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "the model has no input to feed images to");
}
