/* Winograd F(2x2, 3x3) transforms for 3x3 stride-1 convolutions (groups 1, dilation 1).
 *
 * A 2x2 output tile needs a 4x4 input patch d; with U = G g G^T the 4x4 transform of a
 * 3x3 kernel and V = B^T d B that of the patch, the tile is Y = A^T (U . V) A: 16 products
 * per channel pair instead of 36.  Over a block of tiles the 16 elementwise products become
 * 16 GEMMs, M[xi] (O x tiles) = U[xi] (O x C) @ V[xi] (C x tiles), run by conv.pyx
 * (winograd_cols, winograd_weight_grad); this header has the transforms around them:
 *
 *   wg_weight_transform  U = G g G^T           (the input gradient's: of the flipped,
 *                                               transposed kernel: a forward convolution
 *                                               of the output gradient, padding 2 - p)
 *   wg_input_tiles       V = B^T d B           patches from the zero-padded image
 *   wg_output_tiles      Y = A^T M A (+ bias)  written to the valid outputs only
 *   wg_grad_tiles        A dY A^T              the output transform's adjoint
 *   wg_weight_finish     dg = G^T dU G         the weight transform's adjoint
 *
 * Tiles are cut into *units*: a segment of at most `seg` tiles of one tile row of one
 * sample.  Within a unit the transforms run along the tile row with unit-stride vectors:
 * a patch row's even and odd columns are first copied apart (zero where the padding is),
 * so tile k reads elements k and k+1 of each.  Included by conv.pyx once per element type,
 * with NNC_T the type and NNC_F(name) the name's typed version.
 */
#include <stddef.h>
#include <string.h>

#include "conv_targets.h"

#ifndef NNC_WG_GEOM
#define NNC_WG_GEOM
/* One call's planes: a C x H x W source, an O x OH x OW destination, front padding PH, PW
 * (negative crops: the input gradient's 2 - p for p > 2), TH x TW tiles per plane. */
typedef struct {
    int C, H, W, O, OH, OW, PH, PW, TH, TW, seg, nseg;
} nnc_wg_geom;

/* The unit u's sample n, tile row th and tiles [tw0, tw0 + nt). */
static inline void nnc_wg_unit(const nnc_wg_geom *g, ptrdiff_t u, ptrdiff_t *n, int *th,
                               int *tw0, int *nt) {
    const ptrdiff_t row = u / g->nseg;
    *n = row / g->TH;
    *th = (int) (row % g->TH);
    *tw0 = (int) (u % g->nseg) * g->seg;
    *nt = g->TW - *tw0 < g->seg ? g->TW - *tw0 : g->seg;
}

/* The distance between the 16 matrices of U, V, M and their gradients, for matrices of
 * `elems` elements: a multiple of 16 elements plus 16, so that the 16 streams a transform
 * writes (or reads) do not fall on the same cache sets, as they would at a power of two
 * (C = O = 256: 11% of a forward went to the weight transform, with it 1%). */
static inline ptrdiff_t nnc_wg_stride(ptrdiff_t elems) {
    return (elems + 15) / 16 * 16 + 16;
}

/* Row-buffer elements the tile transforms need: 8 rows of seg + 1. */
static inline ptrdiff_t nnc_wg_rowbuf(const nnc_wg_geom *g) {
    return 8 * ((ptrdiff_t) g->seg + 1);
}
#endif

/* Rows [r0, r1) of U = G g G^T (16 matrices of rows x cols, mat apart) for a (O, C, 3, 3)
 * kernel w:
 * U[xi][o][c] = (G w[o][c] G^T)[xi] (O x C), or with flip U[xi][c][o] = (G w'[c][o] G^T)[xi]
 * (C x O) of the kernel rotated 180 degrees, w'[c][o][a][b] = w[o][c][2-a][2-b]: the
 * weight of the input gradient's convolution.  U is written along its rows. */
