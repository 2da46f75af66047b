/* The shared command-line parser: see args.h. */
#include "cli/args.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 when word is one of the '|'-separated spellings in names. */
static int name_is(const char *names, const char *word, size_t len)
{
    for (const char *p = names; *p;) {
        size_t n = strcspn(p, "|");
        if (n == len && !strncmp(p, word, len))
            return 1;
        p += n + (p[n] == '|');
    }
    return 0;
}

static const qfd_flag *find(const qfd_flag *flags, size_t n_flags, const char *word, size_t len)
{
    for (size_t i = 0; i < n_flags; i++)
        if (name_is(flags[i].names, word, len))
            return &flags[i];
    return NULL;
}

/* strtoll and friends skip leading blanks and accept an empty word. */
static int starts_like_number(const char *v)
{
    return *v && !isspace((unsigned char)*v);
}

static int integer_max_unbounded(const qfd_flag *f)
{
    return f->max >= (f->kind == QFD_FLAG_KIND_INT ? (double)INT_MAX : 9.2e18);
}

/* 1000000, not 1e+06; 0.001 stays 0.001 */
static void fmt_bound(char *buf, size_t len, double v)
{
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, len, "%.0f", v);
    else
        snprintf(buf, len, "%g", v);
}

/* "an integer in [1, 256]", "a finite number > 0", ... */
static void describe_range(const qfd_flag *f, char *buf, size_t len)
{
    if (f->kind == QFD_FLAG_KIND_UINT64) {
        snprintf(buf, len, "an integer in [0, %llu]", (unsigned long long)UINT64_MAX);
        return;
    }
    int integer = f->kind == QFD_FLAG_KIND_INT || f->kind == QFD_FLAG_KIND_INT64;
    const char *what = integer ? "an integer" : "a finite number";
    int lo_open = f->open & QFD_OPEN_MIN, hi_open = f->open & QFD_OPEN_MAX;
    int unbounded = integer ? integer_max_unbounded(f) : f->max == INFINITY;
    char lo[32], hi[32];
    fmt_bound(lo, sizeof lo, f->min);
    fmt_bound(hi, sizeof hi, f->max);
    if (unbounded && f->min == -INFINITY)
        snprintf(buf, len, "%s", what);
    else if (unbounded)
        snprintf(buf, len, "%s %s %s", what, lo_open ? ">" : ">=", lo);
    else
        snprintf(buf, len, "%s in %c%s, %s%c", what, lo_open ? '(' : '[', lo, hi, hi_open ? ')' : ']');
}

static int in_range(const qfd_flag *f, double v)
{
    int lo_ok = f->open & QFD_OPEN_MIN ? v > f->min : v >= f->min;
    int hi_ok = f->open & QFD_OPEN_MAX ? v < f->max : v <= f->max;
    return lo_ok && hi_ok;
}

static int bad_number(const qfd_cli_cmd *cmd, const char *flag, const qfd_flag *f, const char *v)
{
    char range[96];
    describe_range(f, range, sizeof range);
    if (f->kind == QFD_FLAG_KIND_FLOATS)
        return qfd_cli_usage_error(cmd, "%s needs 1 to %d comma-separated values, each %s, got '%s'", flag, f->cap,
                                   range, v);
    return qfd_cli_usage_error(cmd, "%s needs %s, got '%s'", flag, range, v);
}

/* One finite float from the start of s, in range; NULL if there is none. */
static const char *parse_float(const qfd_flag *f, const char *s, float *out)
{
    if (!starts_like_number(s))
        return NULL;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end == s || !isfinite(d) || errno == ERANGE || !in_range(f, d))
        return NULL;
    *out = (float)d;
    return end;
}

