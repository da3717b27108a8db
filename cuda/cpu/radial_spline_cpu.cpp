// mlip::radial_spline and its backward, CPU: edges in parallel, the M outputs of an edge
// vectorised (spline_math.h).
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "mlip/spline_math.h"
#include "ops_internal.h"

namespace mlip {

void check_spline_inputs(const char* op, const at::Tensor& r, const at::Tensor& table, double inv_h) {
  TORCH_CHECK(r.dim() == 1, op, ": r must be (n_edges,), got ", r.sizes());
  TORCH_CHECK(table.dim() == 3 && table.size(1) == 4 && table.size(0) >= 1, op,
              ": table must be (n_intervals >= 1, 4, n_outputs), got ", table.sizes());
  TORCH_CHECK(r.scalar_type() == table.scalar_type(), op, ": r and table must share one dtype");
  TORCH_CHECK(r.scalar_type() == at::kFloat || r.scalar_type() == at::kDouble, op, ": float32 or float64 only");
  TORCH_CHECK(r.device() == table.device(), op, ": r and table must be on one device");
  TORCH_CHECK(inv_h > 0.0 && std::isfinite(inv_h), op, ": inv_h must be positive");
}

at::Tensor radial_spline_cpu(const at::Tensor& r, const at::Tensor& table, double r0, double inv_h) {
  check_spline_inputs("mlip::radial_spline", r, table, inv_h);
  const int64_t E = r.size(0), n = table.size(0), M = table.size(2);
  at::Tensor out = at::empty({E, M}, table.options());
  const at::Tensor rc = r.contiguous(), tc = table.contiguous();
  AT_DISPATCH_FLOATING_TYPES(r.scalar_type(), "mlip_radial_spline_cpu", [&] {
    const scalar_t* rp = rc.data_ptr<scalar_t>();
    const scalar_t* tp = tc.data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    at::parallel_for(0, E, 64, [&](int64_t b, int64_t e_end) {
      for (int64_t e = b; e < e_end; ++e) {
        int64_t i;
        scalar_t t;
        spline::locate<scalar_t>(rp[e], r0, inv_h, n, &i, &t);
        spline::eval<scalar_t>(tp + i * 4 * M, M, t, op + e * M, 0, M);
      }
    });
  });
  return out;
}

at::Tensor radial_spline_backward_cpu(const at::Tensor& grad, const at::Tensor& r, const at::Tensor& table, double r0,
                                      double inv_h) {
  check_spline_inputs("mlip::radial_spline_backward", r, table, inv_h);
  const int64_t E = r.size(0), n = table.size(0), M = table.size(2);
  TORCH_CHECK(grad.dim() == 2 && grad.size(0) == E && grad.size(1) == M && grad.scalar_type() == r.scalar_type(),
              "mlip::radial_spline_backward: grad must be (n_edges, n_outputs) of r's dtype");
  at::Tensor gr = at::empty({E}, r.options());
  const at::Tensor rc = r.contiguous(), tc = table.contiguous(), gc = grad.contiguous();
  AT_DISPATCH_FLOATING_TYPES(r.scalar_type(), "mlip_radial_spline_backward_cpu", [&] {
    const scalar_t* rp = rc.data_ptr<scalar_t>();
    const scalar_t* tp = tc.data_ptr<scalar_t>();
    const scalar_t* gp = gc.data_ptr<scalar_t>();
    scalar_t* out = gr.data_ptr<scalar_t>();
    at::parallel_for(0, E, 64, [&](int64_t b, int64_t e_end) {
      for (int64_t e = b; e < e_end; ++e) {
        int64_t i;
        scalar_t t;
        spline::locate<scalar_t>(rp[e], r0, inv_h, n, &i, &t);
        out[e] = static_cast<scalar_t>(inv_h) * spline::slope_dot<scalar_t>(tp + i * 4 * M, M, t, gp + e * M, 0, M);
      }
    });
  });
  return gr;
}

}  // namespace mlip
