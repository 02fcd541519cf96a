// Generic tensor operations on strided device arrays: copies and casts, fills, numpy's
// elementwise ufuncs with broadcasting, where, and reductions over axes.
// Launchers: launchers/elementwise.py (which plans dtypes as numpy does); the numpy protocol
// of DeviceArray (cuda/_protocol.py) routes numpy calls here.
//
// Every operand is an `Operand`: a pointer, its storage dtype code and a Strided view whose
// shape is the launch's (broadcast axes have stride 0), or a scalar (code NN_SCALAR) held
// as double and as long long.  Values are loaded into a compute type C (float, double or
// long long, chosen on the host like numpy's result type) and stored back in the output's
// dtype: float32 arithmetic happens in float, float64 in double, integers exactly.
#include "_common.cu"

NN_MATH1(nn_exp2, exp2f, exp2)
NN_MATH1(nn_log2, log2f, log2)
NN_MATH1(nn_log10, log10f, log10)
NN_MATH1(nn_sin, sinf, sin)
NN_MATH1(nn_cos, cosf, cos)
NN_MATH1(nn_tan, tanf, tan)
NN_MATH1(nn_sinh, sinhf, sinh)
NN_MATH1(nn_cosh, coshf, cosh)
NN_MATH1(nn_asin, asinf, asin)
NN_MATH1(nn_acos, acosf, acos)
NN_MATH1(nn_atan, atanf, atan)
NN_MATH1(nn_rint, rintf, rint)
NN_MATH1(nn_trunc, truncf, trunc)

#define NN_MATH2(name, ffun, dfun)                                               \
  __device__ __forceinline__ float name(float x, float y) { return ffun(x, y); }   \
  __device__ __forceinline__ double name(double x, double y) { return dfun(x, y); }

NN_MATH2(nn_fmod, fmodf, fmod)
NN_MATH2(nn_copysign, copysignf, copysign)
NN_MATH2(nn_atan2, atan2f, atan2)
NN_MATH2(nn_hypot, hypotf, hypot)

// Storage dtype codes (launchers/elementwise.py DTYPE_CODES).
#define NN_BOOL 0
#define NN_I8 1
#define NN_U8 2
#define NN_I16 3
#define NN_I32 4
#define NN_I64 5
#define NN_F32 6
#define NN_F64 7
#define NN_SCALAR 8

struct Operand {
  const void* ptr;
  index_t dtype;
  double f;    // the value of a scalar operand, for floating compute types
  index_t i;   // ... and for integer ones
  Strided s;
};

template <typename C> struct nn_is_int { static const bool value = false; };
template <> struct nn_is_int<long long> { static const bool value = true; };

template <typename C> __device__ __forceinline__ C nn_load(const Operand& a, index_t i) {
  if (a.dtype == NN_SCALAR) return nn_is_int<C>::value ? (C)a.i : (C)a.f;
  const index_t k = nn_strided_offset(a.s, i);
  switch (a.dtype) {
    case NN_BOOL: return (C)(((const unsigned char*)a.ptr)[k] != 0);
    case NN_I8: return (C)((const signed char*)a.ptr)[k];
    case NN_U8: return (C)((const unsigned char*)a.ptr)[k];
    case NN_I16: return (C)((const short*)a.ptr)[k];
    case NN_I32: return (C)((const int*)a.ptr)[k];
    case NN_I64: return (C)((const long long*)a.ptr)[k];
    case NN_F32: return (C)((const float*)a.ptr)[k];
    default: return (C)((const double*)a.ptr)[k];
  }
}

template <typename C> __device__ __forceinline__ void nn_store(const Operand& o, index_t i, C v) {
  const index_t k = nn_strided_offset(o.s, i);
  void* p = const_cast<void*>(o.ptr);
  switch (o.dtype) {
    case NN_BOOL: ((unsigned char*)p)[k] = v != C(0); break;
    case NN_I8: ((signed char*)p)[k] = (signed char)v; break;
    case NN_U8: ((unsigned char*)p)[k] = (unsigned char)v; break;
    case NN_I16: ((short*)p)[k] = (short)v; break;
    case NN_I32: ((int*)p)[k] = (int)v; break;
    case NN_I64: ((long long*)p)[k] = (long long)v; break;
    case NN_F32: ((float*)p)[k] = (float)v; break;
    default: ((double*)p)[k] = (double)v; break;
  }
}

