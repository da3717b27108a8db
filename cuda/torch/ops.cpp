// Op schemas (TORCH_LIBRARY(mlip)), autograd (C++ torch::autograd::Function, so TorchScript
// and plain libtorch, e.g. a LAMMPS pair style, get the backward), shape-only Meta kernels and
// the build description. Backend kernels: cuda/cpu/*.cpp (CPU) and cuda/torch/cuda_binding.cpp
// (CUDA, compiled only when torch has CUDA).
//
// Autograd of tp_conv, in terms of the two primitive ops:
//   out                    = tp_conv(x, sh, w)
//   (gx, gsh, gw)          = tp_conv_backward(g, x, sh, w)        g = dL/d out
// tp_conv_backward is linear in each of g, x, sh, w, so its own backward is again made of
// the two ops with one argument replaced by an incoming gradient (gg* = dL/d g*):
//   dL/dg  = tp_conv(ggx, sh, w) + tp_conv(x, ggsh, w) + tp_conv(x, sh, ggw)
//   dL/dx  = backward(g, x, ggsh, w).gx + backward(g, x, sh, ggw).gx
//   dL/dsh = backward(g, ggx, sh, w).gsh + backward(g, x, sh, ggw).gsh
//   dL/dw  = backward(g, ggx, sh, w).gw + backward(g, x, ggsh, w).gw
// and since those calls go through the same autograd functions, derivatives of any order work.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>
#include <torch/version.h>

#include <sstream>
#include <string>

#include "../cpu/ops_internal.h"
#include "neighbor_list_pipeline.h"
#include "validated_inputs.h"

namespace mlip {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::Tensor call_tp_conv(const at::Tensor& x, const at::Tensor& sh, const at::Tensor& w, const at::Tensor& sender,
                        const at::Tensor& receiver, const at::Tensor& cg_index, const at::Tensor& cg_coeff,
                        int64_t dim_out) {
  static auto op = c10::Dispatcher::singleton().findSchemaOrThrow("mlip::tp_conv", "").typed<decltype(tp_conv_cpu)>();
  return op.call(x, sh, w, sender, receiver, cg_index, cg_coeff, dim_out);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> call_tp_conv_backward(
    const at::Tensor& g, const at::Tensor& x, const at::Tensor& sh, const at::Tensor& w, const at::Tensor& sender,
    const at::Tensor& receiver, const at::Tensor& cg_index, const at::Tensor& cg_coeff, std::array<bool, 3> mask) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("mlip::tp_conv_backward", "")
                       .typed<decltype(tp_conv_backward_cpu)>();
  return op.call(g, x, sh, w, sender, receiver, cg_index, cg_coeff, mask);
}

// Placeholder for an output that was not asked for (autograd outputs must be tensors).
at::Tensor unused_like(const at::Tensor& t) { return at::empty({0}, t.options()); }

at::Tensor add_defined(const at::Tensor& a, const at::Tensor& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  return a + b;
}

class TpConvBackwardFunction;

class TpConvFunction : public torch::autograd::Function<TpConvFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& sh, const at::Tensor& w,
                            const at::Tensor& sender, const at::Tensor& receiver, const at::Tensor& cg_index,
                            const at::Tensor& cg_coeff, int64_t dim_out) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({x, sh, w, sender, receiver, cg_index, cg_coeff});
    ctx->set_materialize_grads(false);
    return call_tp_conv(x, sh, w, sender, receiver, cg_index, cg_coeff, dim_out);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads);
};

