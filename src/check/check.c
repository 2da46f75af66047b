/* qfd_check_file: reads the file, runs every rule family that applies to
 * the target, and returns the findings sorted and counted. A file that
 * parses but is not a valid graph is a finding (QDQ001), not a read error:
 * in CI it is a broken model like any other. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "core/ctx.h"
#include "io/io.h"
#include "ir/model_info.h"

static char *dup_or_null(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    *oom |= !d;
    return d;
}

void chk_add(qfd_checker *c, int rule, int node, int tensor, const char *fmt, ...)
{
    qfd_check_result *r = c->r;
    if (c->oom)
        return;
    if (r->n_findings == c->cap_findings) {
        size_t cap = c->cap_findings ? 2 * c->cap_findings : 16;
        qfd_check_finding *f = realloc(r->findings, cap * sizeof *f);
        if (!f) {
            c->oom = true;
            return;
        }
        r->findings = f;
        c->cap_findings = cap;
    }
    char label[600], text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    qfd_check_finding *f = &r->findings[r->n_findings];
    memset(f, 0, sizeof *f);
    f->rule = &chk_rule_table[rule];
    f->node_index = node;
    bool oom = false;
    size_t len = strlen(text) + sizeof label + 16;
    if (!(f->message = malloc(len))) {
        c->oom = true;
        return;
    }
    if (node >= 0) {
        const qfd_node *n = &c->g->nodes[node];
        snprintf(f->message, len, "node %s: %s", chk_label(c, node, label, sizeof label), text);
        f->node = n->name && *n->name ? dup_or_null(n->name, &oom) : NULL;
        const char *d = n->domain && *n->domain && strcmp(n->domain, "ai.onnx") ? n->domain : NULL;
        char op[512];
        snprintf(op, sizeof op, "%s%s%s", d ? d : "", d ? "." : "", n->op_type ? n->op_type : "");
        f->op = dup_or_null(op, &oom);
    } else {
        snprintf(f->message, len, "%s", text);
    }
    f->tensor = tensor >= 0 ? dup_or_null(c->g->tensors[tensor].name, &oom) : NULL;
    r->n_findings++; /* counted even on oom, so that free releases it */
    c->oom |= oom;
}

static int cmp_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

static int cmp_finding(const void *pa, const void *pb)
{
    const qfd_check_finding *a = pa, *b = pb;
    int d = strcmp(a->rule->id, b->rule->id);
    if (d)
        return d;
    if (a->node_index != b->node_index)
        return a->node_index < b->node_index ? -1 : 1;
    if ((d = cmp_str(a->tensor, b->tensor)))
        return d;
    return cmp_str(a->message, b->message);
}

static int parse_target(const char *t)
{
    if (!t || !strcmp(t, "any"))
        return CHK_TARGET_ANY;
    if (!strcmp(t, "ort"))
        return CHK_TARGET_ORT;
    if (!strcmp(t, "tensorrt"))
        return CHK_TARGET_TRT;
    return -1;
}

/* "qdq", "qoperator", "dynamic" joined with '+', or "float". QOperator and
 * dynamic files hold QuantizeLinear/DequantizeLinear too (at the graph's
 * edges, around ops without an integer form): they count as QDQ only when
 * a DequantizeLinear feeds a float layer. */
static char *format_name(const qfd_checker *c)
{
    char buf[64] = "";
    bool qdq_layers = false;
    for (size_t i = 0; i < c->g->n_nodes && !qdq_layers; i++) {
        const qfd_node *n = &c->g->nodes[i];
        for (size_t k = 0; chk_is_layer(n) && k < n->n_in && k < 2; k++)
            qdq_layers |= chk_dq_through(c, n->in[k]) >= 0;
    }
    if (qdq_layers || (c->has_qdq && !c->has_qop && !c->has_dynamic))
        strcat(buf, "qdq");
    if (c->has_qop)
        strcat(strcat(buf, *buf ? "+" : ""), "qoperator");
    if (c->has_dynamic)
        strcat(strcat(buf, *buf ? "+" : ""), "dynamic");
    return strdup(*buf ? buf : "float");
}