NNC_CONV_TARGETS static void NNC_F(wg_weight_transform)(const NNC_T *w, NNC_T *U, ptrdiff_t mat, int O,
                                       int C, int flip, int r0, int r1) {
    const int cols = flip ? O : C;
    for (int r = r0; r < r1; r++) {
        for (int s = 0; s < cols; s++) {
            const NNC_T *k = w + (flip ? (ptrdiff_t) s * C + r : (ptrdiff_t) r * C + s) * 9;
            NNC_T g[3][3], t[4][3];
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++)
                    g[a][b] = flip ? k[(2 - a) * 3 + 2 - b] : k[a * 3 + b];
            for (int b = 0; b < 3; b++) {  /* t = G g */
                t[0][b] = g[0][b];
                t[1][b] = (NNC_T) 0.5 * (g[0][b] + g[1][b] + g[2][b]);
                t[2][b] = (NNC_T) 0.5 * (g[0][b] - g[1][b] + g[2][b]);
                t[3][b] = g[2][b];
            }
            NNC_T *u = U + (ptrdiff_t) r * cols + s;
            for (int i = 0; i < 4; i++) {  /* U = t G^T */
                u[(i * 4 + 0) * mat] = t[i][0];
                u[(i * 4 + 1) * mat] = (NNC_T) 0.5 * (t[i][0] + t[i][1] + t[i][2]);
                u[(i * 4 + 2) * mat] = (NNC_T) 0.5 * (t[i][0] - t[i][1] + t[i][2]);
                u[(i * 4 + 3) * mat] = t[i][2];
            }
        }
    }
}

/* even[k] = row[2k + first], odd[k] = row[2k + first + 1] for k <= n, zero where that
 * column is outside [0, size). */
static inline void NNC_F(wg_split)(const NNC_T *row, ptrdiff_t first, ptrdiff_t size, int n,
                                   NNC_T *even, NNC_T *odd) {
    for (int k = 0; k <= n; k++) {
        const ptrdiff_t a = first + 2 * (ptrdiff_t) k;
        even[k] = a >= 0 && a < size ? row[a] : 0;
        odd[k] = a + 1 >= 0 && a + 1 < size ? row[a + 1] : 0;
    }
}

/* even/odd of a row of the source plane, or zeros for a row outside it; interior runs (no
 * column outside) take a plain strided copy. */
static inline void NNC_F(wg_split_row)(const NNC_T *plane, ptrdiff_t r, ptrdiff_t rows,
                                       ptrdiff_t first, ptrdiff_t size, int n, NNC_T *even,
                                       NNC_T *odd) {
    if (r < 0 || r >= rows) {
        memset(even, 0, (size_t) (n + 1) * sizeof(NNC_T));
        memset(odd, 0, (size_t) (n + 1) * sizeof(NNC_T));
    } else if (first >= 0 && first + 2 * (ptrdiff_t) n + 1 < size) {
        const NNC_T *src = plane + r * size + first;
        #pragma omp simd
        for (int k = 0; k <= n; k++) {
            even[k] = src[2 * k];
            odd[k] = src[2 * k + 1];
        }
    } else {
        NNC_F(wg_split)(plane + r * size, first, size, n, even, odd);
    }
}

/* V[xi][c][t0 + k] (rows ldv apart, matrices mat apart) = (B^T d B)[xi] of the patch of
 * channel c under tile k of unit u, for every channel; img is sample 0, samples img_step
 * apart.  B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. */
