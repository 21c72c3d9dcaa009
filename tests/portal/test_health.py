import pytest
from django.urls import reverse


def test_healthz_answers_without_signing_in_with_database_and_broker_state(db, client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"] in {"ok", "embedded"}


def test_healthz_reports_an_unreachable_broker_but_still_answers(db, client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json()["broker"] == "unavailable"


def test_healthz_is_503_when_the_database_is_down(db, client, monkeypatch):
    from portal import health

    monkeypatch.setattr(health, "database_state", lambda connection: "unavailable")
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["database"] == "unavailable"


@pytest.mark.redis
def test_healthz_sees_the_real_redis_broker(db, client):
    assert client.get(reverse("healthz")).json()["broker"] == "ok"
