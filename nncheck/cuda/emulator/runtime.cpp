// The emulator's scheduler: blocks in order, a block's threads as fibers that meet at
// __syncthreads() and at warp shuffles.  Compiled into every family's host library.
#include "cuda_host.h"

#include <string>
#include <sys/mman.h>
#include <ucontext.h>
#include <vector>

namespace nnemu {

thread_local Block* current_block = nullptr;
thread_local uint3 thread_idx, block_idx, block_dim, grid_dim;
static thread_local std::string last_message;

static const std::size_t kStackBytes = 64 * 1024;  // per CUDA thread; kernels use little
static const unsigned kMaxThreads = 1024;         // CUDA's limit on threads per block

struct Fiber {
  ucontext_t ctx;
  uint3 idx;
  unsigned linear;
  bool done;
};

struct Barrier {  // threads arrived, threads that must arrive, generation
  int arrived = 0, live = 0;
  unsigned long generation = 0;
};

struct Block {
  ucontext_t scheduler;
  std::vector<Fiber> fibers;
  int current = 0;
  Barrier block;
  std::vector<Barrier> warps;
  std::vector<unsigned long long> slots;  // one 8-byte shuffle slot per thread
  unsigned long progress = 0;             // arrivals, releases, exits: deadlock detection
  void (*body)(void*) = nullptr;
  void* arg = nullptr;
};

static char* stacks = nullptr;
static std::size_t stacks_bytes = 0;

static char* stack_of(unsigned t) { return stacks + (std::size_t)t * kStackBytes; }

static void yield() {
  Block& b = *current_block;
  swapcontext(&b.fibers[b.current].ctx, &b.scheduler);
}

// Arrive at `bar`; the last live thread releases everyone, the others wait for it.
static void arrive(Barrier& bar) {
  Block& b = *current_block;
  const unsigned long gen = bar.generation;
  ++b.progress;
  if (++bar.arrived >= bar.live) {
    bar.arrived = 0;
    ++bar.generation;
    return;
  }
  while (bar.generation == gen) yield();
}

// An exiting thread no longer counts; release a barrier the others already reached.
static void leave(Barrier& bar) {
  --bar.live;
  if (bar.arrived > 0 && bar.arrived >= bar.live) {
    bar.arrived = 0;
    ++bar.generation;
  }
}

void syncthreads() { arrive(current_block->block); }

void syncwarp() {
  Block& b = *current_block;
  arrive(b.warps[b.fibers[b.current].linear / 32]);
}

unsigned lane_id() {
  Block& b = *current_block;
  return b.fibers[b.current].linear % 32;
}

void* lane_slot(unsigned lane) {
  Block& b = *current_block;
  const unsigned base = b.fibers[b.current].linear / 32 * 32;
  return &b.slots[base + lane];
}

static void fiber_main() {
  Block& b = *current_block;
  b.body(b.arg);
  Fiber& f = b.fibers[b.current];
  f.done = true;
  ++b.progress;
  leave(b.block);
  leave(b.warps[f.linear / 32]);
  // returning resumes uc_link, the scheduler
}

const char* message() { return last_message.c_str(); }

static int fail(const std::string& text) {
  last_message = text;
  return 1;
}

static int run_block(Block& b, unsigned n) {
  for (unsigned t = 0; t < n; ++t) {
    Fiber& f = b.fibers[t];
    f.done = false;
    f.linear = t;
    f.idx = uint3{t % block_dim.x, t / block_dim.x % block_dim.y, t / (block_dim.x * block_dim.y)};
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = stack_of(t);
    f.ctx.uc_stack.ss_size = kStackBytes;
    f.ctx.uc_link = &b.scheduler;
    makecontext(&f.ctx, fiber_main, 0);
  }
  b.block = Barrier{0, (int)n, 0};
  for (unsigned w = 0; w < b.warps.size(); ++w) {
    const unsigned lanes = n - w * 32 < 32 ? n - w * 32 : 32;
    b.warps[w] = Barrier{0, (int)lanes, 0};
  }
  unsigned live = n;
  while (live) {
    const unsigned long before = b.progress;
    live = 0;
    for (unsigned t = 0; t < n; ++t) {
      Fiber& f = b.fibers[t];
      if (f.done) continue;
      b.current = (int)t;
      thread_idx = f.idx;
      swapcontext(&b.scheduler, &f.ctx);
      if (!f.done) ++live;
    }
    if (live && b.progress == before)
      return fail("deadlock: block (" + std::to_string(block_idx.x) + "," +
                  std::to_string(block_idx.y) + "," + std::to_string(block_idx.z) + "): " +
                  std::to_string(live) + " threads wait at a barrier or shuffle that the " +
                  "other threads of their block/warp never reach");
  }
  return 0;
}

int run_grid(const unsigned dims[6], std::size_t, void (*body)(void*), void* arg) {
  const unsigned gx = dims[0], gy = dims[1], gz = dims[2];
  const unsigned bx = dims[3], by = dims[4], bz = dims[5];
  const unsigned long long n = (unsigned long long)bx * by * bz;
  if (!gx || !gy || !gz || !n) return fail("a grid or block dimension is 0");
  if (n > kMaxThreads)
    return fail("block of " + std::to_string(n) + " threads (the limit is 1024)");
  if (gy > 65535 || gz > 65535) return fail("grid y/z dimension above 65535");
  const std::size_t need = (std::size_t)n * kStackBytes;
  if (need > stacks_bytes) {
    if (stacks) munmap(stacks, stacks_bytes);
    void* p = mmap(nullptr, need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return fail("cannot map fiber stacks");
    stacks = static_cast<char*>(p);
    stacks_bytes = need;
  }
  Block b;
  b.fibers.resize(n);
  b.warps.resize((n + 31) / 32);
  b.slots.assign(b.warps.size() * 32, 0);
  b.body = body;
  b.arg = arg;
  Block* outer = current_block;
  current_block = &b;
  grid_dim = uint3{gx, gy, gz};
  block_dim = uint3{bx, by, bz};
  int rc = 0;
  for (unsigned z = 0; z < gz && !rc; ++z)
    for (unsigned y = 0; y < gy && !rc; ++y)
      for (unsigned x = 0; x < gx && !rc; ++x) {
        block_idx = uint3{x, y, z};
        rc = run_block(b, (unsigned)n);
      }
  current_block = outer;
  return rc;
}

}  // namespace nnemu
