"""One short check that the raw configuration works on the real bundled model."""

from __future__ import annotations

import pytest

from kapibara.evals.adapters import bfcl_cases
from kapibara.evals.runner import run_case


@pytest.mark.model
def test_raw_bundled_model_on_one_bfcl_case(real_model, shared_data):
    case = bfcl_cases("simple_python", shared_data)[0]
    r = run_case(case, real_model, "raw", max_tokens=96)
    assert r.raw and r.decision_s > 0 and r.prompt_tokens > 0
    assert r.error is None
    # greedy decoding; the 0.5B calls the one offered function for this easy case
    assert [c["name"] for c in r.calls] == ["calculate_triangle_area"], r.raw
