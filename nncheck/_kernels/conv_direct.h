/* Direct convolution loops for few input channels per group (depthwise convolutions above
 * all): no im2col, whose column matrix and GEMM packing cost more than the few
 * multiply-adds per element such a convolution does.  2-d and 1-d geometries (D = KD = 1).
 *
 * Included by conv.pyx once per element type, with NNC_T the type and NNC_F(name) the
 * name's typed version.  Every function works on one task (a sample's group, or a group
 * over the batch), so the caller's threads never write the same element.
 *
 * The convolution and its transpose run on zero-bordered copies of their source planes
 * (dw_pad): the loops then need no edge tests, and the innermost one, along an output row,
 * has a kernel row's taps in registers and vectorises.  The transpose of a strided
 * convolution spreads the gradient rows and columns `stride` apart in that copy (zeros
 * between): it is then a stride-1 convolution with the flipped taps.  The weight gradient
 * spreads the gradient plane to the padded image's row pitch: each tap is then one long dot
 * product over the flat plane.
 */
#include <stddef.h>
#include <string.h>

#include "conv_targets.h"
#include "vecmath.h"

/* 32-byte vectors (GCC's vector extension) read and written at any element address: the
 * accumulators of the weight gradient and of the tiles stay in registers. */
typedef NNC_T NNC_F(vec) __attribute__((vector_size(32), aligned(sizeof(NNC_T))));
enum { NNC_F(lanes) = 32 / sizeof(NNC_T) };

#ifndef NNC_DW_GEOM
#define NNC_DW_GEOM
/* One layer as its planes see it: image H x W, output OH x OW, kernel KH x KW. */
typedef struct {
    int H, W, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW;
} nnc_dw_geom;

/* [lo, hi): the indices i < n with 0 <= first + i*step < size. */
static inline void nnc_dw_span(ptrdiff_t first, int step, ptrdiff_t size, int n, int *lo,
                               int *hi) {
    ptrdiff_t l = first >= 0 ? 0 : (-first + step - 1) / step;
    ptrdiff_t h = size - 1 - first < 0 ? 0 : (size - 1 - first) / step + 1;
    h = h < n ? h : n;
    *lo = (int) (l < h ? l : h);
    *hi = (int) h;
}

/* Sizes of the zero-bordered copies: the forward's padded image (BH x BW), the
 * transpose's spread gradient (TH x TW) and the weight gradient's spread gradient (MH rows
 * of the padded image's pitch BW). */
static inline void nnc_dw_sizes(const nnc_dw_geom *g, int *BH, int *BW, int *TH, int *TW,
                                int *MH) {
    *BH = (g->OH - 1) * g->SH + (g->KH - 1) * g->DH + 1;
    *BW = (g->OW - 1) * g->SW + (g->KW - 1) * g->DW + 1;
    *TH = g->H + (g->KH - 1) * g->DH;
    *TW = g->W + (g->KW - 1) * g->DW;
    *MH = (g->OH - 1) * g->SH + 1;
}

/* Zeros after the last padded plane (the tiles read up to 2 vectors past a row's end) and
 * the length a tile's wide row is rounded up to. */
#define NNC_SLACK 16
static inline ptrdiff_t nnc_wide(ptrdiff_t rows, ptrdiff_t pitch, ptrdiff_t cols) {
    return ((rows - 1) * pitch + cols + NNC_SLACK - 1) / NNC_SLACK * NNC_SLACK;
}

/* Whether the tiles serve a stride-1 convolution with several input channels per group
 * (the forward; the transpose's tiles run over the Og gradient planes instead). */
static inline int nnc_tiled(const nnc_dw_geom *g, int Cin) {
    return Cin > 1 && g->SH == 1 && g->SW == 1;
}

/* Gradient planes per wgrad_tile for a kernel width (0: none, dw_wgrad plane by plane):
 * R*KW sums and KW image vectors fill the 16 vector registers. */
static inline int nnc_wgrad_rows(int KW) {
    return KW == 3 ? 4 : KW == 5 ? 2 : 0;
}

/* The widest kernel row with specialised loops (dw_conv, dw_wgrad): fixed-size arrays of
 * taps and sums stay in registers. */
#define NNC_MAX_KW 7

