/* Einsum (opsets 12-21): y = the sum, over every label not in the output,
 * of the product of the inputs, each indexed by its term of the equation
 * ("bij,bjk->bik"). Letters a-z, A-Z label axes; "..." stands for the
 * leading axes not labelled, broadcast numpy-style across inputs; a label
 * repeated in one term takes a diagonal. Without "->" the output is the
 * "..." axes then the labels used once, in alphabetical (ASCII) order.
 * Float and double.
 *
 * One loop over every combination of label values (output labels first,
 * summed ones innermost) does all the work: no BLAS, as the exports that
 * use Einsum (attention scores, small contractions) are not where the time
 * goes.
 * Backward (float32): dx_k[idx_k] += dy[idx_y] * product of the other
 * inputs, over the same loop; a diagonal adds into the diagonal only. */
#include <string.h>

#include "ops/op.h"

#define MAX_OPS 8
#define MAX_TERM 24
#define N_LETTERS 52
#define MAX_LABELS (N_LETTERS + QFD_ARRAY_MAX_RANK)
#define ELLIPSIS (-1)

typedef struct es_state {
    int n_terms;
    int len[MAX_OPS + 1];               /* term lengths; the output's is last (n_terms) */
    int8_t term[MAX_OPS + 1][MAX_TERM]; /* label ids 0..51, ELLIPSIS */
    int explicit_out;
} es_state;

static int letter_id(char c)
{
    return c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= 'A' && c <= 'Z' ? c - 'A' : -1;
}

/* Reads one term into s->term[t] from p up to a ',' '-' or the end. */
static const char *read_term(es_state *s, int t, const char *p, int *ok)
{
    int n = 0, dots = 0;
    for (; *p && *p != ',' && *p != '-'; p++) {
        if (*p == ' ')
            continue;
        int id = letter_id(*p);
        if (*p == '.' && p[1] == '.' && p[2] == '.' && !dots) {
            id = ELLIPSIS, dots = 1, p += 2;
        } else if (id < 0) {
            *ok = 0;
            return p;
        }
        if (n == MAX_TERM) {
            *ok = 0;
            return p;
        }
        s->term[t][n++] = (int8_t)id;
    }
    s->len[t] = n;
    return p;
}

static qfd_status parse(qfd_op_ctx *oc, void *state)
{
    es_state *s = state;
    const char *eq = qfd_attr_str(oc->node, "equation", NULL);
    if (!eq)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs an equation");
    if (oc->n_in < 1 || oc->n_in > MAX_OPS)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "%zu inputs: 1 to %d are supported", oc->n_in, MAX_OPS);
    int ok = 1;
    const char *p = eq;
    s->n_terms = 0;
    for (;;) {
        if (s->n_terms == MAX_OPS)
            return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "equation '%s' has too many terms", eq);
        p = read_term(s, s->n_terms++, p, &ok);
        if (!ok)
            break;
        if (*p == ',') {
            p++;
            continue;
        }
        break;
    }
    s->explicit_out = ok && p[0] == '-';
    if (ok && s->explicit_out) {
        if (p[1] != '>')
            ok = 0;
        else
            p = read_term(s, s->n_terms, p + 2, &ok);
        ok = ok && !*p;
    } else if (ok && *p) {
        ok = 0;
    }
    if (!ok)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "cannot read equation '%s'", eq);
    if ((size_t)s->n_terms != oc->n_in)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "equation '%s' has %d terms for %zu inputs", eq, s->n_terms, oc->n_in);
    if (!s->explicit_out) {
        int count[N_LETTERS] = {0}, n = 0, dots = 0;
        for (int t = 0; t < s->n_terms; t++)
            for (int i = 0; i < s->len[t]; i++) {
                if (s->term[t][i] == ELLIPSIS)
                    dots = 1;
                else
                    count[s->term[t][i]]++;
            }
        if (dots)
            s->term[s->n_terms][n++] = ELLIPSIS;
        for (int id = 0; id < N_LETTERS; id++)
            if (count[id] == 1 && n < MAX_TERM)
                s->term[s->n_terms][n++] = (int8_t)id;
        s->len[s->n_terms] = n;
    }
    return QFD_OK;
}

typedef struct es_plan {
    int n_ops; /* inputs; the output is operand n_ops */
    int L;     /* labels, in loop order */
    int64_t size[MAX_LABELS];
    int64_t st[MAX_OPS + 1][MAX_LABELS]; /* element strides, summed over a diagonal, 0 where broadcast */
    int rank;
    int64_t dims[QFD_ARRAY_MAX_RANK]; /* output shape */
} es_plan;

