/* LSTM gate rows of one time step, forward and backward, for rnn.pyx.
 *
 * Included by rnn.pyx once per element type, with NNC_T the type, NNC_F(name) the name's
 * typed version, NNC_TANH / NNC_SIGMOID its activations.  The gate loops are C rather than
 * Cython so that NNCHECK_TARGETS compiles them for AVX2 as well as the baseline ISA (picked
 * at load time): each is one pass over the hidden units reading all four gates, which gcc
 * vectorises.  Only float32's activations (a rational tanh) vectorise; float64 keeps libm's
 * tanh/exp and the same operation order as PyTorch, so its results stay equal to rounding.
 *
 * Row r of a step: gates g (4H, torch's order i, f, g, o) and the saved tanh(c) and c_prev
 * are rows of (bs, ...) blocks with the given pitch; states c (bs, H) and h are the running
 * states of rnn_forward/rnn_backward.
 */
#include <stddef.h>

#include "vecmath.h"

#ifndef NNC_RNN_GATES_COMMON
#define NNC_RNN_GATES_COMMON

/* Eigen's rational tanh for float32 (max relative error 4e-7): multiply, add, divide and
 * min/max only, so the gate loops vectorise without a vector libm. */
static inline float nnc_tanh_f32(float x)
{
    const float clamp = 7.90531110763549805f;
    x = x < clamp ? x : clamp;
    x = x > -clamp ? x : -clamp;
    const float x2 = x * x;
    const float p = ((((((-2.76076847742355e-16f * x2 + 2.00018790482477e-13f) * x2
                         - 8.60467152213735e-11f) * x2 + 5.12229709037114e-08f) * x2
                       + 1.48572235717979e-05f) * x2 + 6.37261928875436e-04f) * x2
                     + 4.89352455891786e-03f) * x;
    const float q = ((1.19825839466702e-06f * x2 + 1.18534705686654e-04f) * x2
                     + 2.26843463243900e-03f) * x2 + 4.89352518554385e-03f;
    return p / q;
}

static inline float nnc_sigmoid_f32(float x) { return 0.5f * nnc_tanh_f32(0.5f * x) + 0.5f; }
static inline double nnc_sigmoid_f64(double x) { return 1.0 / (1.0 + exp(-x)); }

#endif

/* Forward: g (in: x @ W_ih^T + bias; out: the activations) += gh (h_prev @ W_hh^T), then
 * c_prev kept, c = f * c + i * g, tc = tanh(c), hout = o * tc, and hstate = hout unless it
 * is NULL (with proj_size the projection sets the state). */
NNCHECK_TARGETS static void NNC_F(lstm_rows)(
    ptrdiff_t bs, ptrdiff_t H, NNC_T* g, const NNC_T* gh, NNC_T* c, NNC_T* tc, NNC_T* cprev,
    NNC_T* hout, ptrdiff_t ld_hout, NNC_T* hstate, ptrdiff_t ld_hstate)
{
    for (ptrdiff_t r = 0; r < bs; r++) {
        NNC_T* restrict gr = g + r * 4 * H;
        const NNC_T* restrict ghr = gh + r * 4 * H;
        NNC_T* restrict cr = c + r * H;
        NNC_T* restrict tcr = tc + r * H;
        NNC_T* restrict cpr = cprev + r * H;
        NNC_T* restrict hr = hout + r * ld_hout;
        #pragma omp simd
        for (ptrdiff_t j = 0; j < H; j++) {
            const NNC_T i = NNC_SIGMOID(gr[j] + ghr[j]);
            const NNC_T f = NNC_SIGMOID(gr[H + j] + ghr[H + j]);
            const NNC_T n = NNC_TANH(gr[2 * H + j] + ghr[2 * H + j]);
            const NNC_T o = NNC_SIGMOID(gr[3 * H + j] + ghr[3 * H + j]);
            const NNC_T cp = cr[j];
            const NNC_T cn = f * cp + i * n;
            const NNC_T t = NNC_TANH(cn);
            gr[j] = i;
            gr[H + j] = f;
            gr[2 * H + j] = n;
            gr[3 * H + j] = o;
            cpr[j] = cp;
            cr[j] = cn;
            tcr[j] = t;
            hr[j] = o * t;
        }
        if (hstate != NULL) {
            NNC_T* restrict hs = hstate + r * ld_hstate;
            for (ptrdiff_t j = 0; j < H; j++)
                hs[j] = hr[j];
        }
    }
}

/* Backward: dc (in: from step t+1 or dc_n; out: to step t-1 or dc0) and dg, the gradient
 * of the gate pre-activations, from dh (rows of pitch ld_dh) and the saved g, tc, c_prev. */
NNCHECK_TARGETS static void NNC_F(lstm_rows_back)(
    ptrdiff_t bs, ptrdiff_t H, const NNC_T* g, const NNC_T* tc, const NNC_T* cprev,
    const NNC_T* dh, ptrdiff_t ld_dh, NNC_T* dc, NNC_T* dg)
{
    for (ptrdiff_t r = 0; r < bs; r++) {
        const NNC_T* restrict gr = g + r * 4 * H;
        const NNC_T* restrict tcr = tc + r * H;
        const NNC_T* restrict cpr = cprev + r * H;
        const NNC_T* restrict dhr = dh + r * ld_dh;
        NNC_T* restrict dcr = dc + r * H;
        NNC_T* restrict dgr = dg + r * 4 * H;
        #pragma omp simd
        for (ptrdiff_t j = 0; j < H; j++) {
            const NNC_T i = gr[j], f = gr[H + j], n = gr[2 * H + j], o = gr[3 * H + j];
            const NNC_T t = tcr[j];
            const NNC_T d = dcr[j] + dhr[j] * o * (1 - t * t);
            dgr[3 * H + j] = dhr[j] * t * o * (1 - o);
            dgr[j] = d * n * i * (1 - i);
            dgr[H + j] = d * cpr[j] * f * (1 - f);
            dgr[2 * H + j] = d * i * (1 - n * n);
            dcr[j] = d * f;
        }
    }
}