// Dispatch a body templated on the compute type by its code.
#define NN_BY_COMPUTE(compute, CALL)                                             \
  switch (compute) {                                                             \
    case NN_I64: CALL(long long); break;                                         \
    case NN_F32: CALL(float); break;                                             \
    default: CALL(double); break;                                                \
  }

// ------------------------------------------------------------------ copies
// dst[i] = src[i] bit for bit, any dtype of `itemsize` bytes (views, contiguous copies,
// setitem through a view, concatenation: the one kernel that moves data between layouts).
template <typename W> __device__ __forceinline__ void nn_copy_as(const Operand& src,
                                                                const Operand& dst, index_t n) {
  NN_GRID_STRIDE(i, n) {
    ((W*)const_cast<void*>(dst.ptr))[nn_strided_offset(dst.s, i)] =
        ((const W*)src.ptr)[nn_strided_offset(src.s, i)];
  }
}

extern "C" __global__ void strided_copy(Operand src, Operand dst, index_t n, index_t itemsize) {
  switch (itemsize) {
    case 1: nn_copy_as<unsigned char>(src, dst, n); break;
    case 2: nn_copy_as<unsigned short>(src, dst, n); break;
    case 4: nn_copy_as<unsigned int>(src, dst, n); break;
    case 8: nn_copy_as<unsigned long long>(src, dst, n); break;
    default: nn_copy_as<double2>(src, dst, n); break;  // 16 bytes (complex128)
  }
}

// ------------------------------------------------------------------ unary ops and casts
// Op codes: launchers/elementwise.py UNARY (same order).
enum {
  U_IDENTITY, U_NEG, U_ABS, U_SIGN, U_SQUARE, U_RECIPROCAL, U_EXP, U_EXPM1, U_EXP2, U_LOG,
  U_LOG1P, U_LOG2, U_LOG10, U_SQRT, U_SIN, U_COS, U_TAN, U_TANH, U_SINH, U_COSH, U_ARCSIN,
  U_ARCCOS, U_ARCTAN, U_FLOOR, U_CEIL, U_RINT, U_TRUNC, U_ISNAN, U_ISINF, U_ISFINITE,
  U_LOGICAL_NOT
};

template <typename C> __device__ __forceinline__ C nn_unary(index_t op, C x) {
  if constexpr (nn_is_int<C>::value) {
    switch (op) {
      case U_NEG: return -x;
      case U_ABS: return x < 0 ? -x : x;
      case U_SIGN: return nn_sign(x);
      case U_SQUARE: return x * x;
      case U_ISNAN: case U_ISINF: return 0;
      case U_ISFINITE: return 1;
      case U_LOGICAL_NOT: return x == 0;
      default: return x;  // identity; floor/ceil/rint/trunc of an integer
    }
  } else {
    switch (op) {
      case U_NEG: return -x;
      case U_ABS: return nn_abs(x);
      case U_SIGN: return nn_isnan(x) ? x : nn_sign(x);
      case U_SQUARE: return x * x;
      case U_RECIPROCAL: return C(1) / x;
      case U_EXP: return nn_exp(x);
      case U_EXPM1: return nn_expm1(x);
      case U_EXP2: return nn_exp2(x);
      case U_LOG: return nn_log(x);
      case U_LOG1P: return nn_log1p(x);
      case U_LOG2: return nn_log2(x);
      case U_LOG10: return nn_log10(x);
      case U_SQRT: return nn_sqrt(x);
      case U_SIN: return nn_sin(x);
      case U_COS: return nn_cos(x);
      case U_TAN: return nn_tan(x);
      case U_TANH: return nn_tanh(x);
      case U_SINH: return nn_sinh(x);
      case U_COSH: return nn_cosh(x);
      case U_ARCSIN: return nn_asin(x);
      case U_ARCCOS: return nn_acos(x);
      case U_ARCTAN: return nn_atan(x);
      case U_FLOOR: return nn_floor(x);
      case U_CEIL: return nn_ceil(x);
      case U_RINT: return nn_rint(x);
      case U_TRUNC: return nn_trunc(x);
      case U_ISNAN: return nn_isnan(x);
      case U_ISINF: return !nn_isnan(x) && nn_abs(x) == nn_inf<C>();
      case U_ISFINITE: return !nn_isnan(x) && nn_abs(x) != nn_inf<C>();
      case U_LOGICAL_NOT: return x == C(0);
      default: return x;
    }
  }
}

