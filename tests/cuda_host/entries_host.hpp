// The entry points of a rendered kernel built for the host, by name, for the
// fake driver's cuModuleGetFunction / cuLaunchKernel (tests/fake_cuda): each
// takes cuLaunchKernel's parameter array, as one CUDA thread. An attention
// kernel's (AG_ENTRY and the split-KV pair beside it) or the merge of partial
// states' (AG_MERGE_STATES_ENTRY, templates/cuda/merge_states.cu).
#define AG_EMU_STR2(x) #x
#define AG_EMU_STR(x) AG_EMU_STR2(x)

#ifdef AG_MERGE_STATES_ENTRY
namespace {
void ag_emu_merge_states(void** params) { AG_MERGE_STATES_ENTRY(*static_cast<const AgMergeParams*>(params[0])); }
}  // namespace

extern "C" __attribute__((visibility("default"))) agemu::ThreadBody ag_emu_entry(const char* name) {
  return std::strcmp(name, AG_EMU_STR(AG_MERGE_STATES_ENTRY)) == 0 ? ag_emu_merge_states : nullptr;
}
#else
namespace {
#if AG_MODULE != 2
void ag_emu_kernel(void** params) { AG_ENTRY(*static_cast<const AttnParams*>(params[0])); }
#endif
#if AG_MODULE != 1
float* ag_emu_workspace(void** params) {
  unsigned long long address;  // a CUdeviceptr
  std::memcpy(&address, params[1], sizeof address);
  return reinterpret_cast<float*>(static_cast<uintptr_t>(address));
}
void ag_emu_split(void** params) { AG_SPLIT_ENTRY(*static_cast<const AttnParams*>(params[0]), ag_emu_workspace(params)); }
void ag_emu_merge(void** params) {
  AG_MERGE_ENTRY(*static_cast<const AttnParams*>(params[0]), ag_emu_workspace(params), *static_cast<const int*>(params[2]));
}
#endif
}  // namespace

extern "C" __attribute__((visibility("default"))) agemu::ThreadBody ag_emu_entry(const char* name) {
#if AG_MODULE != 2
  if (std::strcmp(name, AG_EMU_STR(AG_ENTRY)) == 0) return ag_emu_kernel;
#endif
#if AG_MODULE != 1
  if (std::strcmp(name, AG_EMU_STR(AG_SPLIT_ENTRY)) == 0) return ag_emu_split;
  if (std::strcmp(name, AG_EMU_STR(AG_MERGE_ENTRY)) == 0) return ag_emu_merge;
#endif
  return nullptr;
}
#endif

extern "C" __attribute__((visibility("default"))) unsigned char* ag_emu_shared_memory(size_t* capacity) {
  *capacity = kAgEmuSharedCapacity;
  return ag_smem;
}
