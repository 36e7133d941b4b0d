// Row-parallel matrix products built on the vec_dot kernels.
#include "internal.h"

#include <math.h>

// Bytes of W to keep hot while it meets every activation row: about half of a
// typical 512 KiB–1 MiB L2, leaving room for the activation rows streaming past.
#define SV_MATMUL_TILE_BYTES (256 * 1024)
#define SV_MATMUL_TILE_MIN_ROWS 4
#define SV_MATMUL_TILE_MAX_ROWS 64
// Activation rows that meet one W row back to back.
#define SV_MATMUL_X_GROUP 4

void sv_matmul_rows(const sv_kernels *k, sv_type wt, int64_t n,
                    const void *w, size_t w_stride,
                    const void *x, size_t x_stride, int64_t m,
                    float *y, int64_t y_stride,
                    int64_t r0, int64_t r1) {
    if (r1 <= r0 || m <= 0) return;
    const sv_vec_dot_fn dot = ((unsigned)wt < SV_TYPE_COUNT) ? k->vec_dot[wt] : NULL;
    const char *wb = w;
    const char *xb = x;

    if (dot == NULL) {
        // A missing kernel is a caller bug; make it loud in the output, not a crash.
        for (int64_t j = 0; j < m; j++)
            for (int64_t r = r0; r < r1; r++) y[j * y_stride + r] = NAN;
        return;
    }

    if (m == 1) {
        for (int64_t r = r0; r < r1; r++) y[r] = dot(n, wb + (size_t)r * w_stride, x);
        return;
    }

    const size_t row_bytes = sv_row_bytes(wt, n);
    int64_t tile = row_bytes ? (int64_t)(SV_MATMUL_TILE_BYTES / row_bytes) : SV_MATMUL_TILE_MAX_ROWS;
    if (tile < SV_MATMUL_TILE_MIN_ROWS) tile = SV_MATMUL_TILE_MIN_ROWS;
    if (tile > SV_MATMUL_TILE_MAX_ROWS) tile = SV_MATMUL_TILE_MAX_ROWS;

    // Within a W tile, activation rows go in small groups: each W row is then read
    // from L2 once per group and hit in L1 for the rest of it, while the group's
    // activation rows stay in L1 across the whole tile.
    for (int64_t t0 = r0; t0 < r1; t0 += tile) {
        const int64_t t1 = (t0 + tile < r1) ? t0 + tile : r1;
        for (int64_t j0 = 0; j0 < m; j0 += SV_MATMUL_X_GROUP) {
            const int64_t j1 = (j0 + SV_MATMUL_X_GROUP < m) ? j0 + SV_MATMUL_X_GROUP : m;
            for (int64_t r = t0; r < t1; r++) {
                const void *wr = wb + (size_t)r * w_stride;
                for (int64_t j = j0; j < j1; j++) y[j * y_stride + r] = dot(n, wr, xb + (size_t)j * x_stride);
            }
        }
    }
}