class TpConvBackwardFunction : public torch::autograd::Function<TpConvBackwardFunction> {
 public:
  // Returns (gx, gsh, gw); an output not selected by the mask is an empty placeholder.
  static variable_list forward(AutogradContext* ctx, const at::Tensor& g, const at::Tensor& x, const at::Tensor& sh,
                               const at::Tensor& w, const at::Tensor& sender, const at::Tensor& receiver,
                               const at::Tensor& cg_index, const at::Tensor& cg_coeff, bool need_x, bool need_sh,
                               bool need_w) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({g, x, sh, w, sender, receiver, cg_index, cg_coeff});
    ctx->saved_data["need_x"] = need_x;
    ctx->saved_data["need_sh"] = need_sh;
    ctx->saved_data["need_w"] = need_w;
    ctx->set_materialize_grads(false);
    auto r = call_tp_conv_backward(g, x, sh, w, sender, receiver, cg_index, cg_coeff, {need_x, need_sh, need_w});
    at::Tensor gx = need_x ? std::get<0>(r) : unused_like(x);
    at::Tensor gsh = need_sh ? std::get<1>(r) : unused_like(sh);
    at::Tensor gw = need_w ? std::get<2>(r) : unused_like(w);
    return {gx, gsh, gw};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &g = saved[0], &x = saved[1], &sh = saved[2], &w = saved[3];
    const at::Tensor &sender = saved[4], &receiver = saved[5], &cg_index = saved[6], &cg_coeff = saved[7];
    // incoming gradients of the outputs that exist (placeholders get none)
    const at::Tensor ggx = ctx->saved_data["need_x"].toBool() ? grads[0] : at::Tensor();
    const at::Tensor ggsh = ctx->saved_data["need_sh"].toBool() ? grads[1] : at::Tensor();
    const at::Tensor ggw = ctx->saved_data["need_w"].toBool() ? grads[2] : at::Tensor();
    const bool want_g = ctx->needs_input_grad(0), want_x = ctx->needs_input_grad(1);
    const bool want_sh = ctx->needs_input_grad(2), want_w = ctx->needs_input_grad(3);
    const int64_t dim_out = g.size(2);
    at::Tensor dg, dx, dsh, dw;
    if (want_g) {
      if (ggx.defined()) dg = add_defined(dg, TpConvFunction::apply(ggx, sh, w, sender, receiver, cg_index, cg_coeff, dim_out));
      if (ggsh.defined()) dg = add_defined(dg, TpConvFunction::apply(x, ggsh, w, sender, receiver, cg_index, cg_coeff, dim_out));
      if (ggw.defined()) dg = add_defined(dg, TpConvFunction::apply(x, sh, ggw, sender, receiver, cg_index, cg_coeff, dim_out));
    }
    if (ggx.defined() && (want_sh || want_w)) {  // x replaced by ggx: contributes to dsh, dw
      auto r = TpConvBackwardFunction::apply(g, ggx, sh, w, sender, receiver, cg_index, cg_coeff, false, want_sh, want_w);
      if (want_sh) dsh = add_defined(dsh, r[1]);
      if (want_w) dw = add_defined(dw, r[2]);
    }
    if (ggsh.defined() && (want_x || want_w)) {  // sh replaced by ggsh: contributes to dx, dw
      auto r = TpConvBackwardFunction::apply(g, x, ggsh, w, sender, receiver, cg_index, cg_coeff, want_x, false, want_w);
      if (want_x) dx = add_defined(dx, r[0]);
      if (want_w) dw = add_defined(dw, r[2]);
    }
    if (ggw.defined() && (want_x || want_sh)) {  // w replaced by ggw: contributes to dx, dsh
      auto r = TpConvBackwardFunction::apply(g, x, sh, ggw, sender, receiver, cg_index, cg_coeff, want_x, want_sh, false);
      if (want_x) dx = add_defined(dx, r[0]);
      if (want_sh) dsh = add_defined(dsh, r[1]);
    }
    return {dg, dx, dsh, dw, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor()};
  }
};

variable_list TpConvFunction::backward(AutogradContext* ctx, variable_list grads) {
  const auto saved = ctx->get_saved_variables();
  const at::Tensor& g = grads[0];
  if (!g.defined()) return variable_list(8);
  const bool nx = ctx->needs_input_grad(0), nsh = ctx->needs_input_grad(1), nw = ctx->needs_input_grad(2);
  if (!(nx || nsh || nw)) return variable_list(8);
  auto r = TpConvBackwardFunction::apply(g, saved[0], saved[1], saved[2], saved[3], saved[4], saved[5], saved[6], nx,
                                         nsh, nw);
  return {nx ? r[0] : at::Tensor(), nsh ? r[1] : at::Tensor(), nw ? r[2] : at::Tensor(), at::Tensor(), at::Tensor(),
          at::Tensor(), at::Tensor(), at::Tensor()};
}

