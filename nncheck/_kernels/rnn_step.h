/* A recurrence's per-step product, out (bs, rows) (+)= h (bs, cols) @ w (rows, cols)^T, for
 * rnn.pyx: h_prev @ W_hh^T forward and dgates @ W_hh backward.
 *
 * A BLAS GEMM repacks w on every call; with a thin h (a batch of 16-32 rows) and 50-odd steps
 * that copy of W_hh was ~10% of an LSTM's CPU time and the GEMMs ran at 60% of peak.  Here w
 * is packed once per sequence (pack_panels: panels of 2 vectors of rows, k-major), and each
 * step runs a 4 x 2-vector register-tile kernel over it (~95% of peak for float32 on AVX2,
 * with FMA in the x86-64-v3 clone).  Sums run over k in order, in the element type.
 *
 * Included by rnn.pyx once per element type: NNC_T the type, NNC_F(name) the name's typed
 * version, NNC_LANES the elements of a 32-byte vector.
 */
#include <stddef.h>
#include <string.h>

#include "vecmath.h"

#ifndef NNC_RNN_STEP_COMMON
#define NNC_RNN_STEP_COMMON
#define NNC_STEP_ROWS 4  /* rows of h per register tile */
#define NNC_STEP_DEPTH 256  /* columns per pass: 16 KiB of a float32 or float64 panel */
#endif

#define NNC_PANEL (2 * NNC_LANES)

typedef NNC_T NNC_F(step_vec) __attribute__((vector_size(32), aligned(sizeof(NNC_T))));

/* Rows in pack_panels' layout: rows rounded up to whole panels. */
static inline ptrdiff_t NNC_F(packed_rows)(ptrdiff_t rows)
{
    return (rows + NNC_PANEL - 1) / NNC_PANEL * NNC_PANEL;
}

/* packed[p][k][i] = w[(p * PANEL + i) * s_row + k * s_col], zero past the last row. */
static void NNC_F(pack_panels)(const NNC_T* w, ptrdiff_t rows, ptrdiff_t cols,
                               ptrdiff_t s_row, ptrdiff_t s_col, NNC_T* packed)
{
    for (ptrdiff_t p = 0; p * NNC_PANEL < rows; p++)
        for (ptrdiff_t k = 0; k < cols; k++)
            for (ptrdiff_t i = 0; i < NNC_PANEL; i++) {
                const ptrdiff_t row = p * NNC_PANEL + i;
                packed[(p * cols + k) * NNC_PANEL + i] =
                    row < rows ? w[row * s_row + k * s_col] : 0;
            }
}

/* out[r, j] = (accumulate ? out[r, j] : 0) + sum_k h[r, k] w[j, k] for r < bs, j < rows,
 * w packed by pack_panels; h rows of pitch cols, out rows of pitch ld_out. */
NNCHECK_FMA_TARGETS static void NNC_F(step_product)(
    const NNC_T* restrict packed, ptrdiff_t rows, ptrdiff_t cols, const NNC_T* restrict h,
    ptrdiff_t bs, NNC_T* restrict out, ptrdiff_t ld_out, int accumulate)
{
    typedef NNC_F(step_vec) V;
    /* blocks of NNC_STEP_DEPTH columns keep a panel's slice in L1 while every tile of rows
       reads it (cols 1024, a 64 KiB panel, ran at 60% of peak without) */
    for (ptrdiff_t k0 = 0; k0 < cols; k0 += NNC_STEP_DEPTH) {
        const ptrdiff_t k1 = cols - k0 < NNC_STEP_DEPTH ? cols : k0 + NNC_STEP_DEPTH;
        const int add = accumulate || k0 > 0;
        for (ptrdiff_t p = 0; p * NNC_PANEL < rows; p++) {
            const NNC_T* wp = packed + p * cols * NNC_PANEL;
            const ptrdiff_t width = rows - p * NNC_PANEL < NNC_PANEL ? rows - p * NNC_PANEL
                                                                     : NNC_PANEL;
            for (ptrdiff_t r0 = 0; r0 < bs; r0 += NNC_STEP_ROWS) {
                const ptrdiff_t nr = bs - r0 < NNC_STEP_ROWS ? bs - r0 : NNC_STEP_ROWS;
                const NNC_T* hr[NNC_STEP_ROWS];
                for (int i = 0; i < NNC_STEP_ROWS; i++)  /* a short tile repeats its first row */
                    hr[i] = h + (r0 + (i < nr ? i : 0)) * cols;
                V a[NNC_STEP_ROWS][2];
                for (int i = 0; i < NNC_STEP_ROWS; i++)
                    a[i][0] = a[i][1] = (V) {0};
                for (ptrdiff_t k = k0; k < k1; k++) {
                    const V w0 = *(const V*) (wp + k * NNC_PANEL);
                    const V w1 = *(const V*) (wp + k * NNC_PANEL + NNC_LANES);
                    #pragma GCC unroll 4
                    for (int i = 0; i < NNC_STEP_ROWS; i++) {
                        const NNC_T b = hr[i][k];  /* vector * scalar: a broadcast */
                        a[i][0] += w0 * b;
                        a[i][1] += w1 * b;
                    }
                }
                NNC_T acc[NNC_STEP_ROWS][NNC_PANEL];
                memcpy(acc, a, sizeof acc);
                for (ptrdiff_t i = 0; i < nr; i++) {
                    NNC_T* o = out + (r0 + i) * ld_out + p * NNC_PANEL;
                    for (ptrdiff_t j = 0; j < width; j++)
                        o[j] = (add ? o[j] : 0) + acc[i][j];
                }
            }
        }
    }
}

#undef NNC_PANEL
