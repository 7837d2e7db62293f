"""The examples of docs/python.md run as written (its ```python blocks, in order, in one namespace;
names the text leaves to the reader, like `keep`, are defined here first)."""

import re

import numpy as np

from conftest import REPO, TOLERANCE, rel_err


def test_docs_python_md_examples_run():
    text = (REPO / "docs" / "python.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 4
    namespace = {"keep": np.random.default_rng(0).random((2, 1, 5, 300)) < 0.5}
    for block in blocks:
        if block.lstrip().startswith(">>>"):
            continue  # an interactive transcript (errors)
        exec(compile(block, "docs/python.md", "exec"), namespace)  # noqa: S102 - our own documentation
    # The merge section's claim: the merged halves equal the kernel over all keys.
    full, _ = namespace["kernel"](namespace["q"], namespace["k"], namespace["v"])
    assert rel_err(namespace["o"], full) <= TOLERANCE["f32"]
    np.testing.assert_array_equal(namespace["o1"], namespace["o"])  # the in-place merge