template <typename C> __device__ __forceinline__ void nn_unary_loop(const Operand& x,
                                                                   const Operand& out,
                                                                   index_t n, index_t op) {
  NN_GRID_STRIDE(i, n) { nn_store<C>(out, i, nn_unary<C>(op, nn_load<C>(x, i))); }
}

// out = op(x) computed in `compute`; U_IDENTITY is a cast (or a fill from a scalar x).
extern "C" __global__ void ew_unary(Operand x, Operand out, index_t n, index_t op,
                                    index_t compute) {
#define NN_CALL(C) nn_unary_loop<C>(x, out, n, op)
  NN_BY_COMPUTE(compute, NN_CALL)
#undef NN_CALL
}

// ------------------------------------------------------------------ binary ops
// Op codes: launchers/elementwise.py BINARY (same order).
enum {
  B_ADD, B_SUB, B_MUL, B_DIV, B_FLOOR_DIV, B_MOD, B_POW, B_MAXIMUM, B_MINIMUM, B_FMAX, B_FMIN,
  B_LESS, B_LESS_EQUAL, B_GREATER, B_GREATER_EQUAL, B_EQUAL, B_NOT_EQUAL, B_LOGICAL_AND,
  B_LOGICAL_OR, B_LOGICAL_XOR, B_BITWISE_AND, B_BITWISE_OR, B_BITWISE_XOR, B_ARCTAN2,
  B_HYPOT, B_COPYSIGN
};

// numpy's floor division and remainder for floating types (npy_divmod): the remainder has
// the divisor's sign.
template <typename C> __device__ __forceinline__ C nn_divmod(C a, C b, bool want_mod) {
  if (b == C(0)) return want_mod ? nn_fmod(a, b) : a / b;
  C mod = nn_fmod(a, b);
  C div = (a - mod) / b;
  if (mod != C(0)) {
    if ((b < C(0)) != (mod < C(0))) { mod += b; div -= C(1); }
  } else {
    mod = nn_copysign(C(0), b);
  }
  if (want_mod) return mod;
  if (div == C(0)) return nn_copysign(C(0), a / b);
  C floordiv = nn_floor(div);
  return div - floordiv > C(0.5) ? floordiv + C(1) : floordiv;
}

template <typename C> __device__ __forceinline__ C nn_binary(index_t op, C x, C y) {
  switch (op) {
    case B_ADD: return x + y;
    case B_SUB: return x - y;
    case B_MUL: return x * y;
    case B_LESS: return x < y;
    case B_LESS_EQUAL: return x <= y;
    case B_GREATER: return x > y;
    case B_GREATER_EQUAL: return x >= y;
    case B_EQUAL: return x == y;
    case B_NOT_EQUAL: return x != y;
    case B_LOGICAL_AND: return x != C(0) && y != C(0);
    case B_LOGICAL_OR: return x != C(0) || y != C(0);
    case B_LOGICAL_XOR: return (x != C(0)) != (y != C(0));
    default: break;
  }
  if constexpr (nn_is_int<C>::value) {
    switch (op) {
      // integer division by 0 traps on a CPU and is undefined on a GPU: numpy gives 0
      case B_DIV: case B_FLOOR_DIV: {
        if (y == 0) return 0;
        if (y == -1) return -x;
        const C q = x / y;
        return (q * y != x && ((x < 0) != (y < 0))) ? q - 1 : q;
      }
      case B_MOD: {
        if (y == 0 || y == -1) return 0;
        const C r = x % y;
        return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
      }
      case B_POW: {  // exponentiation by squaring; numpy refuses negative exponents
        C r = 1, b = x;
        for (C e = y; e > 0; e >>= 1) { if (e & 1) r *= b; b *= b; }
        return y < 0 ? 0 : r;
      }
      case B_MAXIMUM: case B_FMAX: return x > y ? x : y;
      case B_MINIMUM: case B_FMIN: return x < y ? x : y;
      case B_BITWISE_AND: return x & y;
      case B_BITWISE_OR: return x | y;
      case B_BITWISE_XOR: return x ^ y;
      default: return 0;  // the host plans only the ops above for integers
    }
  } else {
    switch (op) {
      case B_DIV: return x / y;
      case B_FLOOR_DIV: return nn_divmod(x, y, false);
      case B_MOD: return nn_divmod(x, y, true);
      case B_POW: return nn_pow(x, y);
      // maximum/minimum propagate NaN, fmax/fmin ignore it (as numpy)
      case B_MAXIMUM: return (x > y || nn_isnan(x)) ? x : y;
      case B_MINIMUM: return (x < y || nn_isnan(x)) ? x : y;
      case B_FMAX: return (x > y || nn_isnan(y)) ? x : y;
      case B_FMIN: return (x < y || nn_isnan(y)) ? x : y;
      case B_ARCTAN2: return nn_atan2(x, y);
      case B_HYPOT: return nn_hypot(x, y);
      case B_COPYSIGN: return nn_copysign(x, y);
      default: return 0;
    }
  }
}

