"""Shared test setup: one thread per test process, and the `data` marker.

Tests marked `@pytest.mark.data` read the real data folder (`../shared/data` beside the project, or
`$MLLMSENT_DATA`) and the reported-results folder beside it (`anchors/`). Without them they are skipped with a
one-line reason naming the missing folder; with `MLLMSENT_REQUIRE_DATA=1` (what `.ci/run` sets when it finds the
data) a missing folder fails the run instead, so CI cannot go green by skipping.
"""
import os
import pytest, torch
from mllmsent.core import data_dir

def missing_data()->str|None:
    "Why the data-dependent tests cannot run here, or None when they can."
    try: d = data_dir()
    except FileNotFoundError as e: return str(e)
    if d is None: return "no data folder: ../shared/data beside the project (or $MLLMSENT_DATA) is missing"
    if not (d.parent/'anchors').is_dir(): return f"no reported-results folder {d.parent/'anchors'} beside the data folder {d}"
    return None

def pytest_configure(config):
    config.addinivalue_line('markers', 'data: needs the real data folder (../shared/data or $MLLMSENT_DATA) and anchors/ beside it')
    config.addinivalue_line('markers', 'gpu: needs CUDA')

def pytest_collection_modifyitems(config, items):
    why = missing_data()
    if why is None: return
    if os.environ.get('MLLMSENT_REQUIRE_DATA') == '1':
        raise pytest.UsageError(f"MLLMSENT_REQUIRE_DATA=1 but {why}")
    for item in items:
        if 'data' in item.keywords: item.add_marker(pytest.mark.skip(reason=why))

@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
