/* NNC_CONV_TARGETS: the convolution loops of conv_direct.h and conv_winograd.h compiled for
 * AVX2 with FMA (x86-64-v3) and for the baseline ISA, one picked at load time: they are
 * multiply-adds, one instruction each with FMA (NNCHECK_TARGETS' avx2 clone lacks it). */
#ifndef NNC_CONV_TARGETS
#include "vecmath.h"

#define NNC_CONV_TARGETS NNCHECK_FMA_TARGETS
#endif