/* The distance between the weight gradient's spread planes (MH rows of BW): whole rows,
 * at least a vector of zero elements past each plane's MH rows (see grp_weight_grad). */
static inline ptrdiff_t nnc_spread_pitch(int MH, int BW) {
    return ((ptrdiff_t) MH + (NNC_SLACK + BW - 1) / BW) * BW;
}

/* Scratch elements one thread needs: use 0 forward, 1 input grad, 2 weight grad. */
static ptrdiff_t nnc_direct_scratch(const nnc_dw_geom *g, int Cg, int Og, int use) {
    int BH, BW, TH, TW, MH;
    nnc_dw_sizes(g, &BH, &BW, &TH, &TW, &MH);
    const ptrdiff_t K = (ptrdiff_t) g->KH * g->KW, P = (ptrdiff_t) BH * BW;
    if (use == 0)  /* padded planes, slack, wide rows */
        return Cg * P + NNC_SLACK + 4 * nnc_wide(g->OH, BW, g->OW);
    if (use == 1)  /* spread planes, slack, wide rows, flipped taps */
        return (ptrdiff_t) Og * TH * TW + NNC_SLACK + 4 * nnc_wide(g->H, TW, g->W)
               + (nnc_tiled(g, Cg) ? Cg * Og * K : K);
    return Cg * (P + NNC_SLACK) + Og * nnc_spread_pitch(MH, BW);
}
#endif

/* buf (BH x BW) = zeros, with src (rows x cols) written at (top + r*up, left + c*up):
 * the padded source of a convolution (up = 1; top/left < 0 crop) or the spread gradient
 * of a strided one's transpose (up = stride). */
static void NNC_F(dw_pad)(const NNC_T *src, int rows, int cols, NNC_T *buf, int BH, int BW,
                          int top, int left, int up_h, int up_w) {
    int r0, r1, c0, c1;
    memset(buf, 0, (size_t) BH * BW * sizeof(NNC_T));
    nnc_dw_span(top, up_h, BH, rows, &r0, &r1);
    nnc_dw_span(left, up_w, BW, cols, &c0, &c1);
    for (int r = r0; r < r1; r++) {
        const NNC_T *s = src + (ptrdiff_t) r * cols;
        NNC_T *d = buf + (ptrdiff_t) (top + r * up_h) * BW + left;
        if (up_w == 1)
            memcpy(d + c0, s + c0, (size_t) (c1 - c0) * sizeof(NNC_T));
        else
            for (int c = c0; c < c1; c++)
                d[(ptrdiff_t) c * up_w] = s[c];
    }
}

/* out (OH x OW) = bias + the taps w (KH x KW) over buf (rows BW apart, already padded), or
 * out += that when add.  A row's taps stay in registers across the vector loop; KW and SW
 * are compile-time constants in the common cases (see dw_conv). */
static inline __attribute__((always_inline)) void NNC_F(dw_conv_impl)(
        const NNC_T *buf, ptrdiff_t BW, const NNC_T *w, NNC_T *out, NNC_T bias, int add,
        int OH, int OW, int KH, const int KW, int SH, const int SW, int DH, int DW) {
    for (int oh = 0; oh < OH; oh++) {
        NNC_T *orow = out + (ptrdiff_t) oh * OW;
        for (int kh = 0; kh < KH; kh++) {
            const NNC_T *in = buf + ((ptrdiff_t) oh * SH + (ptrdiff_t) kh * DH) * BW;
            /* the specialised widths copy the taps to a fixed-size local array, which gcc
               keeps in registers (a variable-length one it keeps in memory) */
            NNC_T local[NNC_MAX_KW];
            const NNC_T *taps = w + kh * KW;
            if (KW <= NNC_MAX_KW) {
                for (int k = 0; k < KW; k++)
                    local[k] = taps[k];
                taps = local;
            }
            const int first = kh == 0 && !add;
            if (SW == 1) {  /* explicit vectors: gcc's own choice here was 4-wide or scalar */
                typedef NNC_F(vec) vec;
                const int lanes = NNC_F(lanes);
                ptrdiff_t o = 0;
                for (; o + lanes <= OW; o += lanes) {
                    vec acc = (vec) {0} + (first ? bias : 0);
                    for (int k = 0; k < KW; k++)
                        acc += taps[k] * *(const vec *) (in + o + (ptrdiff_t) k * DW);
                    *(vec *) (orow + o) = first ? acc : acc + *(const vec *) (orow + o);
                }
                for (; o < OW; o++) {
                    NNC_T acc = first ? bias : 0;
                    for (int k = 0; k < KW; k++)
                        acc += taps[k] * in[o + (ptrdiff_t) k * DW];
                    orow[o] = first ? acc : acc + orow[o];
                }
            } else if (first) {
                #pragma omp simd
                for (ptrdiff_t o = 0; o < OW; o++) {
                    NNC_T acc = bias;
                    for (int k = 0; k < KW; k++)
                        acc += taps[k] * in[o * SW + (ptrdiff_t) k * DW];
                    orow[o] = acc;
                }
            } else {
                #pragma omp simd
                for (ptrdiff_t o = 0; o < OW; o++) {
                    NNC_T acc = 0;
                    for (int k = 0; k < KW; k++)
                        acc += taps[k] * in[o * SW + (ptrdiff_t) k * DW];
                    orow[o] += acc;
                }
            }
        }
    }
}

