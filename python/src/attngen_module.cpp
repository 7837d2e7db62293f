// attngen._attngen: the Python extension, a thin layer over the C ABI
// (attngen/attngen.h). Arrays come in through DLPack or the buffer protocol
// (numpy, PyTorch CPU tensors, ...) as strided views, never copied; numpy
// bf16 (ml_dtypes.bfloat16, which neither protocol carries) is viewed as
// uint16 and passed as bf16. The GIL is released while a kernel runs.
// Device arrays for the cuda backend come as views that attngen/_device.py
// makes (address, dtype, shape, strides), DLPack producers through
// dlpack_device_view here.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <attngen/attngen.h>

#include <array>
#include <chrono>
#include <iterator>
#include <string>
#include <vector>

namespace nb = nanobind;

namespace {

// The Python exception class per attngen_status (set by attngen/_errors.py).
std::array<PyObject*, 10> error_classes{};

[[noreturn]] void raise_status(attngen_status status, const std::string& message) {
  const int code = int(status);
  PyObject* cls = code > 0 && code < int(error_classes.size()) && error_classes[code] ? error_classes[code]
                                                                                     : PyExc_RuntimeError;
  PyErr_SetString(cls, message.c_str());
  throw nb::python_error();
}

void check(attngen_status status) {
  if (status != ATTNGEN_OK) raise_status(status, attngen_last_error());
}

// As check(), naming the outputs by their Python arguments (out=, lse_out=).
void check_run(attngen_status status) {
  if (status == ATTNGEN_OK) return;
  std::string message = attngen_last_error();
  if (message.rfind("o: ", 0) == 0) message = "out" + message.substr(1);
  if (message.rfind("lse: ", 0) == 0) message = "lse_out" + message.substr(3);
  raise_status(status, message);
}

[[noreturn]] void invalid(const std::string& message) { raise_status(ATTNGEN_ERR_INVALID_ARGUMENT, message); }

std::string python_type_name(nb::handle obj) { return nb::type_name(obj.type()).c_str(); }

// numpy.ndarray and numpy.dtype(ml_dtypes.bfloat16), registered by
// attngen/_kernel.py: bf16 numpy arrays go straight to their uint16 view.
PyObject* numpy_ndarray_type = nullptr;
PyObject* numpy_bfloat16_dtype = nullptr;

bool is_numpy_bfloat16(nb::handle obj) {
  if (!numpy_bfloat16_dtype || obj.type().ptr() != numpy_ndarray_type) return false;
  PyObject* dtype = PyObject_GetAttrString(obj.ptr(), "dtype");
  if (!dtype) {
    PyErr_Clear();
    return false;
  }
  const bool same = dtype == numpy_bfloat16_dtype;
  Py_DECREF(dtype);
  return same;
}

PyObject* numpy_uint16_type() {
  static PyObject* type = nb::module_::import_("numpy").attr("uint16").inc_ref().ptr();
  return type;
}

// Arrays kept alive until the C call returns.
using Held = std::vector<nb::ndarray<nb::ro>>;

// str(obj), or "?" when that fails.
std::string text_of(nb::handle obj) {
  nb::object text = nb::steal(PyObject_Str(obj.ptr()));
  const char* utf8 = text.is_valid() ? PyUnicode_AsUTF8(text.ptr()) : nullptr;
  if (!utf8) PyErr_Clear();
  return utf8 ? utf8 : "?";
}

// str(obj.dtype), or "" when obj has no dtype.
std::string dtype_text(nb::handle obj) {
  nb::object dtype = nb::steal(PyObject_GetAttrString(obj.ptr(), "dtype"));
  if (!dtype.is_valid()) {
    PyErr_Clear();
    return "";
  }
  return text_of(dtype);
}

std::string dtype_string(const nb::dlpack::dtype& t) {
  const char* kind = t.code == uint8_t(nb::dlpack::dtype_code::Int)      ? "int"
                     : t.code == uint8_t(nb::dlpack::dtype_code::UInt)   ? "uint"
                     : t.code == uint8_t(nb::dlpack::dtype_code::Float)  ? "float"
                     : t.code == uint8_t(nb::dlpack::dtype_code::Bfloat) ? "bfloat"
                     : t.code == uint8_t(nb::dlpack::dtype_code::Bool)   ? "bool"
                                                                         : "complex";
  return kind + std::to_string(int(t.bits)) + (t.lanes != 1 ? "x" + std::to_string(int(t.lanes)) : "");
}

attngen_dtype to_dtype(const char* name, const nb::dlpack::dtype& t, bool uint16_is_bf16) {
  using C = nb::dlpack::dtype_code;
  if (t.lanes == 1) {
    if (t.code == uint8_t(C::Float) && t.bits == 32) return ATTNGEN_F32;
    if (t.code == uint8_t(C::Float) && t.bits == 16) return ATTNGEN_F16;
    if (t.code == uint8_t(C::Bfloat) && t.bits == 16) return ATTNGEN_BF16;
    if (t.code == uint8_t(C::UInt) && t.bits == 16 && uint16_is_bf16) return ATTNGEN_BF16;
    if (t.code == uint8_t(C::Int) && t.bits == 32) return ATTNGEN_I32;
    if (t.code == uint8_t(C::UInt) && t.bits == 8) return ATTNGEN_U8;
    if (t.code == uint8_t(C::Bool) && t.bits == 8) return ATTNGEN_BOOL;
  }
  invalid(std::string(name) + ": dtype " + dtype_string(t) +
          " is not supported (expected float32, float16, bfloat16, int32, uint8 or bool)");
}

// arr's strides in elements (C order where the producer gives none).
std::vector<int64_t> strides_of(const nb::ndarray<nb::ro>& arr) {
  std::vector<int64_t> strides(arr.ndim());
  int64_t contiguous = 1;
  for (int d = int(arr.ndim()) - 1; d >= 0; --d) {
    strides[size_t(d)] = arr.stride_ptr() ? arr.stride(size_t(d)) : contiguous;
    contiguous *= int64_t(arr.shape(size_t(d)));
  }
  return strides;
}

// A strided view of `obj` (None: absent). `writable`: an output.
attngen_tensor to_tensor(const char* name, nb::handle obj, bool writable, Held& held) {
  attngen_tensor t{};
  if (obj.is_none()) return t;
  bool bf16_view = false;
  nb::ndarray<nb::ro> arr;
  nb::object source = nb::borrow(obj);
  const auto try_import = [&arr](nb::handle h) {
    bool ok = false;
    try {
      ok = nb::try_cast(h, arr, false);
    } catch (const std::exception&) {
      ok = false;
    }
    if (!ok) PyErr_Clear();  // a failed buffer request may leave its error set
    return ok;
  };
  if (is_numpy_bfloat16(obj)) {
    source = obj.attr("view")(nb::handle(numpy_uint16_type()));
    bf16_view = try_import(source);
  }
  if (!bf16_view && !try_import(source)) {
    const std::string dtype = dtype_text(obj);
    if (dtype == "bfloat16" && nb::hasattr(obj, "view")) {  // numpy with ml_dtypes.bfloat16
      source = obj.attr("view")(nb::handle(numpy_uint16_type()));
      bf16_view = try_import(source);
    }
    if (!bf16_view && !dtype.empty())  // an array of a dtype neither DLPack nor buffers carry
      invalid(std::string(name) + ": dtype " + dtype +
              " is not supported (expected float32, float16, bfloat16, int32, uint8 or bool)");
    if (!bf16_view)
      invalid(std::string(name) + ": expected an array (numpy, or an object with __dlpack__ or the buffer protocol), got " +
              python_type_name(obj));
  }
  if (arr.device_type() != nb::device::cpu::value)
    invalid(std::string(name) + ": the array is on a device (DLPack device type " + std::to_string(arr.device_type()) +
            "); the CPU backends take host memory (compile with backend=\"cuda\" for device arrays)");
  if (arr.ndim() > ATTNGEN_MAX_RANK)
    invalid(std::string(name) + ": rank must be at most 4, got " + std::to_string(arr.ndim()));
  if (writable && nb::hasattr(source, "flags")) {
    nb::object flags = source.attr("flags");
    if (nb::hasattr(flags, "writeable") && !nb::cast<bool>(flags.attr("writeable")))
      invalid(std::string(name) + ": the output array is read-only");
  }
  t.data = static_cast<const char*>(arr.data_handle()) + arr.byte_offset();
  t.dtype = to_dtype(name, arr.dtype(), bf16_view);
  t.rank = int32_t(arr.ndim());
  const std::vector<int64_t> strides = strides_of(arr);
  for (int d = 0; d < t.rank; ++d) t.shape[d] = int64_t(arr.shape(size_t(d))), t.strides[d] = strides[size_t(d)];
  held.push_back(std::move(arr));
  return t;
}

// The dtypes' names in device views, in attngen_dtype's order.
constexpr const char* kDtypeNames[] = {"f32", "f16", "bf16", "i32", "u8", "bool"};

attngen_dtype dtype_named(const char* name, const std::string& dtype) {
  for (int code = 0; code < int(std::size(kDtypeNames)); ++code)
    if (dtype == kDtypeNames[code]) return attngen_dtype(code);
  invalid(std::string(name) + ": dtype " + dtype +
          " is not supported (expected float32, float16, bfloat16, int32, uint8 or bool)");
}

// A device view made by attngen/_device.py, (address, dtype name, shape,
// strides in elements), or None.
attngen_tensor to_device_tensor(const char* name, nb::handle obj) {
  attngen_tensor t{};
  if (obj.is_none()) return t;
  nb::tuple view;
  if (!nb::try_cast(obj, view) || view.size() != 4) invalid(std::string(name) + ": not a device view");
  const auto shape = nb::cast<std::vector<int64_t>>(view[2]);
  const auto strides = nb::cast<std::vector<int64_t>>(view[3]);
  if (shape.size() > ATTNGEN_MAX_RANK)
    invalid(std::string(name) + ": rank must be at most 4, got " + std::to_string(shape.size()));
  if (strides.size() != shape.size()) invalid(std::string(name) + ": a stride per extent is needed");
  t.data = reinterpret_cast<const void*>(nb::cast<uintptr_t>(view[0]));
  t.dtype = dtype_named(name, nb::cast<std::string>(view[1]));
  t.rank = int32_t(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) t.shape[d] = shape[d], t.strides[d] = strides[d];
  return t;
}

// The device view of a DLPack producer on a CUDA device (DLPack device types
// 2, CUDA, and 13, CUDA managed), as attngen/_device.py makes them. The
// capsule is released on return; the producer owns the memory.
nb::tuple dlpack_device_view(const char* name, nb::handle obj) {
  nb::ndarray<nb::ro> arr;
  bool ok = false;
  try {
    ok = nb::try_cast(obj, arr, false);
  } catch (const std::exception&) {
    ok = false;
  }
  if (!ok) {
    PyErr_Clear();
    invalid(std::string(name) + ": its __dlpack__ gave no array attngen can read (" + python_type_name(obj) + ")");
  }
  if (arr.device_type() != nb::device::cuda::value && arr.device_type() != nb::device::cuda_managed::value)
    invalid(std::string(name) + ": expected an array on a CUDA device, got DLPack device type " +
            std::to_string(arr.device_type()));
  if (arr.ndim() > ATTNGEN_MAX_RANK)
    invalid(std::string(name) + ": rank must be at most 4, got " + std::to_string(arr.ndim()));
  const char* dtype = kDtypeNames[to_dtype(name, arr.dtype(), false)];
  nb::list shape, strides;
  for (size_t d = 0; d < arr.ndim(); ++d) shape.append(int64_t(arr.shape(d)));
  for (int64_t stride : strides_of(arr)) strides.append(stride);
  const uintptr_t address = reinterpret_cast<uintptr_t>(arr.data_handle()) + uintptr_t(arr.byte_offset());
  return nb::make_tuple(address, dtype, shape, strides);
}

// A call's tensors, each made by convert(name, object, writable), in
// attngen_args's order; the names are the Python arguments'.
template <class Convert>
attngen_args make_args(Convert&& convert, nb::handle q, nb::handle k, nb::handle v, nb::handle o, nb::handle lse,
                       nb::handle q_lens, nb::handle kv_lens, nb::handle q_doc, nb::handle kv_doc, nb::handle mask,
                       nb::handle alibi_slopes, nb::handle prefix_lens) {
  attngen_args a{};
  a.q = convert("q", q, false);
  a.k = convert("k", k, false);
  a.v = convert("v", v, false);
  a.o = convert("out", o, true);
  a.lse = convert("lse_out", lse, true);
  a.q_lens = convert("q_lens", q_lens, false);
  a.kv_lens = convert("kv_lens", kv_lens, false);
  a.q_doc = convert("q_doc", q_doc, false);
  a.kv_doc = convert("kv_doc", kv_doc, false);
  a.mask = convert("mask", mask, false);
  a.alibi_slopes = convert("alibi_slopes", alibi_slopes, false);
  a.prefix_lens = convert("prefix_lens", prefix_lens, false);
  return a;
}

class Kernel {
 public:
  Kernel(const std::string& spec_json, const std::string& backend, int threads, const std::string& cuda_arch,
         const std::string& cuda_tile) {
    attngen_compile_options options;
    attngen_compile_options_init(&options);
    options.backend = backend.c_str();
    options.threads = threads;
    options.cuda_arch = cuda_arch.empty() ? nullptr : cuda_arch.c_str();
    options.cuda_tile = cuda_tile.empty() ? nullptr : cuda_tile.c_str();
    attngen_status status;
    {
      nb::gil_scoped_release unlocked;  // compiling may take a while (JIT, disk cache)
      status = attngen_kernel_compile(spec_json.c_str(), &options, &handle_);
    }
    check(status);
    check(attngen_kernel_get_info(handle_, &info_));
  }
  Kernel(const Kernel&) = delete;
  Kernel& operator=(const Kernel&) = delete;
  ~Kernel() {
    if (handle_) attngen_kernel_release(handle_);
  }

