import pytest

pytestmark = pytest.mark.django_db


def test_training_runs_cannot_be_added_in_the_admin(admin_client):
    """An added run had no kind and stayed "queued" for ever: runs are made by the commands."""
    page = admin_client.get("/admin/training/trainingrun/")
    assert page.status_code == 200 and "/admin/training/trainingrun/add/" not in page.content.decode()
    assert admin_client.get("/admin/training/trainingrun/add/").status_code == 403