NNC_CONV_TARGETS static void NNC_F(wg_input_tiles)(const nnc_wg_geom *g, const NNC_T *img, ptrdiff_t img_step,
                                  ptrdiff_t u, NNC_T *V, ptrdiff_t ldv, ptrdiff_t mat,
                                  ptrdiff_t t0, NNC_T *rowbuf) {
    ptrdiff_t n;
    int th, tw0, nt;
    nnc_wg_unit(g, u, &n, &th, &tw0, &nt);
    const ptrdiff_t plane = (ptrdiff_t) g->H * g->W;
    const ptrdiff_t r0 = 2 * (ptrdiff_t) th - g->PH, first = 2 * (ptrdiff_t) tw0 - g->PW;
    const ptrdiff_t len = nt + 1;
    NNC_T *e0 = rowbuf, *o0 = e0 + len, *e1 = o0 + len, *o1 = e1 + len, *e2 = o1 + len,
          *o2 = e2 + len, *e3 = o2 + len, *o3 = e3 + len;
    for (int c = 0; c < g->C; c++) {
        const NNC_T *src = img + n * img_step + c * plane;
        NNC_F(wg_split_row)(src, r0, g->H, first, g->W, nt, e0, o0);
        NNC_F(wg_split_row)(src, r0 + 1, g->H, first, g->W, nt, e1, o1);
        NNC_F(wg_split_row)(src, r0 + 2, g->H, first, g->W, nt, e2, o2);
        NNC_F(wg_split_row)(src, r0 + 3, g->H, first, g->W, nt, e3, o3);
        NNC_T *v = V + c * ldv + t0;
        #pragma omp simd
        for (int k = 0; k < nt; k++) {
            /* d B along each patch row: (d0 - d2, d1 + d2, d2 - d1, d1 - d3) */
            const NNC_T a0 = e0[k] - e0[k + 1], a1 = o0[k] + e0[k + 1],
                        a2 = e0[k + 1] - o0[k], a3 = o0[k] - o0[k + 1];
            const NNC_T b0 = e1[k] - e1[k + 1], b1 = o1[k] + e1[k + 1],
                        b2 = e1[k + 1] - o1[k], b3 = o1[k] - o1[k + 1];
            const NNC_T c0 = e2[k] - e2[k + 1], c1 = o2[k] + e2[k + 1],
                        c2 = e2[k + 1] - o2[k], c3 = o2[k] - o2[k + 1];
            const NNC_T d0 = e3[k] - e3[k + 1], d1 = o3[k] + e3[k + 1],
                        d2 = e3[k + 1] - o3[k], d3 = o3[k] - o3[k + 1];
            /* then B^T down the columns */
            v[0 * mat + k] = a0 - c0;  v[1 * mat + k] = a1 - c1;
            v[2 * mat + k] = a2 - c2;  v[3 * mat + k] = a3 - c3;
            v[4 * mat + k] = b0 + c0;  v[5 * mat + k] = b1 + c1;
            v[6 * mat + k] = b2 + c2;  v[7 * mat + k] = b3 + c3;
            v[8 * mat + k] = c0 - b0;  v[9 * mat + k] = c1 - b1;
            v[10 * mat + k] = c2 - b2; v[11 * mat + k] = c3 - b3;
            v[12 * mat + k] = b0 - d0; v[13 * mat + k] = b1 - d1;
            v[14 * mat + k] = b2 - d2; v[15 * mat + k] = b3 - d3;
        }
    }
}

/* The O output planes under unit u's tiles = (A^T M A) of M[xi][o][t0 + k] (rows ldm apart,
 * matrices mat apart) (+ bias[o] when bias is not NULL), written where inside OH x OW; out is
 * sample 0, samples out_step apart.  A^T = [1 1 1 0; 0 1 -1 -1].  The tiles' four outputs
 * go to rowbuf first (unit-stride vectors), then interleaved into the output rows. */
NNC_CONV_TARGETS static void NNC_F(wg_output_tiles)(const nnc_wg_geom *g, const NNC_T *M,
                                                    ptrdiff_t ldm, ptrdiff_t mat, ptrdiff_t t0,
                                                    const NNC_T *bias, NNC_T *out,
                                                    ptrdiff_t out_step, ptrdiff_t u,
                                                    NNC_T *rowbuf) {
    ptrdiff_t n;
    int th, tw0, nt;
    nnc_wg_unit(g, u, &n, &th, &tw0, &nt);
    const ptrdiff_t plane = (ptrdiff_t) g->OH * g->OW;
    const int rows = 2 * th + 1 < g->OH ? 2 : 1;
    /* tiles whose two columns are both inside (all but an odd width's last) */
    const int full = 2 * (tw0 + nt) <= g->OW ? nt : nt - 1;
    NNC_T *y00 = rowbuf, *y01 = y00 + nt, *y10 = y01 + nt, *y11 = y10 + nt;
    for (int o = 0; o < g->O; o++) {
        const NNC_T *m = M + o * ldm + t0;
        const NNC_T b = bias ? bias[o] : (NNC_T) 0;
        #pragma omp simd
        for (int k = 0; k < nt; k++) {
            NNC_T p[2][4];
            for (int j = 0; j < 4; j++) {  /* A^T down the columns */
                p[0][j] = m[j * mat + k] + m[(4 + j) * mat + k] + m[(8 + j) * mat + k];
                p[1][j] = m[(4 + j) * mat + k] - m[(8 + j) * mat + k] - m[(12 + j) * mat + k];
            }
            y00[k] = p[0][0] + p[0][1] + p[0][2] + b;  /* then A along the rows */
            y01[k] = p[0][1] - p[0][2] - p[0][3] + b;
            y10[k] = p[1][0] + p[1][1] + p[1][2] + b;
            y11[k] = p[1][1] - p[1][2] - p[1][3] + b;
        }
        for (int r = 0; r < rows; r++) {
            const NNC_T *even = r ? y10 : y00, *odd = r ? y11 : y01;
            NNC_T *y = out + n * out_step + o * plane + (ptrdiff_t) (2 * th + r) * g->OW
                       + 2 * tw0;
            for (int k = 0; k < full; k++) {
                y[2 * k] = even[k];
                y[2 * k + 1] = odd[k];
            }
            if (full < nt)
                y[2 * full] = even[full];
        }
    }
}