static bool add_layer(qfd_checker *c, int i, const char *status)
{
    qfd_check_result *r = c->r;
    const qfd_node *n = &c->g->nodes[i];
    char label[512];
    if (n->name && *n->name)
        snprintf(label, sizeof label, "%s", n->name);
    else
        snprintf(label, sizeof label, "%s#%d", n->op_type ? n->op_type : "node", i);
    qfd_check_layer *L = &r->layers[r->n_layers++];
    L->node_index = i;
    L->status = status;
    L->wbits = c->wbits[i];
    L->abits = c->abits[i];
    L->bits_from = c->bits_from[i];
    bool oom = false;
    L->node = dup_or_null(label, &oom);
    L->op = dup_or_null(n->op_type ? n->op_type : "", &oom);
    return !oom;
}

static void count_layers(qfd_checker *c)
{
    qfd_check_result *r = c->r;
    if (!(r->layers = calloc(c->g->n_nodes + 1, sizeof *r->layers))) {
        c->oom = true;
        return;
    }
    for (size_t i = 0; i < c->g->n_nodes && !c->oom; i++) {
        const qfd_node *n = &c->g->nodes[i];
        const char *status;
        if (chk_is_int_layer(n)) {
            status = "quantized";
        } else if (chk_is_layer(n)) {
            bool q = n->n_in >= 2 && chk_dq_through(c, n->in[0]) >= 0 && chk_dq_through(c, n->in[1]) >= 0;
            /* a weight-only layer (float activation, --expect wN) counts as quantized */
            q |= n->n_in >= 2 && chk_dq_through(c, n->in[1]) >= 0 && c->wbits[i] > 0 && !c->abits[i];
            status = q ? "quantized" : c->allowed_float[i] ? "allowed_float" : "float";
        } else {
            continue;
        }
        r->n_quantized += !strcmp(status, "quantized");
        r->n_allowed_float += !strcmp(status, "allowed_float");
        r->n_float += !strcmp(status, "float");
        c->oom |= !add_layer(c, (int)i, status);
    }
}

/* Why rules that ran found nothing to look at, or did not run. */
static void mark_skipped(qfd_checker *c, bool have_bits)
{
    qfd_check_rule_status *s = c->r->rules;
    for (int i = 0; i < R_COUNT; i++) {
        const char *t = chk_rule_table[i].target;
        if (!strcmp(t, "ort") && c->target != CHK_TARGET_ORT)
            s[i].skipped = "runs with --target ort";
        else if (!strcmp(t, "tensorrt") && c->target != CHK_TARGET_TRT)
            s[i].skipped = "runs with --target tensorrt";
        else if (!strcmp(t, "numeric") && !c->o->reference)
            s[i].skipped = "runs with --reference";
    }
    static const int qdq_only[] = {R_QDQ007, R_QDQ014, R_QDQ015, R_QDQ016, R_QDQ017, R_QDQ018};
    if (!c->has_qdq)
        for (size_t k = 0; k < sizeof qdq_only / sizeof *qdq_only; k++)
            s[qdq_only[k]].skipped = "no QuantizeLinear or DequantizeLinear in the file";
    if (!have_bits) {
        s[R_QDQ012].skipped = "no bits to check against: the file has no qfd metadata and --expect is not given";
        s[R_QDQ013].skipped = s[R_QDQ012].skipped;
    }
    if (!qfd_model_metadata(c->m, "qfd.quant.bits") && !qfd_model_metadata(c->m, "qfd.quant.float"))
        s[R_QDQ019].skipped = "the file has no qfd.quant.bits or qfd.quant.float metadata";
}

static void finish(qfd_checker *c)
{
    qfd_check_result *r = c->r;
    if (r->n_findings) /* qsort takes no NULL array, even empty */
        qsort(r->findings, r->n_findings, sizeof *r->findings, cmp_finding);
    for (size_t i = 0; i < r->n_findings; i++) {
        const qfd_check_finding *f = &r->findings[i];
        r->rules[f->rule - chk_rule_table].findings++;
        if (f->rule->severity == QFD_CHECK_ERROR)
            r->n_errors++;
        else
            r->n_warnings++;
    }
}