NNC_CONV_TARGETS static void NNC_F(dw_conv)(const NNC_T *buf, ptrdiff_t BW, const NNC_T *w,
                                           NNC_T *out, NNC_T bias, int add, int OH, int OW,
                                           int KH, int KW, int SH, int SW, int DH, int DW) {
#define NNC_DW_CASE(kw, sw) \
    if (KW == kw && SW == sw) { \
        NNC_F(dw_conv_impl)(buf, BW, w, out, bias, add, OH, OW, KH, kw, SH, sw, DH, DW); \
        return; \
    }
    NNC_DW_CASE(3, 1) NNC_DW_CASE(5, 1) NNC_DW_CASE(7, 1)
    NNC_DW_CASE(3, 2) NNC_DW_CASE(5, 2) NNC_DW_CASE(7, 2)
#undef NNC_DW_CASE
    NNC_F(dw_conv_impl)(buf, BW, w, out, bias, add, OH, OW, KH, KW, SH, SW, DH, DW);
}

/* dw_conv of one plane; at stride 1 as one wide row (rows BW apart, the columns past a
 * row's end computed and dropped) through `wide`, so that a small plane's short rows still
 * fill whole vectors.  buf needs a vector of slack (zeros) after the plane. */
static void NNC_F(dw_conv_plane)(const NNC_T *buf, int BW, const NNC_T *w, NNC_T *out,
                                 NNC_T bias, int add, int OH, int OW, int KH, int KW, int SH,
                                 int SW, int DH, int DW, NNC_T *wide) {
    if (SH != 1 || SW != 1 || OH == 1) {
        NNC_F(dw_conv)(buf, BW, w, out, bias, add, OH, OW, KH, KW, SH, SW, DH, DW);
        return;
    }
    /* rounded up to whole vectors: buf has that much slack after the plane */
    const int lanes = NNC_F(lanes), n = ((OH - 1) * BW + OW + lanes - 1) / lanes * lanes;
    NNC_F(dw_conv)(buf, BW, w, wide, bias, 0, 1, n, KH, KW, 1, 1, DH, DW);
    for (int oh = 0; oh < OH; oh++) {
        NNC_T *orow = out + (ptrdiff_t) oh * OW;
        const NNC_T *wrow = wide + (ptrdiff_t) oh * BW;
        if (add)
            for (int o = 0; o < OW; o++)
                orow[o] += wrow[o];
        else
            memcpy(orow, wrow, (size_t) OW * sizeof(NNC_T));
    }
}

/* gw[kh*KW + k] += sum over p < M of spread[p] * buf[p + kh*DH*BW + k*DW] for the KW taps
 * k of each kernel row: one long dot product per tap (spread is zero wherever the gradient
 * has no entry, so the flat index runs over whole rows), the row's taps summed together. */
