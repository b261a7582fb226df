#include <zlib.h>
// deflateInit/inflateInit are macros and do not import into Swift.
static inline int vimana_deflate_init(z_streamp s, int level) {
    return deflateInit_(s, level, ZLIB_VERSION, (int)sizeof(z_stream));
}
static inline int vimana_inflate_init(z_streamp s) {
    return inflateInit_(s, ZLIB_VERSION, (int)sizeof(z_stream));
}