  void run(nb::handle q, nb::handle k, nb::handle v, nb::handle o, nb::handle lse, nb::handle q_lens,
           nb::handle kv_lens, nb::handle q_doc, nb::handle kv_doc, nb::handle mask, nb::handle alibi_slopes,
           nb::handle prefix_lens, int threads) const {
    if (threads < 0) invalid("threads: must be >= 0, got " + std::to_string(threads));
    Held held;
    held.reserve(12);
    const attngen_args a = make_args(
        [&held](const char* name, nb::handle obj, bool writable) { return to_tensor(name, obj, writable, held); }, q,
        k, v, o, lse, q_lens, kv_lens, q_doc, kv_doc, mask, alibi_slopes, prefix_lens);
    attngen_status status;
    {
      nb::gil_scoped_release unlocked;
      status = attngen_kernel_run(handle_, &a, threads);
    }
    check_run(status);
  }

  // The cuda backend: device views (attngen/_device.py) in, the launch on
  // `stream` (a CUstream as an integer, 0: the default stream); returns once
  // launched (attngen_kernel_run_cuda).
  void run_cuda(nb::handle q, nb::handle k, nb::handle v, nb::handle o, nb::handle lse, nb::handle q_lens,
                nb::handle kv_lens, nb::handle q_doc, nb::handle kv_doc, nb::handle mask, nb::handle alibi_slopes,
                nb::handle prefix_lens, uintptr_t stream) const {
    const attngen_args a = make_args([](const char* name, nb::handle obj, bool) { return to_device_tensor(name, obj); },
                                     q, k, v, o, lse, q_lens, kv_lens, q_doc, kv_doc, mask, alibi_slopes, prefix_lens);
    attngen_status status;
    {
      nb::gil_scoped_release unlocked;  // a first launch loads the module
      status = attngen_kernel_run_cuda(handle_, &a, reinterpret_cast<void*>(stream));
    }
    check_run(status);
  }

