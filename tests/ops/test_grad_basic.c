/* Gradient checks: Identity, and the harness itself (it must catch a wrong
 * gradient). */
#include <stdio.h>

#include "../support/gradcheck.h"
#include "../support/model_builder.h"

int main(void)
{
    int fails = 0;
    const int64_t d[] = {3, 4};
    qfd_model *m = mb_new(13);
    mb_param(m, "x", 2, d, NULL, -1, 1);
    mb_node(m, "Identity", 1, (const char *[]){"x"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    fails += gradcheck("Identity", m, &(gradcheck_opts){.params = (const char *[]){"x", NULL}});

    /* Identity of the same parameter twice: gradients must accumulate (+=). */
    m = mb_new(13);
    mb_param(m, "x", 2, d, NULL, -1, 1);
    mb_node(m, "Identity", 1, (const char *[]){"x"}, 1, (const char *[]){"y1"});
    mb_node(m, "Identity", 1, (const char *[]){"x"}, 1, (const char *[]){"y2"});
    mb_output(m, "y1");
    mb_output(m, "y2");
    fails += gradcheck("Identity x2 (accumulation)", m, &(gradcheck_opts){.params = (const char *[]){"x", NULL}});
    printf("%s\n", fails ? "FAILED" : "all gradient checks passed");
    return fails ? 1 : 0;
}
