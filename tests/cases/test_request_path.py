"""The explanation page reads stored rows only: no SHAP, no model, no recomputation.

Rendered in a fresh interpreter, because this test process has imported shap already
(the factories compute real explanations).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from factories_cases import seed_database_file

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from portal import create_app
    from portal.auth.principal import Principal, principal_session_data
    from portal.auth.sessions import session_interface

    args = json.loads(sys.argv[1])
    app = create_app(args["overrides"])
    client = app.test_client()
    interface = session_interface(app)
    principal = Principal("citizen", args["subject_key"], None, None, "citizen", None, "")
    token = interface.create({"principal": principal_session_data(principal)})
    client.set_cookie(interface.cookie_name, token)
    before = set(sys.modules)
    page = client.get("/mine-sager/" + args["public_id"])
    listing = client.get("/mine-sager")
    print(json.dumps({
        "status": [page.status_code, listing.status_code],
        "ready": "chart-heading" in page.get_data(as_text=True),
        "shap": "shap" in sys.modules,
        "new": sorted(m.split(".")[0] for m in set(sys.modules) - before),
    }))
    """
)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, app_overrides):
    url = f"sqlite:///{tmp_path_factory.mktemp('path') / 'portal.db'}"
    return seed_database_file({**app_overrides, "database_url": url, "worker": "off"})


def test_rendering_the_explanation_page_imports_no_model_code(seeded, project_root: Path):
    cpr, public_ids = next((cpr, ids) for cpr, ids in seeded.cases.items() if ids)
    args = {
        "overrides": seeded.overrides,
        "subject_key": seeded.subject_keys[cpr],
        "public_id": public_ids[0],
    }
    env = {**os.environ, "PYTHONPATH": str(project_root)}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(args)],
        capture_output=True,
        text=True,
        cwd=project_root,
        env=env,
        timeout=120,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["status"] == [200, 200]
    assert report["ready"] is True
    assert report["shap"] is False
    heavy = {"shap", "sklearn", "skops", "numba", "explainers", "weasyprint", "pandas"}
    assert heavy.isdisjoint(report["new"]), report["new"]