  // Seconds per attngen_kernel_run over `iterations` runs on converted
  // q, k, v, o (no padding or mask tensors): the C side of a call, for
  // measuring the Python overhead (bench/python_overhead.py).
  double time_c_run(nb::handle q, nb::handle k, nb::handle v, nb::handle o, int threads, int iterations) const {
    Held held;
    attngen_args a{};
    a.q = to_tensor("q", q, false, held);
    a.k = to_tensor("k", k, false, held);
    a.v = to_tensor("v", v, false, held);
    a.o = to_tensor("out", o, true, held);
    nb::gil_scoped_release unlocked;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < iterations; ++i)
      if (attngen_kernel_run(handle_, &a, threads) != ATTNGEN_OK) return -1;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / iterations;
  }

  const attngen_kernel_info& info() const { return info_; }

 private:
  attngen_kernel* handle_ = nullptr;
  attngen_kernel_info info_{};
};

void merge_states(const std::vector<nb::handle>& o_parts, const std::vector<nb::handle>& lse_parts, nb::handle o,
                  nb::handle lse) {
  if (o_parts.size() != lse_parts.size())
    invalid("lse_parts: expected " + std::to_string(o_parts.size()) + " arrays (one per o_parts), got " +
            std::to_string(lse_parts.size()));
  Held held;
  held.reserve(2 * o_parts.size() + 2);
  std::vector<attngen_tensor> os, ls;
  for (size_t i = 0; i < o_parts.size(); ++i) {
    const std::string index = "[" + std::to_string(i) + "]";
    os.push_back(to_tensor(("o_parts" + index).c_str(), o_parts[i], false, held));
    ls.push_back(to_tensor(("lse_parts" + index).c_str(), lse_parts[i], false, held));
  }
  const attngen_tensor out = to_tensor("out", o, true, held);
  const attngen_tensor out_lse = to_tensor("lse_out", lse, true, held);
  attngen_status status;
  {
    nb::gil_scoped_release unlocked;
    status = attngen_merge_states(os.data(), ls.data(), int32_t(os.size()), &out, lse.is_none() ? nullptr : &out_lse);
  }
  check_run(status);
}