static qfd_status run_rules(qfd_checker *c)
{
    qfd_status st = chk_facts_init(c);
    if (!st)
        st = chk_meta(c);
    if (st)
        return st;
    bool have_bits = false;
    for (size_t i = 0; i < c->g->n_nodes; i++)
        have_bits |= c->wbits[i] > 0;
    mark_skipped(c, have_bits);
    count_layers(c);
    chk_rules_file(c);
    chk_rules_layers(c);
    chk_rules_params(c);
    chk_rules_pairs(c);
    if (c->target == CHK_TARGET_ORT)
        chk_rules_ort(c);
    if (c->target == CHK_TARGET_TRT)
        chk_rules_tensorrt(c);
    if (!c->oom && c->o->reference)
        st = chk_numeric(c);
    return st;
}

static void free_checker(qfd_checker *c)
{
    chk_facts_free(c);
    free(c->wbits);
    free(c->abits);
    free(c->bits_from);
    free(c->allowed_float);
}

qfd_status qfd_check_file(qfd_ctx *ctx, const char *path, const qfd_check_opts *o, qfd_check_result *r)
{
    static const qfd_check_opts none = {0};
    memset(r, 0, sizeof *r);
    o = o ? o : &none;
    int target = parse_target(o->target);
    if (target < 0)
        return qfd_fail(ctx, QFD_ERR_ARG, "--target must be any, ort or tensorrt, got '%s'", o->target);
    if (o->expect_wbits < 0 || o->expect_wbits > 32 || o->expect_abits < 0 || o->expect_abits > 32 ||
        (o->expect_abits && !o->expect_wbits))
        return qfd_fail(ctx, QFD_ERR_ARG, "--expect: bits must be wNaM or wN with N, M in 1..32");
    r->target = target == CHK_TARGET_ORT ? "ort" : target == CHK_TARGET_TRT ? "tensorrt" : "any";
    qfd_model *m = NULL;
    qfd_status st = qfd_onnx_read(ctx, path, &m);
    if (st)
        return st;
    qfd_checker c = {.ctx = ctx, .m = m, .g = &m->graph, .o = o, .target = target, .r = r};
    r->rules = calloc(R_COUNT, sizeof *r->rules);
    m->path = strdup(path); /* the executor names the file in its messages */
    if (!r->rules || !m->path) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        goto out;
    }
    r->ir_version = m->ir_version;
    r->opset = c.opset = qfd_model_opset(m, "");
    r->n_nodes = (int64_t)m->graph.n_nodes;
    const char *fmt = qfd_model_metadata(m, "qfd.quant.format");
    bool oom = false;
    r->qfd_format = dup_or_null(fmt, &oom);
    st = qfd_graph_validate(ctx, &m->graph);
    if (st == QFD_ERR_INVALID) {
        chk_add(&c, R_QDQ001, -1, -1, "%s", qfd_ctx_error(ctx));
        for (int i = 0; i < R_COUNT; i++)
            r->rules[i].skipped = i == R_QDQ001 ? NULL : "the graph is not valid (QDQ001)";
        r->format = strdup("unknown");
        oom |= !r->format;
        st = QFD_OK;
    } else if (!st) {
        st = run_rules(&c);
        if (!st && !(r->format = format_name(&c)))
            oom = true;
    }
    if (!st && (oom || c.oom))
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    if (!st)
        finish(&c);
out:
    free_checker(&c);
    qfd_model_free(m);
    if (st)
        qfd_check_result_free(r);
    return st;
}

void qfd_check_result_free(qfd_check_result *r)
{
    for (size_t i = 0; i < r->n_findings; i++) {
        free(r->findings[i].node);
        free(r->findings[i].op);
        free(r->findings[i].tensor);
        free(r->findings[i].message);
    }
    free(r->findings);
    for (size_t i = 0; i < r->n_layers; i++) {
        free(r->layers[i].node);
        free(r->layers[i].op);
    }
    free(r->layers);
    free(r->rules);
    free(r->format);
    free(r->qfd_format);
    memset(r, 0, sizeof *r);
}