template <typename C> __device__ __forceinline__ void nn_binary_loop(
    const Operand& a, const Operand& b, const Operand& out, index_t n, index_t op) {
  NN_GRID_STRIDE(i, n) { nn_store<C>(out, i, nn_binary<C>(op, nn_load<C>(a, i), nn_load<C>(b, i))); }
}

extern "C" __global__ void ew_binary(Operand a, Operand b, Operand out, index_t n, index_t op,
                                     index_t compute) {
#define NN_CALL(C) nn_binary_loop<C>(a, b, out, n, op)
  NN_BY_COMPUTE(compute, NN_CALL)
#undef NN_CALL
}

// out = cond ? a : b (cond is true where it is nonzero, whatever its dtype)
template <typename C> __device__ __forceinline__ void nn_where_loop(
    const Operand& cond, const Operand& a, const Operand& b, const Operand& out, index_t n) {
  NN_GRID_STRIDE(i, n) {
    nn_store<C>(out, i, nn_load<double>(cond, i) != 0.0 ? nn_load<C>(a, i) : nn_load<C>(b, i));
  }
}

extern "C" __global__ void ew_where(Operand cond, Operand a, Operand b, Operand out, index_t n,
                                    index_t compute) {
#define NN_CALL(C) nn_where_loop<C>(cond, a, b, out, n)
  NN_BY_COMPUTE(compute, NN_CALL)
#undef NN_CALL
}

// ------------------------------------------------------------------ reductions
// `x` is viewed as [outer, inner] in C order (the host permutes the reduced axes last);
// out[o] = reduce(x[o, :]).  Op codes: launchers/elementwise.py REDUCE (same order).
enum { R_SUM, R_PROD, R_MAX, R_MIN, R_ARGMAX, R_ARGMIN, R_ANY, R_ALL };

#define NN_NO_INDEX 0x7fffffffffffffffLL
#define NN_REDUCE_THREADS 256

// Fold (v, vi) into the running (acc, ai); ai == NN_NO_INDEX means "nothing yet".  max/min
// propagate NaN; arg* keep the first index among equal values (numpy's rule).
template <typename C> __device__ __forceinline__ void nn_fold(index_t op, C& acc, index_t& ai,
                                                             C v, index_t vi) {
  if (vi == NN_NO_INDEX) return;
  if (ai == NN_NO_INDEX) { acc = v; ai = vi; return; }
  switch (op) {
    case R_SUM: acc += v; break;
    case R_PROD: acc *= v; break;
    case R_ANY: acc = (acc != C(0) || v != C(0)) ? C(1) : C(0); break;
    case R_ALL: acc = (acc != C(0) && v != C(0)) ? C(1) : C(0); break;
    default: {
      const bool is_max = op == R_MAX || op == R_ARGMAX;
      const bool acc_nan = nn_isnan(acc), v_nan = nn_isnan(v);
      bool take;
      if (acc_nan || v_nan) take = v_nan && (!acc_nan || vi < ai);
      else if (v == acc) take = vi < ai;
      else take = is_max ? v > acc : v < acc;
      if (take) { acc = v; ai = vi; }
    }
  }
}

template <typename C> __device__ __forceinline__ void nn_reduce_store(
    const Operand& out, index_t o, index_t op, C acc, index_t ai, index_t divisor) {
  if (op == R_ARGMAX || op == R_ARGMIN) {
    nn_store<long long>(out, o, ai);
    return;
  }
  if (ai == NN_NO_INDEX) acc = op == R_PROD || op == R_ALL ? C(1) : C(0);  // empty
  if (op == R_ANY || op == R_ALL) acc = acc != C(0) ? C(1) : C(0);
  nn_store<C>(out, o, divisor > 1 ? acc / C(divisor) : acc);  // mean = sum / count
}