/* Wt[xi][o][t0 + k] (rows ldw apart, matrices mat apart) = (A dY A^T)[xi] of the 2x2
 * gradient tile k of unit u in plane o (zero outside OH x OW), for every plane; dy is
 * sample 0, samples dy_step apart: the adjoint of wg_output_tiles. */
NNC_CONV_TARGETS static void NNC_F(wg_grad_tiles)(const nnc_wg_geom *g, const NNC_T *dy, ptrdiff_t dy_step,
                                 ptrdiff_t u, NNC_T *Wt, ptrdiff_t ldw, ptrdiff_t mat,
                                 ptrdiff_t t0, NNC_T *rowbuf) {
    ptrdiff_t n;
    int th, tw0, nt;
    nnc_wg_unit(g, u, &n, &th, &tw0, &nt);
    const ptrdiff_t plane = (ptrdiff_t) g->OH * g->OW, len = nt + 1;
    NNC_T *e0 = rowbuf, *o0 = e0 + len, *e1 = o0 + len, *o1 = e1 + len;
    for (int o = 0; o < g->O; o++) {
        const NNC_T *src = dy + n * dy_step + o * plane;
        NNC_F(wg_split_row)(src, 2 * (ptrdiff_t) th, g->OH, 2 * (ptrdiff_t) tw0, g->OW,
                            nt, e0, o0);
        NNC_F(wg_split_row)(src, 2 * (ptrdiff_t) th + 1, g->OH, 2 * (ptrdiff_t) tw0, g->OW,
                            nt, e1, o1);
        NNC_T *w = Wt + o * ldw + t0;
        #pragma omp simd
        for (int k = 0; k < nt; k++) {
            /* y A^T along each row: (y0, y0 + y1, y0 - y1, -y1) */
            const NNC_T a0 = e0[k], a1 = e0[k] + o0[k], a2 = e0[k] - o0[k], a3 = -o0[k];
            const NNC_T b0 = e1[k], b1 = e1[k] + o1[k], b2 = e1[k] - o1[k], b3 = -o1[k];
            /* then A down the columns */
            w[0 * mat + k] = a0;       w[1 * mat + k] = a1;
            w[2 * mat + k] = a2;       w[3 * mat + k] = a3;
            w[4 * mat + k] = a0 + b0;  w[5 * mat + k] = a1 + b1;
            w[6 * mat + k] = a2 + b2;  w[7 * mat + k] = a3 + b3;
            w[8 * mat + k] = a0 - b0;  w[9 * mat + k] = a1 - b1;
            w[10 * mat + k] = a2 - b2; w[11 * mat + k] = a3 - b3;
            w[12 * mat + k] = -b0;     w[13 * mat + k] = -b1;
            w[14 * mat + k] = -b2;     w[15 * mat + k] = -b3;
        }
    }
}

/* gw[o][c] (3x3) = G^T dU[.][o][c] G for o in [o0, o1), dU 16 (O, C) matrices mat apart: the
 * adjoint of wg_weight_transform.  G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1]. */
NNC_CONV_TARGETS static void NNC_F(wg_weight_finish)(const NNC_T *dU, ptrdiff_t mat, NNC_T *gw, int C, int o0,
                                    int o1) {
    for (ptrdiff_t oc = (ptrdiff_t) o0 * C; oc < (ptrdiff_t) o1 * C; oc++) {
        NNC_T t[4][3];
        for (int i = 0; i < 4; i++) {  /* t = dU G */
            const NNC_T *d = dU + i * 4 * mat + oc;
            t[i][0] = d[0] + (NNC_T) 0.5 * (d[mat] + d[2 * mat]);
            t[i][1] = (NNC_T) 0.5 * (d[mat] - d[2 * mat]);
            t[i][2] = (NNC_T) 0.5 * (d[mat] + d[2 * mat]) + d[3 * mat];
        }
        NNC_T *k = gw + oc * 9;
        for (int b = 0; b < 3; b++) {  /* G^T t */
            k[b] = t[0][b] + (NNC_T) 0.5 * (t[1][b] + t[2][b]);
            k[3 + b] = (NNC_T) 0.5 * (t[1][b] - t[2][b]);
            k[6 + b] = (NNC_T) 0.5 * (t[1][b] + t[2][b]) + t[3][b];
        }
    }
}