at::Tensor tp_conv_autograd(const at::Tensor& x, const at::Tensor& sh, const at::Tensor& w, const at::Tensor& sender,
                            const at::Tensor& receiver, const at::Tensor& cg_index, const at::Tensor& cg_coeff,
                            int64_t dim_out) {
  return TpConvFunction::apply(x, sh, w, sender, receiver, cg_index, cg_coeff, dim_out);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> tp_conv_backward_autograd(
    const at::Tensor& g, const at::Tensor& x, const at::Tensor& sh, const at::Tensor& w, const at::Tensor& sender,
    const at::Tensor& receiver, const at::Tensor& cg_index, const at::Tensor& cg_coeff, std::array<bool, 3> mask) {
  auto r = TpConvBackwardFunction::apply(g, x, sh, w, sender, receiver, cg_index, cg_coeff, mask[0], mask[1], mask[2]);
  return {mask[0] ? r[0] : at::Tensor(), mask[1] ? r[1] : at::Tensor(), mask[2] ? r[2] : at::Tensor()};
}

// Tabulated radial functions: first derivatives only (inference: energies, forces, stress).
class RadialSplineFunction : public torch::autograd::Function<RadialSplineFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& r, const at::Tensor& table, double r0,
                            double inv_h) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({r, table});
    ctx->saved_data["r0"] = r0;
    ctx->saved_data["inv_h"] = inv_h;
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("mlip::radial_spline", "")
                         .typed<decltype(radial_spline_cpu)>();
    return op.call(r, table, r0, inv_h);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    TORCH_CHECK(!ctx->needs_input_grad(1), "mlip::radial_spline: the table is a fixed buffer (no gradient)");
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "mlip::radial_spline: tabulated radial functions have first derivatives only (energies, forces, "
                "stress); use the untabulated potential for training or Hessians");
    const auto saved = ctx->get_saved_variables();
    at::Tensor gr;
    if (grads[0].defined() && ctx->needs_input_grad(0)) {
      static auto op = c10::Dispatcher::singleton()
                           .findSchemaOrThrow("mlip::radial_spline_backward", "")
                           .typed<decltype(radial_spline_backward_cpu)>();
      gr = op.call(grads[0], saved[0], saved[1], ctx->saved_data["r0"].toDouble(),
                   ctx->saved_data["inv_h"].toDouble());
    }
    return {gr, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor radial_spline_autograd(const at::Tensor& r, const at::Tensor& table, double r0, double inv_h) {
  return RadialSplineFunction::apply(r, table, r0, inv_h);
}

at::Tensor radial_spline_meta(const at::Tensor& r, const at::Tensor& table, double r0, double inv_h) {
  return at::empty({r.size(0), table.size(2)}, table.options());
}

// Meta (shape-only) kernels, for torch.compile / torch.export tracing.
at::Tensor tp_conv_meta(const at::Tensor& x, const at::Tensor& sh, const at::Tensor& w, const at::Tensor& sender,
                        const at::Tensor& receiver, const at::Tensor& cg_index, const at::Tensor& cg_coeff,
                        int64_t dim_out) {
  return at::empty({x.size(0), x.size(1), dim_out}, x.options());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> tp_conv_backward_meta(
    const at::Tensor& g, const at::Tensor& x, const at::Tensor& sh, const at::Tensor& w, const at::Tensor& sender,
    const at::Tensor& receiver, const at::Tensor& cg_index, const at::Tensor& cg_coeff, std::array<bool, 3> mask) {
  return {mask[0] ? at::empty_like(x) : at::Tensor(), mask[1] ? at::empty_like(sh) : at::Tensor(),
          mask[2] ? at::empty_like(w) : at::Tensor()};
}

std::string build_info() {
  std::ostringstream s;
  s << "mlip_ops 1; torch " << TORCH_VERSION << "; cuda "
#ifdef MLIP_WITH_CUDA
    << "yes"
#else
    << "no"
#endif
    << "; simd "
#if defined(__AVX512F__)
    << "avx512"
#elif defined(__AVX2__)
    << "avx2"
#elif defined(__SSE2__)
    << "sse2"
#else
    << "none"
#endif
    << "; openmp "
#ifdef _OPENMP
    << "yes";
#else
    << "no";
#endif
  return s.str();
}

}  // namespace
}  // namespace mlip