static inline __attribute__((always_inline)) void NNC_F(dw_wgrad_impl)(
        const NNC_T *spread, ptrdiff_t M, const NNC_T *buf, ptrdiff_t BW, NNC_T *gw, int KH,
        const int KW, int gw_step, int DH, int DW) {
    typedef NNC_F(vec) vec;
    const int lanes = NNC_F(lanes);
    const int V = KW <= 3 ? 2 : 1;  /* vectors of partial sums per tap: adds in flight */
    for (int kh = 0; kh < KH; kh++) {
        const NNC_T *in = buf + (ptrdiff_t) kh * DH * BW;
        vec acc[NNC_MAX_KW][2];  /* fixed sizes: kept in registers (KW <= NNC_MAX_KW) */
        for (int k = 0; k < KW; k++)
            acc[k][0] = acc[k][1] = (vec) {0};
        ptrdiff_t p = 0;
        for (; p + V * lanes <= M; p += V * lanes)
            for (int v = 0; v < V; v++) {
                const vec g = *(const vec *) (spread + p + v * lanes);
                for (int k = 0; k < KW; k++)
                    acc[k][v] += g * *(const vec *) (in + p + v * lanes + (ptrdiff_t) k * DW);
            }
        for (int k = 0; k < KW; k++) {
            NNC_T part[2 * NNC_F(lanes)];  /* a copy: indexed lanes would keep acc in memory */
            memcpy(part, acc[k], sizeof(part));
            double total = 0;
            for (int l = 0; l < V * lanes; l++)
                total += part[l];
            for (ptrdiff_t q = p; q < M; q++)
                total += spread[q] * in[q + (ptrdiff_t) k * DW];
            gw[kh * gw_step + k] += (NNC_T) total;
        }
    }
}

NNC_CONV_TARGETS static void NNC_F(dw_wgrad)(const NNC_T *spread, ptrdiff_t M,
                                             const NNC_T *buf, ptrdiff_t BW, NNC_T *gw,
                                             int KH, int KW, int DH, int DW) {
    switch (KW) {
    case 3: NNC_F(dw_wgrad_impl)(spread, M, buf, BW, gw, KH, 3, 3, DH, DW); return;
    case 5: NNC_F(dw_wgrad_impl)(spread, M, buf, BW, gw, KH, 5, 5, DH, DW); return;
    case 7: NNC_F(dw_wgrad_impl)(spread, M, buf, BW, gw, KH, 7, 7, DH, DW); return;
    }
    for (int k = 0; k < KW; k++)  /* other widths: one tap column at a time */
        NNC_F(dw_wgrad_impl)(spread, M, buf + (ptrdiff_t) k * DW, BW, gw + k, KH, 1, KW, DH,
                             DW);
}

/* The dot products of dw_wgrad for R gradient planes at once (spread, MP apart) against
 * one kernel row of one padded image plane (in): gw[r*gw_step + k] += sum over p < M of
 * spread[r*MP + p] * in[p + k*DW], k < KW.  An image vector loaded once serves R planes. */
static inline __attribute__((always_inline)) void NNC_F(wgrad_tile_impl)(
        const NNC_T *spread, ptrdiff_t MP, ptrdiff_t M, const NNC_T *in, int DW, NNC_T *gw,
        ptrdiff_t gw_step, const int R, const int KW) {
    typedef NNC_F(vec) vec;
    const int lanes = NNC_F(lanes);
    vec acc[4][NNC_MAX_KW];  /* fixed sizes: kept in registers (R <= 4, KW <= 5) */
    for (int r = 0; r < R; r++)
        for (int k = 0; k < KW; k++)
            acc[r][k] = (vec) {0};
    ptrdiff_t p = 0;
    for (; p + lanes <= M; p += lanes) {
        vec x[NNC_MAX_KW];
        for (int k = 0; k < KW; k++)
            x[k] = *(const vec *) (in + p + (ptrdiff_t) k * DW);
        for (int r = 0; r < R; r++) {
            const vec g = *(const vec *) (spread + r * MP + p);
            for (int k = 0; k < KW; k++)
                acc[r][k] += g * x[k];
        }
    }
    for (int r = 0; r < R; r++)
        for (int k = 0; k < KW; k++) {
            NNC_T part[NNC_F(lanes)];  /* a copy: indexing acc's lanes would keep it in memory */
            memcpy(part, &acc[r][k], sizeof(part));
            double total = 0;
            for (int l = 0; l < lanes; l++)
                total += part[l];
            for (ptrdiff_t q = p; q < M; q++)
                total += spread[r * MP + q] * in[q + (ptrdiff_t) k * DW];
            gw[r * gw_step + k] += (NNC_T) total;
        }
}