/* Sizes and strides of every label for the inputs' shapes, in loop order,
 * and the output shape. The "..." axes of an input with e of them are
 * aligned right over the E of the widest one (ids N_LETTERS..+E). */
static qfd_status make_plan(const qfd_op_ctx *oc, es_plan *pl)
{
    const es_state *s = oc->state;
    int n = s->n_terms, E = 0, ell[MAX_OPS];
    int64_t size[MAX_LABELS];
    for (int id = 0; id < MAX_LABELS; id++)
        size[id] = -1;
    for (int k = 0; k < n; k++) {
        const qfd_array *x = oc->in[k];
        int has = 0;
        for (int i = 0; i < s->len[k]; i++)
            has |= s->term[k][i] == ELLIPSIS;
        ell[k] = x->rank - (s->len[k] - has);
        if (ell[k] < 0 || (!has && ell[k] != 0))
            return qfd_op_fail(oc, QFD_ERR_INVALID, "input %d has rank %d, which its term does not match", k, x->rank);
        if (ell[k] > E)
            E = ell[k];
    }
    memset(pl, 0, sizeof *pl);
    pl->n_ops = n;
    /* sizes, and strides per operand (a label seen twice in a term adds its strides: the diagonal) */
    for (int k = 0; k < n; k++) {
        const qfd_array *x = oc->in[k];
        int64_t stride = 1;
        int axis = x->rank - 1;
        for (int i = s->len[k] - 1; i >= 0; i--) {
            int cnt = s->term[k][i] == ELLIPSIS ? ell[k] : 1;
            for (int c = cnt - 1; c >= 0; c--, axis--) {
                int id = s->term[k][i] == ELLIPSIS ? N_LETTERS + E - ell[k] + c : s->term[k][i];
                int64_t d = x->dims[axis];
                int bcast = id >= N_LETTERS;
                if (size[id] < 0 || (bcast && size[id] == 1))
                    size[id] = d;
                else if (d != size[id] && !(bcast && d == 1))
                    return qfd_op_fail(oc, QFD_ERR_INVALID, "label '%c' has sizes %lld and %lld",
                                       id < 26          ? 'A' + id
                                       : id < N_LETTERS ? 'a' + id - 26
                                                        : '.',
                                       (long long)size[id], (long long)d);
                if (d != 1 || !bcast)
                    pl->st[k][id] += stride;
                stride *= d;
            }
        }
    }
    /* output labels in order, then the summed ones */
    int order[MAX_LABELS], used[MAX_LABELS] = {0}, L = 0;
    for (int i = 0; i < s->len[n]; i++) {
        int cnt = s->term[n][i] == ELLIPSIS ? E : 1;
        for (int c = 0; c < cnt; c++) {
            int id = s->term[n][i] == ELLIPSIS ? N_LETTERS + c : s->term[n][i];
            if (size[id] < 0)
                return qfd_op_fail(oc, QFD_ERR_INVALID, "output label '%c' is in no input",
                                   id < 26 ? 'A' + id : 'a' + id - 26);
            if (used[id])
                return qfd_op_fail(oc, QFD_ERR_INVALID, "output repeats a label");
            if (pl->rank == QFD_ARRAY_MAX_RANK)
                return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "output rank above %d", QFD_ARRAY_MAX_RANK);
            used[id] = 1;
            order[L++] = id;
            pl->dims[pl->rank++] = size[id];
        }
    }
    for (int id = 0; id < MAX_LABELS; id++)
        if (size[id] >= 0 && !used[id])
            order[L++] = id;
    /* output strides, then everything in loop order */
    int64_t ost[MAX_LABELS] = {0}, stride = 1;
    for (int i = pl->rank - 1; i >= 0; i--) {
        ost[order[i]] = stride;
        stride *= pl->dims[i];
    }
    int64_t tmp[MAX_OPS][MAX_LABELS];
    memcpy(tmp, pl->st, sizeof tmp);
    pl->L = L;
    for (int j = 0; j < L; j++) {
        pl->size[j] = size[order[j]];
        for (int k = 0; k < n; k++)
            pl->st[k][j] = tmp[k][order[j]];
        pl->st[n][j] = ost[order[j]];
    }
    return QFD_OK;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    if (oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs one output");
    for (size_t k = 0; k < oc->n_in; k++) {
        if (!oc->in[k])
            return qfd_op_fail(oc, QFD_ERR_INVALID, "input %zu is missing", k);
        if (oc->in[k]->dtype != oc->in[0]->dtype ||
            (oc->in[k]->dtype != QFD_DT_FLOAT && oc->in[k]->dtype != QFD_DT_DOUBLE))
            return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "inputs must all be float or all double");
    }
    es_plan pl;
    qfd_status st = make_plan(oc, &pl);
    if (st)
        return st;
    qfd_array *y = oc->out[0];
    y->dtype = oc->in[0]->dtype;
    y->rank = pl.rank;
    memcpy(y->dims, pl.dims, sizeof pl.dims);
    return QFD_OK;
}

