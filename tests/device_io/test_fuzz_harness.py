"""The link's fuzz harness, run for a bounded number of inputs.

atheris runs the harness in a process of its own (libFuzzer ends the process
when it is done). A crash, a hang or memory past the limit fails this test
with the fuzzer's report, and the input that did it is left in a temporary
folder named in that report.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
FUZZ = Path(__file__).parent / "fuzz"
RUNS = 3000


def test_any_module_reply_yields_only_device_errors_in_bounded_memory(
    tmp_path: Path,
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(FUZZ / "seeds", corpus)

    fuzzed = subprocess.run(
        [
            sys.executable,
            str(FUZZ / "fuzz_module_replies.py"),
            f"-runs={RUNS}",
            "-seed=1",
            "-max_len=1024",
            "-timeout=10",
            "-rss_limit_mb=512",
            f"-dict={FUZZ / 'module_replies.dict'}",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert fuzzed.returncode == 0, fuzzed.stderr[-4000:]
    assert f"Done {RUNS} runs" in fuzzed.stderr