static int set_number(const qfd_cli_cmd *cmd, const char *flag, const qfd_flag *f, const char *v)
{
    char *end = NULL;
    errno = 0;
    switch (f->kind) {
    case QFD_FLAG_KIND_INT:
    case QFD_FLAG_KIND_INT64: {
        long long x = starts_like_number(v) ? strtoll(v, &end, 10) : 0;
        double hi = integer_max_unbounded(f) ? INFINITY : f->max;
        if (!end || *end || errno == ERANGE || (double)x < f->min || (double)x > hi ||
            (f->kind == QFD_FLAG_KIND_INT && (x > INT_MAX || x < INT_MIN)))
            return bad_number(cmd, flag, f, v);
        if (f->kind == QFD_FLAG_KIND_INT)
            *f->to.i = (int)x;
        else
            *f->to.i64 = (int64_t)x;
        return QFD_CLI_GO;
    }
    case QFD_FLAG_KIND_UINT64: {
        /* strtoull takes "-1" as UINT64_MAX */
        unsigned long long x = starts_like_number(v) && *v != '-' ? strtoull(v, &end, 10) : 0;
        if (!end || *end || errno == ERANGE)
            return bad_number(cmd, flag, f, v);
        *f->to.u64 = (uint64_t)x;
        return QFD_CLI_GO;
    }
    case QFD_FLAG_KIND_FLOAT: {
        const char *rest = parse_float(f, v, f->to.f);
        if (!rest || *rest)
            return bad_number(cmd, flag, f, v);
        return QFD_CLI_GO;
    }
    case QFD_FLAG_KIND_FLOATS: {
        int n = 0;
        const char *s = v;
        for (;;) {
            if (n == f->cap || !(s = parse_float(f, s, &f->to.f[n])))
                return bad_number(cmd, flag, f, v);
            n++;
            s += strspn(s, " ");
            if (!*s)
                break;
            if (*s++ != ',')
                return bad_number(cmd, flag, f, v);
        }
        *f->n = n;
        return QFD_CLI_GO;
    }
    default: return QFD_CLI_GO;
    }
}

static int set_choice(const qfd_cli_cmd *cmd, const char *flag, const qfd_flag *f, const char *v)
{
    if (!*v || strchr(v, '|') || !name_is(f->choices, v, strlen(v)))
        return qfd_cli_usage_error(cmd, "%s needs one of %s, got '%s'", flag, f->choices, v);
    *f->to.s = v;
    return QFD_CLI_GO;
}

static int set_value(const qfd_cli_cmd *cmd, const char *flag, const qfd_flag *f, const char *v, int argc)
{
    switch (f->kind) {
    case QFD_FLAG_KIND_STRING: *f->to.s = v; return QFD_CLI_GO;
    case QFD_FLAG_KIND_CHOICE: return set_choice(cmd, flag, f, v);
    case QFD_FLAG_KIND_LIST: {
        qfd_cli_list *l = f->to.list;
        /* never more values than words */
        if (!l->items && !(l->items = calloc((size_t)argc, sizeof *l->items)))
            return qfd_cli_oom();
        l->items[l->n++] = v;
        return QFD_CLI_GO;
    }
    default: return set_number(cmd, flag, f, v);
    }
}

int qfd_cli_parse(const qfd_cli_cmd *cmd, const qfd_flag *flags, size_t n_flags, int argc, char **argv,
                  const char *pos_names, const char **pos, int n_pos)
{
    int got = 0, flags_done = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (flags_done || a[0] != '-' || !a[1]) {
            if (got == n_pos)
                return qfd_cli_usage_error(cmd, "unexpected argument '%s'", a);
            pos[got++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            flags_done = 1;
            continue;
        }
        if (qfd_cli_is_help(a)) {
            fputs(cmd->usage, stdout);
            return QFD_EXIT_OK;
        }
        const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const qfd_flag *f = find(flags, n_flags, a, len);
        if (!f)
            return qfd_cli_usage_error(cmd, "unknown flag '%.*s'", (int)len, a);
        char flag[128];
        snprintf(flag, sizeof flag, "%.*s", (int)len, a);
        if (f->kind == QFD_FLAG_KIND_SWITCH) {
            if (eq)
                return qfd_cli_usage_error(cmd, "%s takes no value, got '%s'", flag, a);
            *f->to.i = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
        if (!v)
            return qfd_cli_usage_error(cmd, "%s needs a value", flag);
        int rc = set_value(cmd, flag, f, v, argc);
        if (rc != QFD_CLI_GO)
            return rc;
    }
    if (got < n_pos) {
        /* the first missing name in "IN OUT" */
        const char *p = pos_names;
        for (int k = 0; k < got; k++)
            p += strcspn(p, " "), p += strspn(p, " ");
        return qfd_cli_usage_error(cmd, "missing %.*s", (int)strcspn(p, " "), p);
    }
    return QFD_CLI_GO;
}

int qfd_cli_data_check(const qfd_cli_cmd *cmd, int n_mean, int n_std)
{
    if (n_mean != n_std)
        return qfd_cli_usage_error(cmd, "--mean and --std must be given together, with as many values");
    return QFD_CLI_GO;
}