/* The loop: `grad` < 0 computes y (added into, zeroed first by the caller);
 * grad = k adds dy * (the other inputs) into d(input k). T is the element
 * type of the inputs, y and the gradients. */
#define EINSUM_LOOP(T)                                                                 \
    static void loop_##T(const es_plan *pl, const T *const *in, T *y, int grad, T *gk) \
    {                                                                                  \
        int n = pl->n_ops, L = pl->L;                                                  \
        int64_t cnt[MAX_LABELS] = {0}, off[MAX_OPS + 1] = {0};                         \
        for (int j = 0; j < L; j++)                                                    \
            if (pl->size[j] == 0)                                                      \
                return;                                                                \
        int64_t inner = L ? pl->size[L - 1] : 1;                                       \
        for (;;) {                                                                     \
            for (int64_t t = 0; t < inner; t++) {                                      \
                T prod = grad < 0 ? (T)1 : y[off[n] + (L ? t * pl->st[n][L - 1] : 0)]; \
                for (int k = 0; k < n; k++)                                            \
                    if (k != grad)                                                     \
                        prod *= in[k][off[k] + (L ? t * pl->st[k][L - 1] : 0)];        \
                if (grad < 0)                                                          \
                    y[off[n] + (L ? t * pl->st[n][L - 1] : 0)] += prod;                \
                else                                                                   \
                    gk[off[grad] + (L ? t * pl->st[grad][L - 1] : 0)] += prod;         \
            }                                                                          \
            int j = L - 2;                                                             \
            for (; j >= 0; j--) {                                                      \
                for (int k = 0; k <= n; k++)                                           \
                    off[k] += pl->st[k][j];                                            \
                if (++cnt[j] < pl->size[j])                                            \
                    break;                                                             \
                for (int k = 0; k <= n; k++)                                           \
                    off[k] -= pl->st[k][j] * pl->size[j];                              \
                cnt[j] = 0;                                                            \
            }                                                                          \
            if (j < 0)                                                                 \
                return;                                                                \
        }                                                                              \
    }
EINSUM_LOOP(float)
EINSUM_LOOP(double)

static qfd_status forward(qfd_op_ctx *oc)
{
    es_plan pl;
    qfd_status st = make_plan(oc, &pl);
    if (st)
        return st;
    qfd_array *y = oc->out[0];
    int64_t ny = qfd_array_numel(y);
    if (y->dtype == QFD_DT_FLOAT) {
        const float *in[MAX_OPS];
        for (int k = 0; k < pl.n_ops; k++)
            in[k] = oc->in[k]->data;
        memset(y->data, 0, (size_t)ny * sizeof(float));
        loop_float(&pl, in, y->data, -1, NULL);
    } else {
        const double *in[MAX_OPS];
        for (int k = 0; k < pl.n_ops; k++)
            in[k] = oc->in[k]->data;
        memset(y->data, 0, (size_t)ny * sizeof(double));
        loop_double(&pl, in, y->data, -1, NULL);
    }
    return QFD_OK;
}

static qfd_status backward(qfd_op_ctx *oc)
{
    if (!oc->gout[0])
        return QFD_OK;
    es_plan pl;
    qfd_status st = make_plan(oc, &pl);
    if (st)
        return st;
    const float *in[MAX_OPS];
    for (int k = 0; k < pl.n_ops; k++)
        in[k] = oc->in[k]->data;
    for (int k = 0; k < pl.n_ops; k++)
        if (oc->gin[k])
            loop_float(&pl, in, (float *)oc->gout[0]->data, k, oc->gin[k]->data);
    return QFD_OK;
}

const qfd_op_def qfd_op_einsum = {
    .name = "Einsum",
    .domain = "",
    .since = 12,
    .param_role = QFD_ROLES_ALL(QFD_ROLE_DATA),
    .state_size = sizeof(es_state),
    .parse = parse,
    .infer = infer,
    .forward = forward,
    .backward = backward,
};