// The same on device views (attngen/_device.py), launched on `stream`
// (attngen_merge_states_cuda); returns once launched.
void merge_states_cuda(const std::vector<nb::handle>& o_parts, const std::vector<nb::handle>& lse_parts, nb::handle o,
                       nb::handle lse, uintptr_t stream) {
  if (o_parts.size() != lse_parts.size())
    invalid("lse_parts: expected " + std::to_string(o_parts.size()) + " arrays (one per o_parts), got " +
            std::to_string(lse_parts.size()));
  std::vector<attngen_tensor> os, ls;
  for (size_t i = 0; i < o_parts.size(); ++i) {
    const std::string index = "[" + std::to_string(i) + "]";
    os.push_back(to_device_tensor(("o_parts" + index).c_str(), o_parts[i]));
    ls.push_back(to_device_tensor(("lse_parts" + index).c_str(), lse_parts[i]));
  }
  const attngen_tensor out = to_device_tensor("out", o);
  const attngen_tensor out_lse = to_device_tensor("lse_out", lse);
  attngen_status status;
  {
    nb::gil_scoped_release unlocked;  // a first call compiles or loads the module
    status = attngen_merge_states_cuda(os.data(), ls.data(), int32_t(os.size()), &out,
                                       lse.is_none() ? nullptr : &out_lse, reinterpret_cast<void*>(stream));
  }
  check_run(status);
}

}  // namespace

