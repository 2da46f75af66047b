/* Per-layer bits and the layers allowed to stay float, from the file's
 * qfd metadata (written by `quantize`: qfd.quant.bits "name=w4a4,...",
 * qfd.quant.float "name,...", qfd.quant.format) and from --expect and
 * --allow-float. The metadata wins over --expect: it knows which layers a
 * run kept at 8 bits. Other qfd.quant.* keys (other formats may add some)
 * are ignored; an entry that cannot be read, or that names no node of the
 * graph, is a QDQ019 warning and is otherwise ignored, so that a file
 * whose metadata is damaged is still checked by its structure. */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "core/ctx.h"
#include "core/strmap.h"
#include "ir/model_info.h"

/* Parses "w4a8" or "w4" into bits; false when it is neither. */
static bool parse_bits(const char *s, size_t len, int *w, int *a)
{
    char buf[32];
    if (len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    if (buf[0] != 'w')
        return false;
    long wb = strtol(buf + 1, &end, 10), ab = 0;
    if (end == buf + 1 || wb < 1 || wb > 32)
        return false;
    if (*end == 'a') {
        char *p = end + 1;
        ab = strtol(p, &end, 10);
        if (end == p || ab < 1 || ab > 32)
            return false;
    }
    if (*end)
        return false;
    *w = (int)wb;
    *a = (int)ab;
    return true;
}

/* Calls fn on each comma-separated item of s (empty items skipped). */
static void each_item(qfd_checker *c, const qfd_strmap *names, const char *key, const char *s,
                      void (*fn)(qfd_checker *, const qfd_strmap *, const char *, const char *, size_t))
{
    while (s && *s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len)
            fn(c, names, key, s, len);
        s = e ? e + 1 : NULL;
    }
}

static int node_named(const qfd_strmap *names, const char *s, size_t len, char *buf, size_t cap)
{
    if (len >= cap)
        return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    return qfd_strmap_get(names, buf);
}

static void bits_item(qfd_checker *c, const qfd_strmap *names, const char *key, const char *s, size_t len)
{
    char name[1024];
    const char *eq = NULL;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '=')
            eq = s + i; /* the last '=': names may hold one */
    int w, a;
    if (!eq || eq == s || !parse_bits(eq + 1, len - (size_t)(eq + 1 - s), &w, &a)) {
        chk_add(c, R_QDQ019, -1, -1, "metadata %s: entry '%.*s' is not NAME=wNaM; ignored", key, (int)len, s);
        return;
    }
    int n = node_named(names, s, (size_t)(eq - s), name, sizeof name);
    if (n < 0) {
        chk_add(c, R_QDQ019, -1, -1, "metadata %s names layer '%.*s', which is not a node of the graph; ignored", key,
                (int)(eq - s), s);
        return;
    }
    c->wbits[n] = w;
    c->abits[n] = a;
    c->bits_from[n] = "the qfd metadata";
}

static void float_item(qfd_checker *c, const qfd_strmap *names, const char *key, const char *s, size_t len)
{
    char name[1024];
    int n = node_named(names, s, len, name, sizeof name);
    if (n < 0) {
        chk_add(c, R_QDQ019, -1, -1, "metadata %s names layer '%.*s', which is not a node of the graph; ignored", key,
                (int)len, s);
        return;
    }
    c->allowed_float[n] = true;
}

static bool allowed_by_flag(const qfd_checker *c, const qfd_node *n)
{
    for (size_t i = 0; i < c->o->n_allow_float; i++) {
        const char *p = c->o->allow_float[i];
        if ((n->name && !fnmatch(p, n->name, 0)) || (n->op_type && !fnmatch(p, n->op_type, 0)))
            return true;
    }
    return false;
}

qfd_status chk_meta(qfd_checker *c)
{
    const qfd_graph *g = c->g;
    c->wbits = calloc(g->n_nodes + 1, sizeof *c->wbits);
    c->abits = calloc(g->n_nodes + 1, sizeof *c->abits);
    c->bits_from = calloc(g->n_nodes + 1, sizeof *c->bits_from);
    c->allowed_float = calloc(g->n_nodes + 1, sizeof *c->allowed_float);
    if (!c->wbits || !c->abits || !c->bits_from || !c->allowed_float)
        return qfd_fail(c->ctx, QFD_ERR_NOMEM, "out of memory");
    qfd_strmap names = {0};
    /* backwards, so that the first of two nodes sharing a name wins */
    for (size_t i = g->n_nodes; i-- > 0;)
        if (g->nodes[i].name && *g->nodes[i].name && qfd_strmap_put(&names, g->nodes[i].name, (int)i)) {
            qfd_strmap_free(&names);
            return qfd_fail(c->ctx, QFD_ERR_NOMEM, "out of memory");
        }
    const char *bits = qfd_model_metadata(c->m, "qfd.quant.bits");
    const char *fl = qfd_model_metadata(c->m, "qfd.quant.float");
    each_item(c, &names, "qfd.quant.bits", bits, bits_item);
    each_item(c, &names, "qfd.quant.float", fl, float_item);
    qfd_strmap_free(&names);
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        if (!chk_is_layer(n) && !chk_is_int_layer(n))
            continue;
        if (allowed_by_flag(c, n))
            c->allowed_float[i] = true;
        if (!c->bits_from[i] && c->o->expect_wbits > 0) {
            c->wbits[i] = c->o->expect_wbits;
            c->abits[i] = c->o->expect_abits;
            c->bits_from[i] = "--expect";
        }
    }
    return QFD_OK;
}
