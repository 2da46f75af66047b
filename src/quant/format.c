/* The export formats by name, as --format, the report and the file's
 * qfd.quant.format metadata spell them. */
#include <string.h>

#include "quant/quant.h"

static const char *const names[] = {
    [QFD_FORMAT_ORT] = "ort",
    [QFD_FORMAT_INT4] = "int4",
    [QFD_FORMAT_TENSORRT] = "tensorrt",
};

const char *qfd_quant_format_name(qfd_quant_format fmt)
{
    return (size_t)fmt < sizeof names / sizeof *names && names[fmt] ? names[fmt] : "?";
}

int qfd_quant_format_parse(const char *name, qfd_quant_format *fmt)
{
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (names[i] && !strcmp(names[i], name)) {
            *fmt = (qfd_quant_format)i;
            return 0;
        }
    return -1;
}