NNC_CONV_TARGETS static void NNC_F(wgrad_tile)(const NNC_T *spread, ptrdiff_t MP, ptrdiff_t M,
                                               const NNC_T *in, int DW, NNC_T *gw,
                                               ptrdiff_t gw_step, int KW) {
    if (KW == 3)
        NNC_F(wgrad_tile_impl)(spread, MP, M, in, DW, gw, gw_step, 4, 3);
    else
        NNC_F(wgrad_tile_impl)(spread, MP, M, in, DW, gw, gw_step, 2, 5);
}

/* A stride-1 convolution of several input planes as one long row ("wide" positions p:
 * rows BW apart, the columns past a row's end computed and dropped): for R <= 4 outputs r
 * and p < n (a multiple of 2 vectors), wide[r*n + p] = init[r] + sum over input planes c
 * < Cin (P apart in buf) and taps t of w[r*wstep + c*K + t] * buf[c*P + offset(t) + p].
 * A tile of R x 2 vectors of sums stays in registers across all Cin*K taps. */
static inline __attribute__((always_inline)) void NNC_F(tile_impl)(
        const NNC_T *buf, ptrdiff_t P, ptrdiff_t BW, int Cin, int KH, int KW, int DH, int DW,
        const NNC_T *w, ptrdiff_t wstep, const NNC_T *init, NNC_T *wide, ptrdiff_t n,
        const int R) {
    typedef NNC_F(vec) vec;
    const int lanes = NNC_F(lanes);
    const ptrdiff_t K = (ptrdiff_t) KH * KW;
    for (ptrdiff_t p = 0; p < n; p += 2 * lanes) {
        vec a0[4], a1[4];
        for (int r = 0; r < R; r++)
            a0[r] = a1[r] = (vec) {0} + init[r];
        for (int c = 0; c < Cin; c++)
            for (int kh = 0; kh < KH; kh++)
                for (int kw = 0; kw < KW; kw++) {
                    const NNC_T *in = buf + c * P + (ptrdiff_t) kh * DH * BW
                                      + (ptrdiff_t) kw * DW + p;
                    const vec x0 = *(const vec *) in, x1 = *(const vec *) (in + lanes);
                    const NNC_T *wt = w + c * K + kh * KW + kw;
                    for (int r = 0; r < R; r++) {
                        a0[r] += x0 * wt[r * wstep];
                        a1[r] += x1 * wt[r * wstep];
                    }
                }
        for (int r = 0; r < R; r++) {
            *(vec *) (wide + r * n + p) = a0[r];
            *(vec *) (wide + r * n + p + lanes) = a1[r];
        }
    }
}

NNC_CONV_TARGETS static void NNC_F(tile)(const NNC_T *buf, ptrdiff_t P, ptrdiff_t BW, int Cin,
                                         int KH, int KW, int DH, int DW, const NNC_T *w,
                                         ptrdiff_t wstep, const NNC_T *init, NNC_T *wide,
                                         ptrdiff_t n, int R) {
    switch (R) {
    case 4: NNC_F(tile_impl)(buf, P, BW, Cin, KH, KW, DH, DW, w, wstep, init, wide, n, 4); break;
    case 3: NNC_F(tile_impl)(buf, P, BW, Cin, KH, KW, DH, DW, w, wstep, init, wide, n, 3); break;
    case 2: NNC_F(tile_impl)(buf, P, BW, Cin, KH, KW, DH, DW, w, wstep, init, wide, n, 2); break;
    default: NNC_F(tile_impl)(buf, P, BW, Cin, KH, KW, DH, DW, w, wstep, init, wide, n, 1);
    }
}

/* out[j] (OH x OW, L apart) = the stride-1 convolution of the Cin planes in buf (P apart,
 * rows BW apart, zero-bordered, 2 vectors of zeros after the last) with w[j] (wstep
 * apart), + bias[j], for j < Nout: tiles of 4 outputs into wide (4 x 2-vector-rounded
 * row), whose rows are then copied out. */