// One thread per output (many outputs, short rows: e.g. a bias gradient's sum over rows).
template <typename C> __device__ __forceinline__ void nn_reduce_serial(
    const Operand& x, const Operand& out, index_t outer, index_t inner, index_t op,
    index_t divisor) {
  NN_GRID_STRIDE(o, outer) {
    C acc = C(0);
    index_t ai = NN_NO_INDEX;
    for (index_t r = 0; r < inner; ++r) nn_fold<C>(op, acc, ai, nn_load<C>(x, o * inner + r), r);
    nn_reduce_store<C>(out, o, op, acc, ai, divisor);
  }
}

extern "C" __global__ void ew_reduce_serial(Operand x, Operand out, index_t outer,
                                            index_t inner, index_t op, index_t compute,
                                            index_t divisor) {
#define NN_CALL(C) nn_reduce_serial<C>(x, out, outer, inner, op, divisor)
  NN_BY_COMPUTE(compute, NN_CALL)
#undef NN_CALL
}

// One block per (row, part): each thread folds a strided share of its part of the row,
// then a tree reduction in shared memory (blockDim.x a power of two, at most
// NN_REDUCE_THREADS).  With parts > 1 (a few long rows, e.g. a full sum) out[row * parts +
// part] is a partial result that a second launch reduces; the host makes every part
// non-empty and splits no arg* reduction.
template <typename C> __device__ __forceinline__ void nn_reduce_block(
    const Operand& x, const Operand& out, index_t outer, index_t inner, index_t op,
    index_t divisor, index_t parts, C* vals, index_t* idx) {
  const unsigned t = threadIdx.x;
  const index_t chunk = (inner + parts - 1) / parts;
  for (index_t b = blockIdx.x; b < outer * parts; b += gridDim.x) {
    const index_t o = b / parts, begin = (b - o * parts) * chunk;
    const index_t end = begin + chunk < inner ? begin + chunk : inner;
    C acc = C(0);
    index_t ai = NN_NO_INDEX;
    for (index_t r = begin + t; r < end; r += blockDim.x) {
      nn_fold<C>(op, acc, ai, nn_load<C>(x, o * inner + r), r);
    }
    vals[t] = acc;
    idx[t] = ai;
    __syncthreads();
    for (unsigned half = blockDim.x / 2; half > 0; half >>= 1) {
      if (t < half) {
        C a = vals[t];
        index_t i = idx[t];
        nn_fold<C>(op, a, i, vals[t + half], idx[t + half]);
        vals[t] = a;
        idx[t] = i;
      }
      __syncthreads();
    }
    if (t == 0) nn_reduce_store<C>(out, b, op, vals[0], idx[0], divisor);
    __syncthreads();  // vals is rewritten for the next row
  }
}

extern "C" __global__ void ew_reduce_block(Operand x, Operand out, index_t outer, index_t inner,
                                           index_t op, index_t compute, index_t divisor,
                                           index_t parts) {
  __shared__ double vals[NN_REDUCE_THREADS];  // 8 bytes per thread: room for any C
  __shared__ index_t idx[NN_REDUCE_THREADS];
#define NN_CALL(C) nn_reduce_block<C>(x, out, outer, inner, op, divisor, parts, (C*)vals, idx)
  NN_BY_COMPUTE(compute, NN_CALL)
#undef NN_CALL
}

// ------------------------------------------------------------------ cumulative ops
// out[o, r] = x[o, 0] + ... + x[o, r] (or the product): a thread per row, the host moving
// the scanned axis last in both views.  One long row is scanned serially: correct, slow.
template <typename C> __device__ __forceinline__ void nn_scan(
    const Operand& x, const Operand& out, index_t outer, index_t inner, bool product) {
  NN_GRID_STRIDE(o, outer) {
    C acc = product ? C(1) : C(0);
    for (index_t r = 0; r < inner; ++r) {
      const C v = nn_load<C>(x, o * inner + r);
      acc = product ? acc * v : acc + v;
      nn_store<C>(out, o * inner + r, acc);
    }
  }
}

extern "C" __global__ void ew_scan(Operand x, Operand out, index_t outer, index_t inner,
                                   index_t product, index_t compute) {
#define NN_CALL(C) nn_scan<C>(x, out, outer, inner, product != 0)
  NN_BY_COMPUTE(compute, NN_CALL)
#undef NN_CALL
}

// ------------------------------------------------------------------ advanced indexing
// a[i0, ..., ik-1] for k integer index arrays (broadcast to one index shape) on the leading
// k dims of `a`: result element i is index row j = i / inner and element r = i % inner of
// the remaining dims.  The host checks every index against its dim (negative ones count
// from the end, as numpy's) before a launch.
struct Indices {
  index_t k;
  Operand at[NN_MAX_DIMS];
};

