// The numerical guard of a forward pass: NaN or Inf in a layer's attention output or hidden
// state, a gate's scores P or the logits stops the run with the layer, the first non-finite head,
// the tensor and the place in the input named, instead of a NaN (or, after a renormalising
// softmax, a plausible-looking) number in a table.
//
// One object attached to a Decoder for a scope (ScopedFiniteGuard) rather than a second
// AttentionHook: the decoder owns the per-layer loop (hidden states, logits) and its one hook
// slot is taken by gated sparse attention or capture. The decoder hands the guard to the hook
// through LayerAttentionInput::finite_guard, so the gate scores are checked in the same pass and
// a caller wires nothing but a bool. Nothing runs when no guard is attached.
//
// Cost: note() queues one reduction of the tensor on its device (finite_along) and does not
// wait; check() copies every queued flag to the host in one transfer, once per forward chunk, and
// on failure finds the first false flag among those already copied.
//
//   core::FiniteGuard guard("sweep: cell 'gate tau=0.01', context 1024");
//   core::ScopedFiniteGuard attached(model, &guard);
//   guard.set_window("window of tokens [0, 1024)");
//   model.forward(...);   // throws core::NonFiniteError on NaN / Inf
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace seer::core {

class Decoder;

class NonFiniteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Whether each slice of `t` along `dim` is free of NaN and Inf, bool [t.size(dim)] ([1] for
// dim < 0), on t's device, without waiting for it. One float32 sum per slice: a sum is finite
// exactly when every entry is (NaN and Inf propagate, Inf - Inf is NaN) unless finite entries
// overflow it, which takes entries near 3e38 / numel, an activation broken anyway. Against
// isfinite(t).all(): one pass instead of two and no bool copy of t, which on the CPU is a fresh
// allocation the size of the logits every chunk (eval_ppl, SmolLM2-135M float32, 2048 tokens,
// one thread: 6% longer with isfinite + all, within the runs' 2% noise with sums).
at::Tensor finite_along(const at::Tensor& t, int64_t dim = -1);

class FiniteGuard {
 public:
  // `scope` opens every message: what runs and on which files ("eval_ppl: model m.gguf").
  explicit FiniteGuard(std::string scope = "") : scope_(std::move(scope)) {}

  void set_scope(std::string scope) { scope_ = std::move(scope); }
  // Where in the input the next forwards are ("window of tokens [0, 1024)", "sample niah_1/3").
  void set_window(std::string window) { window_ = std::move(window); }

  // Queues the check of `t` (any dtype and device; undefined or empty: nothing). `layer` < 0
  // means no layer (the logits); `head_dim` is the dimension of `t` that indexes heads, or -1.
  void note(int64_t layer, const char* what, const at::Tensor& t, int64_t head_dim = -1);

  // Reads every queued flag in one device -> host copy and forgets them; throws NonFiniteError
  // naming the first non-finite tensor in the order noted (a forward's layers in order), its
  // first non-finite head, `chunk` ("positions [0, 512)") and the window.
  void check(const std::string& chunk);

  // Drops queued flags unread (a forward that threw before its check).
  void clear() { notes_.clear(); }

 private:
  struct Note {
    int64_t layer;
    const char* what;
    bool per_head;
    at::Tensor flags;   // bool [heads] or [1], true = finite
  };
  std::string scope_;
  std::string window_;
  std::vector<Note> notes_;
};

// Attaches `guard` to `model` for one scope (nullptr: none) and restores the previous one however
// the scope ends.
class ScopedFiniteGuard {
 public:
  ScopedFiniteGuard(Decoder& model, FiniteGuard* guard);
  ~ScopedFiniteGuard();
  ScopedFiniteGuard(const ScopedFiniteGuard&) = delete;
  ScopedFiniteGuard& operator=(const ScopedFiniteGuard&) = delete;

 private:
  Decoder& model_;
  FiniteGuard* previous_;
};

}  // namespace seer::core