static void NNC_F(tiled_conv)(const NNC_T *buf, ptrdiff_t P, int BW, int Cin, int KH, int KW,
                              int DH, int DW, const NNC_T *w, ptrdiff_t wstep,
                              const NNC_T *bias, NNC_T *out, int Nout, int OH, int OW,
                              NNC_T *wide) {
    const int step = 2 * NNC_F(lanes);
    const ptrdiff_t n = ((ptrdiff_t) (OH - 1) * BW + OW + step - 1) / step * step;
    const ptrdiff_t L = (ptrdiff_t) OH * OW;
    for (int j0 = 0; j0 < Nout; j0 += 4) {
        const int R = Nout - j0 < 4 ? Nout - j0 : 4;
        NNC_T init[4] = {0, 0, 0, 0};
        for (int r = 0; bias && r < R; r++)
            init[r] = bias[j0 + r];
        NNC_F(tile)(buf, P, BW, Cin, KH, KW, DH, DW, w + j0 * wstep, wstep, init, wide, n, R);
        for (int r = 0; r < R; r++)
            for (int oh = 0; oh < OH; oh++)
                memcpy(out + (j0 + r) * L + (ptrdiff_t) oh * OW,
                       wide + r * n + (ptrdiff_t) oh * BW, (size_t) OW * sizeof(NNC_T));
    }
}

/* One sample's group: out[j] (Og planes) = bias[j] + sum over its Cg image planes c of
 * conv(img[c], w[j, c]); w is (Og, Cg*K).  buf holds the Cg padded planes, then the wide
 * rows: tiles for several planes at stride 1, else plane by plane. */
static void NNC_F(grp_forward)(const nnc_dw_geom *g, const NNC_T *img, const NNC_T *w,
                               const NNC_T *bias, NNC_T *out, int Cg, int Og, NNC_T *buf) {
    int BH, BW, TH, TW, MH;
    nnc_dw_sizes(g, &BH, &BW, &TH, &TW, &MH);
    const ptrdiff_t K = (ptrdiff_t) g->KH * g->KW, L = (ptrdiff_t) g->OH * g->OW;
    const ptrdiff_t P = (ptrdiff_t) BH * BW, plane = (ptrdiff_t) g->H * g->W;
    for (int c = 0; c < Cg; c++)
        NNC_F(dw_pad)(img + c * plane, g->H, g->W, buf + c * P, BH, BW, g->PH, g->PW, 1, 1);
    memset(buf + Cg * P, 0, NNC_SLACK * sizeof(NNC_T));
    if (nnc_tiled(g, Cg)) {
        NNC_F(tiled_conv)(buf, P, BW, Cg, g->KH, g->KW, g->DH, g->DW, w, Cg * K, bias, out, Og,
                          g->OH, g->OW, buf + Cg * P + NNC_SLACK);
        return;
    }
    for (int j = 0; j < Og; j++)
        for (int c = 0; c < Cg; c++)
            NNC_F(dw_conv_plane)(buf + c * P, BW, w + (j * Cg + c) * K, out + j * L,
                                 bias ? bias[j] : 0, c > 0, g->OH, g->OW, g->KH, g->KW, g->SH,
                                 g->SW, g->DH, g->DW, buf + Cg * P + NNC_SLACK);
}

/* One sample's group, transposed: img[c] (Cg planes) = bias[c] + sum over its Og column
 * planes j of conv(spread cols[j], flipped w[j, c]).  buf holds the Og spread planes, the
 * wide rows, then the flipped taps (K, or all of them as (Cg, Og*K) for the tiles). */