__device__ __forceinline__ index_t nn_indexed_offset(const Strided& a, const Indices& idx,
                                                     index_t i, index_t inner) {
  const index_t j = i / inner;
  index_t r = i - j * inner, off = 0;
  for (index_t d = a.ndim - 1; d >= idx.k; --d) {
    const index_t q = r / a.shape[d];
    off += (r - q * a.shape[d]) * a.stride[d];
    r = q;
  }
  for (index_t d = 0; d < idx.k; ++d) {
    index_t v = nn_load<long long>(idx.at[d], j);
    off += (v < 0 ? v + a.shape[d] : v) * a.stride[d];
  }
  return off;
}

// gather (out[i] = a[index i]) or put (a[index i] = values[i]), bit for bit
template <typename W> __device__ __forceinline__ void nn_index_copy_as(
    const Operand& a, const Indices& idx, const Operand& other, index_t n, index_t inner,
    bool put) {
  W* base = (W*)const_cast<void*>(a.ptr);
  W* flat = (W*)const_cast<void*>(other.ptr);
  NN_GRID_STRIDE(i, n) {
    W& slot = base[nn_indexed_offset(a.s, idx, i, inner)];
    W& item = flat[nn_strided_offset(other.s, i)];
    if (put) slot = item; else item = slot;
  }
}

extern "C" __global__ void index_copy(Operand a, Indices idx, Operand other, index_t n,
                                      index_t inner, index_t itemsize, index_t put) {
  switch (itemsize) {
    case 1: nn_index_copy_as<unsigned char>(a, idx, other, n, inner, put); break;
    case 2: nn_index_copy_as<unsigned short>(a, idx, other, n, inner, put); break;
    case 4: nn_index_copy_as<unsigned int>(a, idx, other, n, inner, put); break;
    default: nn_index_copy_as<unsigned long long>(a, idx, other, n, inner, put); break;
  }
}

__device__ __forceinline__ void nn_atomic_add(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void nn_atomic_add(double* p, double v) { atomicAdd(p, v); }
__device__ __forceinline__ void nn_atomic_add(long long* p, long long v) {
  atomicAdd((unsigned long long*)p, (unsigned long long)v);  // two's complement: the same sum
}

// np.add.at(a, index, values): repeated indices accumulate (atomically, in any order)
template <typename C> __device__ __forceinline__ void nn_index_add(
    const Operand& a, const Indices& idx, const Operand& values, index_t n, index_t inner) {
  C* base = (C*)const_cast<void*>(a.ptr);
  NN_GRID_STRIDE(i, n) {
    nn_atomic_add(base + nn_indexed_offset(a.s, idx, i, inner), nn_load<C>(values, i));
  }
}

extern "C" __global__ void index_add(Operand a, Indices idx, Operand values, index_t n,
                                     index_t inner, index_t compute) {
#define NN_CALL(C) nn_index_add<C>(a, idx, values, n, inner)
  NN_BY_COMPUTE(compute, NN_CALL)
#undef NN_CALL
}

// ------------------------------------------------------------------ boolean masks
// out[0..count) = flat indices of the nonzero elements of `mask` (numpy's flatnonzero;
// the host sized `out` by the mask's sum).  One block: thread t counts a contiguous chunk,
// the chunk counts become offsets, then each thread writes its chunk's indices in order.
extern "C" __global__ void flat_nonzero(Operand mask, index_t n, long long* out) {
  __shared__ index_t offsets[NN_REDUCE_THREADS];
  const index_t t = threadIdx.x, chunk = (n + blockDim.x - 1) / blockDim.x;
  const index_t begin = t * chunk < n ? t * chunk : n;
  const index_t end = begin + chunk < n ? begin + chunk : n;
  index_t count = 0;
  for (index_t i = begin; i < end; ++i) count += nn_load<double>(mask, i) != 0.0;
  offsets[t] = count;
  __syncthreads();
  if (t == 0) {  // exclusive scan of blockDim.x counts: cheap next to the chunks
    index_t run = 0;
    for (unsigned k = 0; k < blockDim.x; ++k) {
      const index_t c = offsets[k];
      offsets[k] = run;
      run += c;
    }
  }
  __syncthreads();
  index_t pos = offsets[t];
  for (index_t i = begin; i < end; ++i) {
    if (nn_load<double>(mask, i) != 0.0) out[pos++] = i;
  }
}
