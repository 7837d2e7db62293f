"""The examples of docs/python.md run as written (its ```python blocks, in order; names the text
leaves to the reader, like `keep`, are defined here first). The PyTorch section's blocks (those that
import torch, and all after) run in a namespace of their own, skipped without torch. The ```py
blocks need a GPU: test_gpu.py runs them."""

import re

import numpy as np
import pytest

from conftest import REPO, TOLERANCE, rel_err


def _blocks():
    text = (REPO / "docs" / "python.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if not b.lstrip().startswith(">>>")]
    first_torch = next((i for i, b in enumerate(blocks) if "import torch" in b), len(blocks))
    return blocks[:first_torch], blocks[first_torch:]


def _run(blocks, namespace):
    for block in blocks:
        exec(compile(block, "docs/python.md", "exec"), namespace)  # noqa: S102 - our own documentation


def test_docs_python_md_examples_run():
    numpy_blocks, _ = _blocks()
    assert len(numpy_blocks) >= 4
    namespace = {"keep": np.random.default_rng(0).random((2, 1, 5, 300)) < 0.5}
    _run(numpy_blocks, namespace)
    # The merge section's claim: the merged halves equal the kernel over all keys.
    full, _ = namespace["kernel"](namespace["q"], namespace["k"], namespace["v"])
    assert rel_err(namespace["o"], full) <= TOLERANCE["f32"]
    np.testing.assert_array_equal(namespace["o1"], namespace["o"])  # the in-place merge


def test_docs_python_md_torch_examples_run():
    pytest.importorskip("torch", reason="PyTorch is not installed (scripts/python-env.sh installs it unless "
                                        "ATTNGEN_PY_TORCH=0)")
    _, torch_blocks = _blocks()
    assert len(torch_blocks) >= 3
    namespace = {}
    _run(torch_blocks, namespace)
    torch = namespace["torch"]
    # The section's claims: the drop-in equals torch's SDPA, and the compiled layer its eager self.
    assert rel_err(namespace["o"].numpy(), namespace["ref"].numpy()) <= TOLERANCE["f32"]
    assert torch.equal(namespace["o_op"], namespace["o_pad"]) and torch.equal(namespace["lse_op"], namespace["lse_pad"])
    torch.testing.assert_close(namespace["y"], namespace["layer"](namespace["x"]), rtol=0, atol=1e-6)
