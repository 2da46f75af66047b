/* The parts of the opset upgrade (qfd_pass_upgrade_opset, passes.h):
 * upgrade_opset.c walks the graph with the tables, upgrade_rules.c holds
 * one rewrite per schema change that changes the graph, upgrade_rank.c
 * the ranks some rewrites look at. */
#ifndef QFD_PASSES_UPGRADE_H
#define QFD_PASSES_UPGRADE_H

#include <stdbool.h>

#include "ir/ir.h"

typedef struct qfd_upgrade {
    qfd_ctx *ctx;
    qfd_model *m;
    int64_t from, to; /* opsets of the default domain */
    const int *rank;  /* rank of each tensor the graph had at the start, -1 unknown */
    size_t n_rank;
} qfd_upgrade;

/* One schema change of op at opset `version` that changes the graph: the
 * node must be rewritten when from < version <= to. check refuses, with
 * the message set and nothing changed, what has no exact rewrite (NULL:
 * everything has one); apply rewrites node i, out of memory being its only
 * failure. A rule with renames_to makes the node that op (Upsample becomes
 * Resize): its check covers every later change of the new op, and apply
 * goes on with the new op's rules. */
typedef struct qfd_upgrade_rule {
    const char *op;
    int version;
    const char *renames_to;
    qfd_status (*check)(const qfd_upgrade *u, size_t node);
    qfd_status (*apply)(qfd_upgrade *u, size_t node);
} qfd_upgrade_rule;

/* Sorted by op, then version. */
extern const qfd_upgrade_rule qfd_upgrade_rules[];
extern const size_t qfd_upgrade_n_rules;

/* Fails with "cannot upgrade node 'x' (Op) from opset F to T: <why>". */
qfd_status qfd_upgrade_refuse(const qfd_upgrade *u, size_t node, const char *why, ...)
    __attribute__((format(printf, 3, 4)));

/* The rank of every tensor where the graph tells it without running:
 * declared shapes, initializers and Constant values, and what common ops
 * make of known ranks (upgrade_rank.c says which). rank[] has n_tensors
 * entries, -1 where unknown; the graph must be topologically sorted. */
void qfd_upgrade_ranks(const qfd_graph *g, int *rank);

#endif