static void NNC_F(grp_input_grad)(const nnc_dw_geom *g, const NNC_T *cols, const NNC_T *w,
                                  const NNC_T *bias, NNC_T *img, int Cg, int Og, NNC_T *buf) {
    int BH, BW, TH, TW, MH;
    nnc_dw_sizes(g, &BH, &BW, &TH, &TW, &MH);
    const ptrdiff_t K = (ptrdiff_t) g->KH * g->KW, L = (ptrdiff_t) g->OH * g->OW;
    const ptrdiff_t T = (ptrdiff_t) TH * TW, plane = (ptrdiff_t) g->H * g->W;
    NNC_T *wide = buf + Og * T + NNC_SLACK, *flipped = wide + 4 * nnc_wide(g->H, TW, g->W);
    for (int j = 0; j < Og; j++)
        NNC_F(dw_pad)(cols + j * L, g->OH, g->OW, buf + j * T, TH, TW,
                      (g->KH - 1) * g->DH - g->PH, (g->KW - 1) * g->DW - g->PW, g->SH, g->SW);
    memset(buf + Og * T, 0, NNC_SLACK * sizeof(NNC_T));
    if (nnc_tiled(g, Cg)) {
        for (int c = 0; c < Cg; c++)
            for (int j = 0; j < Og; j++)
                for (ptrdiff_t k = 0; k < K; k++)
                    flipped[(c * Og + j) * K + k] = w[(j * Cg + c) * K + K - 1 - k];
        NNC_F(tiled_conv)(buf, T, TW, Og, g->KH, g->KW, g->DH, g->DW, flipped, Og * K, bias,
                          img, Cg, g->H, g->W, wide);
        return;
    }
    for (int c = 0; c < Cg; c++)
        for (int j = 0; j < Og; j++) {
            const NNC_T *taps = w + (j * Cg + c) * K;
            for (ptrdiff_t k = 0; k < K; k++)
                flipped[k] = taps[K - 1 - k];
            NNC_F(dw_conv_plane)(buf + j * T, TW, flipped, img + c * plane,
                                 bias ? bias[c] : 0, j > 0, g->H, g->W, g->KH, g->KW, 1, 1,
                                 g->DH, g->DW, wide);
        }
}

/* One group over the batch: gw (Og, Cg*K) = sum over the N samples of each column plane j
 * (cols, samples cols_step apart) times each image plane c (img, img_step apart) under
 * each tap.  buf holds the Cg padded image planes, then the Og spread column planes. */
static void NNC_F(grp_weight_grad)(const nnc_dw_geom *g, const NNC_T *img, ptrdiff_t img_step,
                                   const NNC_T *cols, ptrdiff_t cols_step, ptrdiff_t N,
                                   NNC_T *gw, int Cg, int Og, NNC_T *buf) {
    int BH, BW, TH, TW, MH;
    nnc_dw_sizes(g, &BH, &BW, &TH, &TW, &MH);
    const ptrdiff_t K = (ptrdiff_t) g->KH * g->KW, L = (ptrdiff_t) g->OH * g->OW;
    const ptrdiff_t P = (ptrdiff_t) BH * BW, plane = (ptrdiff_t) g->H * g->W;
    /* the dot products run over whole vectors (M rounded up): the image planes are PI
       apart with a vector of zeros after each, the spread planes MP apart with zeros past
       their end, so the extra products are zeros */
    const ptrdiff_t PI = P + NNC_SLACK, MP = nnc_spread_pitch(MH, BW);
    const ptrdiff_t M = nnc_wide((ptrdiff_t) MH, BW, (ptrdiff_t) (g->OW - 1) * g->SW + 1);
    NNC_T *spread = buf + Cg * PI;
    for (ptrdiff_t k = 0; k < Og * Cg * K; k++)
        gw[k] = 0;
    for (int c = 0; c < Cg; c++)
        memset(buf + c * PI + P, 0, NNC_SLACK * sizeof(NNC_T));
    for (ptrdiff_t i = 0; i < N; i++) {
        for (int c = 0; c < Cg; c++)
            NNC_F(dw_pad)(img + i * img_step + c * plane, g->H, g->W, buf + c * PI, BH, BW,
                          g->PH, g->PW, 1, 1);
        for (int j = 0; j < Og; j++)
            NNC_F(dw_pad)(cols + i * cols_step + j * L, g->OH, g->OW, spread + j * MP,
                          (int) (MP / BW), BW, 0, 0, g->SH, g->SW);
        const int R = nnc_wgrad_rows(g->KW);
        for (int c = 0; c < Cg; c++) {
            int j = 0;
            for (; R && j + R <= Og; j += R)
                for (int kh = 0; kh < g->KH; kh++)
                    NNC_F(wgrad_tile)(spread + j * MP, MP, M,
                                      buf + c * PI + (ptrdiff_t) kh * g->DH * BW, g->DW,
                                      gw + (j * Cg + c) * K + kh * g->KW, Cg * K, g->KW);
            for (; j < Og; j++)
                NNC_F(dw_wgrad)(spread + j * MP, M, buf + c * PI, BW, gw + (j * Cg + c) * K,
                                g->KH, g->KW, g->DH, g->DW);
        }
    }
}