NB_MODULE(_attngen, m) {
  m.doc() = "attngen's C ABI (use the attngen package, not this module)";
  m.def("version", [] { return std::string(attngen_version()); });
  m.def("_register_error", [](int status, nb::handle cls) {
    if (status <= 0 || status >= int(error_classes.size())) invalid("status: out of range");
    Py_XDECREF(error_classes[size_t(status)]);
    error_classes[size_t(status)] = cls.inc_ref().ptr();
  });
  m.def("_register_numpy_bfloat16", [](nb::handle ndarray_type, nb::handle bfloat16_dtype) {
    numpy_ndarray_type = ndarray_type.inc_ref().ptr();
    numpy_bfloat16_dtype = bfloat16_dtype.inc_ref().ptr();
  });
  nb::class_<Kernel>(m, "_Kernel")
      .def(nb::init<const std::string&, const std::string&, int, const std::string&, const std::string&>(),
           nb::arg("spec_json"), nb::arg("backend"), nb::arg("threads"), nb::arg("cuda_arch"), nb::arg("cuda_tile"))
      .def("run", &Kernel::run, nb::arg("q").none(), nb::arg("k").none(), nb::arg("v").none(), nb::arg("o").none(),
           nb::arg("lse").none(), nb::arg("q_lens").none(), nb::arg("kv_lens").none(), nb::arg("q_doc").none(),
           nb::arg("kv_doc").none(), nb::arg("mask").none(), nb::arg("alibi_slopes").none(),
           nb::arg("prefix_lens").none(), nb::arg("threads"))
      .def("run_cuda", &Kernel::run_cuda, nb::arg("q").none(), nb::arg("k").none(), nb::arg("v").none(),
           nb::arg("o").none(), nb::arg("lse").none(), nb::arg("q_lens").none(), nb::arg("kv_lens").none(),
           nb::arg("q_doc").none(), nb::arg("kv_doc").none(), nb::arg("mask").none(), nb::arg("alibi_slopes").none(),
           nb::arg("prefix_lens").none(), nb::arg("stream"))
      .def("time_c_run", &Kernel::time_c_run)
      .def_prop_ro("key", [](const Kernel& k) { return std::string(k.info().key); })
      .def_prop_ro("backend", [](const Kernel& k) { return std::string(k.info().backend); })
      .def_prop_ro("isa", [](const Kernel& k) { return std::string(k.info().isa); })
      .def_prop_ro("spec", [](const Kernel& k) { return std::string(k.info().spec); })
      .def_prop_ro("writes_lse", [](const Kernel& k) { return k.info().writes_lse != 0; })
      .def_prop_ro("dtype", [](const Kernel& k) {
        const attngen_dtype d = k.info().dtype;
        return std::string(d == ATTNGEN_F16 ? "f16" : d == ATTNGEN_BF16 ? "bf16" : "f32");
      })
      .def_prop_ro("num_heads", [](const Kernel& k) { return k.info().num_heads; })
      .def_prop_ro("num_kv_heads", [](const Kernel& k) { return k.info().num_kv_heads; })
      .def_prop_ro("head_dim", [](const Kernel& k) { return k.info().head_dim; })
      .def_prop_ro("head_dim_v", [](const Kernel& k) { return k.info().head_dim_v; })
      .def_prop_ro("layout", [](const Kernel& k) { return std::string(k.info().layout_bshd ? "bshd" : "bhsd"); });
  m.def("_dlpack_device_view", [](const std::string& name, nb::handle obj) {
    return dlpack_device_view(name.c_str(), obj);
  });
  m.def("merge_states", &merge_states, nb::arg("o_parts"), nb::arg("lse_parts"), nb::arg("o").none(),
        nb::arg("lse").none());
  m.def("merge_states_cuda", &merge_states_cuda, nb::arg("o_parts"), nb::arg("lse_parts"), nb::arg("o").none(),
        nb::arg("lse").none(), nb::arg("stream"));
}
