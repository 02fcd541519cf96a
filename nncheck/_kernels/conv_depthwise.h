/* Depthwise convolution (one input channel per group) on planes: direct loops, no im2col.
 *
 * Included by conv.pyx once per element type, with NNC_T the type and NNC_F(name) the
 * name's typed version.  Every function works on one task (a plane, or a channel over the
 * batch), so the caller's threads never write the same element.
 *
 * The convolution and the gathers of its transpose run on a zero-bordered copy of their
 * source plane (dw_pad): the loops then need no edge tests, and the innermost one, along an
 * output row, has the kernel's taps in registers and vectorises.  The transpose of a strided
 * convolution spreads the gradient rows and columns `stride` apart in that copy (zeros
 * between): it is then a stride-1 convolution with the flipped taps.  The weight gradient
 * needs no copy: per tap it accumulates products in a vector of per-column sums (stores
 * only, no horizontal sum in the loop), summed once per channel in double.
 */
#include <stddef.h>
#include <string.h>

#include "vecmath.h"

#ifndef NNC_DW_GEOM
#define NNC_DW_GEOM
/* One depthwise layer as the planes see it: image H x W, output OH x OW, kernel KH x KW. */
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
            NNC_T taps[KW];
            for (int k = 0; k < KW; k++)
                taps[k] = w[kh * KW + k];
            if (kh == 0 && !add) {
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

NNCHECK_TARGETS static void NNC_F(dw_conv)(const NNC_T *buf, ptrdiff_t BW, const NNC_T *w,
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

/* The Og output planes of one image plane: out[j] = bias[j] + conv(img, w[j]). */
static void NNC_F(dw_forward_plane)(const nnc_dw_geom *g, const NNC_T *img, const NNC_T *w,
                                    const NNC_T *bias, NNC_T *out, int Og, NNC_T *buf) {
    const int BH = (g->OH - 1) * g->SH + (g->KH - 1) * g->DH + 1;
    const int BW = (g->OW - 1) * g->SW + (g->KW - 1) * g->DW + 1;
    const ptrdiff_t K = (ptrdiff_t) g->KH * g->KW, L = (ptrdiff_t) g->OH * g->OW;
    NNC_F(dw_pad)(img, g->H, g->W, buf, BH, BW, g->PH, g->PW, 1, 1);
    for (int j = 0; j < Og; j++)
        NNC_F(dw_conv)(buf, BW, w + j * K, out + j * L, bias ? bias[j] : 0, 0, g->OH, g->OW,
                       g->KH, g->KW, g->SH, g->SW, g->DH, g->DW);
}

/* The image plane that is the transpose of the convolution, from its Og column planes:
 * img = bias + sum over j of conv(spread cols[j], flipped w[j]).  buf holds the spread
 * plane, then the K flipped taps. */
static void NNC_F(dw_input_grad_plane)(const nnc_dw_geom *g, const NNC_T *cols,
                                       const NNC_T *w, NNC_T bias, NNC_T *img, int Og,
                                       NNC_T *buf) {
    const int BH = g->H + (g->KH - 1) * g->DH, BW = g->W + (g->KW - 1) * g->DW;
    const ptrdiff_t K = (ptrdiff_t) g->KH * g->KW, L = (ptrdiff_t) g->OH * g->OW;
    NNC_T *flipped = buf + (ptrdiff_t) BH * BW;
    for (int j = 0; j < Og; j++) {
        for (ptrdiff_t k = 0; k < K; k++)
            flipped[k] = w[j * K + K - 1 - k];
        NNC_F(dw_pad)(cols + j * L, g->OH, g->OW, buf, BH, BW, (g->KH - 1) * g->DH - g->PH,
                      (g->KW - 1) * g->DW - g->PW, g->SH, g->SW);
        NNC_F(dw_conv)(buf, BW, flipped, img, bias, j > 0, g->H, g->W, g->KH, g->KW, 1, 1,
                       g->DH, g->DW);
    }
}

/* gw[kh*KW + k] += sum over p < M of spread[p] * buf[p + kh*DH*BW + k*DW] for the KW taps
 * k of each kernel row: one long dot product per tap (spread is zero wherever the gradient
 * has no entry, so the flat index runs over whole rows), the row's taps summed together. */
static inline __attribute__((always_inline)) void NNC_F(dw_wgrad_impl)(
        const NNC_T *spread, ptrdiff_t M, const NNC_T *buf, ptrdiff_t BW, NNC_T *gw, int KH,
        const int KW, int gw_step, int DH, int DW) {
    /* two AVX vectors of partial sums per tap: the adds of one tap overlap */
    enum { LANES = 64 / sizeof(NNC_T) };
    for (int kh = 0; kh < KH; kh++) {
        const NNC_T *in = buf + (ptrdiff_t) kh * DH * BW;
        NNC_T part[KW][LANES];
        memset(part, 0, sizeof(part));
        ptrdiff_t p = 0;
        for (; p + LANES <= M; p += LANES)
            for (int k = 0; k < KW; k++)
                for (int j = 0; j < LANES; j++)
                    part[k][j] += spread[p + j] * in[p + j + (ptrdiff_t) k * DW];
        for (int k = 0; k < KW; k++) {
            NNC_T total = 0;
            for (int j = 0; j < LANES; j++)
                total += part[k][j];
            for (ptrdiff_t q = p; q < M; q++)
                total += spread[q] * in[q + (ptrdiff_t) k * DW];
            gw[kh * gw_step + k] += total;
        }
    }
}

NNCHECK_TARGETS static void NNC_F(dw_wgrad)(const NNC_T *spread, ptrdiff_t M,
                                            const NNC_T *buf, ptrdiff_t BW, NNC_T *gw, int KH,
                                            int KW, int DH, int DW) {
    switch (KW) {
    case 3: NNC_F(dw_wgrad_impl)(spread, M, buf, BW, gw, KH, 3, 3, DH, DW); return;
    case 5: NNC_F(dw_wgrad_impl)(spread, M, buf, BW, gw, KH, 5, 5, DH, DW); return;
    case 7: NNC_F(dw_wgrad_impl)(spread, M, buf, BW, gw, KH, 7, 7, DH, DW); return;
    }
    for (int k = 0; k < KW; k++)  /* other widths: one tap column at a time */
        NNC_F(dw_wgrad_impl)(spread, M, buf + (ptrdiff_t) k * DW, BW, gw + k, KH, 1, KW, DH,
                             DW);
}

/* gw (K) = the weight gradient of one output channel: sum over the N samples of its column
 * plane (cols, planes cols_step apart) times the image plane (img, img_step apart) under
 * each tap.  buf holds the padded image plane (as the forward's), then the column plane
 * spread to the padded plane's row pitch and strides. */
static void NNC_F(dw_weight_grad_channel)(const nnc_dw_geom *g, const NNC_T *img,
                                          ptrdiff_t img_step, const NNC_T *cols,
                                          ptrdiff_t cols_step, ptrdiff_t N, NNC_T *gw,
                                          NNC_T *buf) {
    const int BH = (g->OH - 1) * g->SH + (g->KH - 1) * g->DH + 1;
    const int BW = (g->OW - 1) * g->SW + (g->KW - 1) * g->DW + 1;
    const int MH = (g->OH - 1) * g->SH + 1;  /* the spread plane: MH rows, BW apart */
    const ptrdiff_t M = (ptrdiff_t) (MH - 1) * BW + (ptrdiff_t) (g->OW - 1) * g->SW + 1;
    NNC_T *spread = buf + (ptrdiff_t) BH * BW;
    for (ptrdiff_t k = 0; k < (ptrdiff_t) g->KH * g->KW; k++)
        gw[k] = 0;
    for (ptrdiff_t i = 0; i < N; i++) {
        NNC_F(dw_pad)(img + i * img_step, g->H, g->W, buf, BH, BW, g->PH, g->PW, 1, 1);
        NNC_F(dw_pad)(cols + i * cols_step, g->OH, g->OW, spread, MH, BW, 0, 0, g->SH, g->SW);
        NNC_F(dw_wgrad)(spread, M, buf, BW, gw, g->KH, g->KW, g->DH, g->DW);
    }
}
