"""Monitoring attributes are for auditors' counts only: the citizen never sees them, and
the explanation job never gives them to the model."""

from __future__ import annotations

from portal.decisions.models import EXPLAIN, Job

SECRET_VALUE = "monitoring-value-xyz"


def test_the_citizen_never_sees_monitoring_values(client, session, login_as, decision_factory):
    decision = decision_factory(session, monitoring={"koen": SECRET_VALUE})
    login_as("citizen")
    for path in (
        "/mine-sager",
        f"/mine-sager/{decision.public_id}",
        "/mine-data",
        "/mine-data.json",
    ):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert SECRET_VALUE not in answer.get_data(as_text=True), path


def test_the_explanation_job_reads_only_the_features(app, session, decision_factory):
    from portal.db_session import get_db
    from portal.decisions.computing import load_work

    decision = decision_factory(session, monitoring={"koen": SECRET_VALUE})
    job = Job(kind=EXPLAIN, decision_id=decision.id, system_id=decision.system_id)
    session.add(job)
    session.commit()  # the worker reads in its own session (the savepoint is released)
    [work] = load_work(get_db(app), [job.id])
    assert work.features == {"ledighed_uger": 30}
    assert SECRET_VALUE not in repr(work)
