"""attngen.torch: attngen's kernels as the PyTorch custom op attngen::attention (eager and
torch.compile(fullgraph=True)), the merge of partial states as attngen::merge_states, and a
drop-in scaled_dot_product_attention (docs/python.md).

    import attngen.torch
    o = attngen.torch.scaled_dot_product_attention(q, k, v, is_causal=True)
    o, lse = attngen.torch.attention(q, k, v, {"dtype": "f32", ..., "return_lse": True})
"""

from ._op import attention, attention_op, kernel_for, merge_states, merge_states_op
from ._sdpa import scaled_dot_product_attention

__all__ = ["attention", "attention_op", "kernel_for", "merge_states", "merge_states_op",
           "scaled_dot_product_attention"]
