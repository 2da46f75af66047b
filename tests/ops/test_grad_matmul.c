/* Gradient checks of the matmul family's Einsum (issue 16): a batched
 * product, an implicit output, a diagonal, an ellipsis that broadcasts,
 * a three-input contraction and a full sum. Every element is checked. */
#include <stdio.h>

#include "../support/gradcheck.h"
#include "../support/model_builder.h"

#define I64(...) ((const int64_t[]){__VA_ARGS__})
#define PARAMS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ALL 100000

/* Einsum over parameters a (and b, c when their rank is > 0). */
static int einsum_check(const char *eq, int ra, const int64_t *da, int rb, const int64_t *db, int rc, const int64_t *dc)
{
    qfd_model *m = mb_new(13);
    const char *names[] = {"a", "b", "c"};
    int n = 1 + (rb > 0) + (rc > 0);
    mb_param(m, "a", ra, da, NULL, -1, 1);
    if (rb > 0)
        mb_param(m, "b", rb, db, NULL, -1, 1);
    if (rc > 0)
        mb_param(m, "c", rc, dc, NULL, -1, 1);
    mb_attr_str(mb_node(m, "Einsum", n, names, 1, (const char *const[]){"y"}), "equation", eq);
    mb_output(m, "y");
    const char *const *p = n == 1 ? PARAMS("a") : n == 2 ? PARAMS("a", "b") : PARAMS("a", "b", "c");
    char label[96];
    snprintf(label, sizeof label, "Einsum %s", eq);
    return gradcheck(label, m, &(gradcheck_opts){.params = p, .max_elems = ALL});
}

int main(void)
{
    int fails = 0;
    fails += einsum_check("bij,bjk->bik", 3, I64(2, 3, 4), 3, I64(2, 4, 2), 0, NULL);
    fails += einsum_check("ij,jk", 2, I64(3, 4), 2, I64(4, 2), 0, NULL);
    fails += einsum_check("bii->bi", 3, I64(2, 3, 3), 0, NULL, 0, NULL);
    fails += einsum_check("...ij,...jk->...ik", 4, I64(2, 1, 2, 3), 3, I64(3, 3, 2), 0, NULL);
    fails += einsum_check("ij,jk,k->i", 2, I64(2, 3), 2, I64(3, 4), 1, I64(4));
    fails += einsum_check("ij->", 2, I64(3, 4), 0, NULL, 0, NULL);
    printf("%s\n", fails ? "FAILED" : "all gradient checks passed");
    return fails ? 1 : 0;
}
