/* The one command-line parser every subcommand uses.
 *
 * A command describes its flags as a table and hands it argv:
 *
 *     qfd_flag flags[] = {
 *         QFD_FLAG_INT("--epochs", &o.epochs, 1, 1000000),
 *         QFD_FLAG_FLOAT("--lr", &o.lr, 0, INFINITY, QFD_OPEN_MIN),
 *         QFD_FLAG_STRING("-o|--output", &out),
 *         QFD_FLAG_SWITCH("--nesterov", &o.nesterov),
 *     };
 *     const char *model;
 *     int rc = qfd_cli_parse(&qfd_cmd_train, flags, QFD_COUNT(flags), argc, argv, "MODEL", &model, 1);
 *     if (rc != QFD_CLI_GO)
 *         return rc;
 *
 * The macros store the destination in a typed union member, so a flag
 * pointing at a variable of the wrong type does not compile. A value is
 * written only when the flag is given: destinations keep their defaults.
 * Both "--flag value" and "--flag=value" work, and "--" ends the flags.
 * Every number is parsed strictly: the whole word must be a number of the
 * flag's kind, finite, inside its range; anything else is refused with one
 * line naming the flag and the accepted range.
 */
#ifndef QFD_CLI_ARGS_H
#define QFD_CLI_ARGS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/cli.h"

typedef enum qfd_flag_kind {
    QFD_FLAG_KIND_SWITCH, /* no value; sets *int to 1 */
    QFD_FLAG_KIND_INT,    /* int in [min, max] */
    QFD_FLAG_KIND_INT64,  /* int64_t in [min, max] */
    QFD_FLAG_KIND_UINT64, /* any uint64_t (seeds) */
    QFD_FLAG_KIND_FLOAT,  /* finite float in the range, ends open or closed */
    QFD_FLAG_KIND_FLOATS, /* 1..cap comma-separated finite floats in the range; count in *n */
    QFD_FLAG_KIND_STRING, /* const char * into argv */
    QFD_FLAG_KIND_CHOICE, /* const char *, one of "a|b|c" */
    QFD_FLAG_KIND_LIST,   /* repeatable string, appended to a qfd_cli_list */
} qfd_flag_kind;

/* Which ends of a float range are excluded. */
enum { QFD_CLOSED = 0, QFD_OPEN_MIN = 1, QFD_OPEN_MAX = 2 };

/* Values of a repeatable flag; items point into argv. The parser allocates
 * items; the caller frees it (also after a parse error). */
typedef struct qfd_cli_list {
    const char **items;
    int n;
} qfd_cli_list;

typedef struct qfd_flag {
    const char *names; /* "--output|-o": every spelling, '|'-separated */
    qfd_flag_kind kind;
    union {
        int *i;
        int64_t *i64;
        uint64_t *u64;
        float *f;
        const char **s;
        qfd_cli_list *list;
    } to;
    double min, max; /* numbers; max INFINITY: no upper bound */
    int open;        /* QFD_OPEN_MIN | QFD_OPEN_MAX, floats only */
    int cap;         /* FLOATS: most values accepted */
    int *n;          /* FLOATS: how many were given */
    const char *choices;
} qfd_flag;

#define QFD_COUNT(a) (sizeof(a) / sizeof *(a))

/* One line per kind reads as a table. */
/* clang-format off */
#define QFD_FLAG_SWITCH(names_, dst) {.names = (names_), .kind = QFD_FLAG_KIND_SWITCH, .to.i = (dst)}
#define QFD_FLAG_INT(names_, dst, lo, hi) \
    {.names = (names_), .kind = QFD_FLAG_KIND_INT, .to.i = (dst), .min = (lo), .max = (hi)}
#define QFD_FLAG_INT64(names_, dst, lo, hi) \
    {.names = (names_), .kind = QFD_FLAG_KIND_INT64, .to.i64 = (dst), .min = (lo), .max = (hi)}
#define QFD_FLAG_UINT64(names_, dst) {.names = (names_), .kind = QFD_FLAG_KIND_UINT64, .to.u64 = (dst)}
#define QFD_FLAG_FLOAT(names_, dst, lo, hi, open_) \
    {.names = (names_), .kind = QFD_FLAG_KIND_FLOAT, .to.f = (dst), .min = (lo), .max = (hi), .open = (open_)}
#define QFD_FLAG_FLOATS(names_, dst, count, cap_, lo, hi, open_) \
    {.names = (names_), .kind = QFD_FLAG_KIND_FLOATS, .to.f = (dst), .n = (count), .cap = (cap_), \
     .min = (lo), .max = (hi), .open = (open_)}
#define QFD_FLAG_STRING(names_, dst) {.names = (names_), .kind = QFD_FLAG_KIND_STRING, .to.s = (dst)}
#define QFD_FLAG_CHOICE(names_, dst, choices_) \
    {.names = (names_), .kind = QFD_FLAG_KIND_CHOICE, .to.s = (dst), .choices = (choices_)}
#define QFD_FLAG_LIST(names_, dst) {.names = (names_), .kind = QFD_FLAG_KIND_LIST, .to.list = (dst)}
/* The data flags of every command that reads a dataset, one spelling and
 * range for all: --data, --mean/--std and how image files are prepared. */
#define QFD_DATA_FLAGS(data_, img_, mean_, n_mean_, std_, n_std_) \
    QFD_FLAG_STRING("--data", (data_)), \
    QFD_FLAG_FLOATS("--mean", (mean_), (n_mean_), 4, -INFINITY, INFINITY, QFD_CLOSED), \
    QFD_FLAG_FLOATS("--std", (std_), (n_std_), 4, 0, INFINITY, QFD_OPEN_MIN), \
    QFD_FLAG_INT("--resize", &(img_)->resize, 1, 65536), \
    QFD_FLAG_INT("--crop", &(img_)->crop, 1, 65536), \
    QFD_FLAG_CHOICE("--on-bad-image", &(img_)->on_bad_image, "skip|fail")
/* clang-format on */

/* Their help lines, for the image-file flags (--data and --mean/--std are
 * described by each command). */
#define QFD_IMAGE_FLAGS_HELP                                                               \
    "  --resize N           image files: shorter side resized to N first (bilinear with\n" \
    "                       antialias, as torchvision's Resize on PIL images)\n"           \
    "  --crop M             image files: center crop M x M (default: the model's H x W;\n" \
    "                       with neither flag, images are resized to H x W)\n"             \
    "  --on-bad-image A     a corrupt or truncated image: fail (default, naming it) or\n"  \
    "                       skip (left out and counted)\n"

/* After parsing QFD_DATA_FLAGS: 2 after a one-line error when --mean and
 * --std differ in count, else QFD_CLI_GO. */
int qfd_cli_data_check(const qfd_cli_cmd *cmd, int n_mean, int n_std);

/* qfd_cli_parse's result when the command should go on. */
#define QFD_CLI_GO (-1)

/* Parses argv (the words after the command name) against flags. Positional
 * arguments are all required: n_pos of them, named in pos_names
 * ("IN OUT", for messages), stored in pos. Returns QFD_CLI_GO, or the exit
 * code the command must return: 0 after printing cmd->usage for -h/--help,
 * 2 after a one-line error. */
int qfd_cli_parse(const qfd_cli_cmd *cmd, const qfd_flag *flags, size_t n_flags, int argc, char **argv,
                  const char *pos_names, const char **pos, int n_pos);

#endif