TORCH_LIBRARY(mlip, m) {
  m.def(
      "tp_conv(Tensor x, Tensor sh, Tensor weight, Tensor sender, Tensor receiver, Tensor cg_index, "
      "Tensor cg_coeff, int dim_out) -> Tensor");
  m.def(
      "tp_conv_backward(Tensor grad_out, Tensor x, Tensor sh, Tensor weight, Tensor sender, Tensor receiver, "
      "Tensor cg_index, Tensor cg_coeff, bool[3] output_mask) -> (Tensor, Tensor, Tensor)");
  m.def("neighbor_list(Tensor positions, Tensor cell, Tensor pbc, Tensor system_index, float cutoff) -> (Tensor, Tensor)");
  m.def("radial_spline(Tensor r, Tensor table, float r0, float inv_h) -> Tensor");
  m.def("radial_spline_backward(Tensor grad, Tensor r, Tensor table, float r0, float inv_h) -> Tensor");
  m.def("build_info() -> str", &mlip::build_info);
  // testing knob: CPU loop order of tp_conv (0 group-major, 1 edge-major = CUDA's); returns the old one
  m.def("_set_tp_conv_cpu_variant(int variant) -> int", &mlip::set_tp_conv_cpu_variant);
  // testing knob: the device (CUDA) path's index and CG-table checks, run on tensors of any device
  m.def(
      "_check_tp_conv_values(Tensor sender, Tensor receiver, Tensor cg_index, int n_nodes, int dim_in, int dim_sh, "
      "int dim_out, int n_paths) -> ()",
      &mlip::check_tp_values_by_reduction_op);
  // testing knobs: the device path's once-per-input value check (true: answered from memory)
  // and its memory (validated_inputs.h)
  m.def(
      "_check_tp_conv_values_once(Tensor sender, Tensor receiver, Tensor cg_index, int n_nodes, int dim_in, "
      "int dim_sh, int dim_out, int n_paths) -> bool",
      &mlip::check_tp_values_once_op);
  m.def("_forget_validated_inputs() -> ()", &mlip::forget_validated);
  // testing knob: the CUDA neighbour-list pipeline run by host loops on CPU tensors
  m.def(
      "_neighbor_list_pipeline(Tensor positions, Tensor cell, Tensor pbc, Tensor system_index, float cutoff) -> "
      "(Tensor, Tensor)",
      &mlip::neighbor_list_pipeline_host);
}

TORCH_LIBRARY_IMPL(mlip, CPU, m) {
  m.impl("tp_conv", &mlip::tp_conv_cpu);
  m.impl("tp_conv_backward", &mlip::tp_conv_backward_cpu);
  m.impl("neighbor_list", &mlip::neighbor_list_cpu);
  m.impl("radial_spline", &mlip::radial_spline_cpu);
  m.impl("radial_spline_backward", &mlip::radial_spline_backward_cpu);
}

TORCH_LIBRARY_IMPL(mlip, Autograd, m) {
  m.impl("tp_conv", &mlip::tp_conv_autograd);
  m.impl("tp_conv_backward", &mlip::tp_conv_backward_autograd);
  m.impl("radial_spline", &mlip::radial_spline_autograd);
}

TORCH_LIBRARY_IMPL(mlip, Meta, m) {
  m.impl("tp_conv", &mlip::tp_conv_meta);
  m.impl("tp_conv_backward", &mlip::tp_conv_backward_meta);
  m.impl("radial_spline", &mlip::radial_spline_meta);
}
