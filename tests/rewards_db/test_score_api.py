import pytest
from rest_framework.test import APIClient

from labeling.services.tokens import token_create
from rewards.engine import load_reward_model, score_texts
from rewards.services import scoring

pytestmark = pytest.mark.django_db
URL = "/api/v1/reward-models/{}/score/"
ITEMS = [{"prompt": "question about topic one", "response": "good helpful answer"},
         {"prompt": "question about topic two", "response": "bad rude answer"},
         {"prompt": [{"role": "user", "content": "please answer"}], "response": "this is good"}]


@pytest.fixture
def staff_client(make_user):
    client = APIClient()
    client.force_login(make_user("staff", is_staff=True))
    return client


def test_staff_scores_a_batch_with_the_offset_applied(staff_client, reward_model, tiny_adapter_path):
    response = staff_client.post(URL.format(reward_model.pk), ITEMS, format="json")
    assert response.status_code == 200, response.content
    rewards = response.json()["rewards"]
    assert len(rewards) == 3 and all(isinstance(r, float) for r in rewards)
    direct = score_texts(load_reward_model(tiny_adapter_path), [i["prompt"] for i in ITEMS[:2]],
                         [i["response"] for i in ITEMS[:2]])
    assert rewards[:2] == pytest.approx(direct, abs=1e-5)  # offset 0.125 from the registry = the saved one


def test_model_is_loaded_once_per_process(staff_client, reward_model, monkeypatch):
    import rewards.engine

    calls = []
    original = rewards.engine.load_reward_model
    monkeypatch.setattr(rewards.engine, "load_reward_model", lambda *a, **kw: calls.append(a) or original(*a, **kw))
    for _ in range(2):
        assert staff_client.post(URL.format(reward_model.pk), ITEMS[:1], format="json").status_code == 200
    assert len(calls) == 1 and len(scoring._cache) == 1


def test_project_token_scores_only_its_projects_models(reward_model, token_client, make_project):
    assert token_client.post(URL.format(reward_model.pk), ITEMS[:1], format="json").status_code == 200
    _, other_key = token_create(project=make_project("other"), name="t")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {other_key}")
    response = other.post(URL.format(reward_model.pk), ITEMS[:1], format="json")
    assert response.status_code == 403 and "did not train" in response.json()["detail"]


def test_unknown_model_is_404_and_anonymous_refused(staff_client, reward_model):
    assert staff_client.post(URL.format(reward_model.pk + 100), ITEMS, format="json").status_code == 404
    assert APIClient().post(URL.format(reward_model.pk), ITEMS, format="json").status_code in (401, 403)


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        ({"prompt": "x", "response": "y"}, 400, "JSON list"),
        ([], 400, "empty"),
        ([{"prompt": "x", "response": "y"}] * 257, 413, "limit of 256"),
        ([{"prompt": "x", "response": "y"}, {"prompt": "x"}, "text", {"prompt": 3, "response": 4}], 400,
         [{"index": 1, "field": "response"}, {"index": 2, "field": ""}, {"index": 3, "field": "prompt"},
          {"index": 3, "field": "response"}]),
    ],
)
def test_bad_requests_name_the_problem(staff_client, reward_model, body, status, expected):
    response = staff_client.post(URL.format(reward_model.pk), body, format="json")
    assert response.status_code == status
    data = response.json()
    if isinstance(expected, str):
        assert expected in data["detail"]
    else:
        assert [{"index": e["index"], "field": e["field"]} for e in data["errors"]] == expected


def test_each_text_is_limited_to_the_ingestion_limit(staff_client, reward_model, settings):
    limit = settings.INGEST_MAX_TEXT_CHARS
    at_limit = {"prompt": "p" * limit, "response": "r" * limit}
    body = [at_limit, {"prompt": "ok", "response": "r" * (limit + 1)},
            {"prompt": [{"role": "user", "content": "u" * limit}, {"role": "user", "content": "u"}], "response": "ok"}]
    response = staff_client.post(URL.format(reward_model.pk), body, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, "response"), (2, "prompt")]
    expected = f"at most {limit} characters (PREFLAB_INGEST_MAX_TEXT_CHARS); this one has {limit + 1}"
    assert expected in errors[0]["message"]
    assert f"this one has {limit + 1}" in errors[1]["message"]  # a chat prompt: its contents together
    settings.INGEST_MAX_TEXT_CHARS = 5
    short = staff_client.post(URL.format(reward_model.pk), [{"prompt": "12345", "response": "123456"}], format="json")
    assert short.status_code == 400 and short.json()["errors"][0]["field"] == "response"


def test_missing_adapter_is_503_without_server_paths(staff_client, reward_model, tmp_path, caplog):
    reward_model.adapter_path = str(tmp_path / "secret-dir" / "gone")
    reward_model.save()
    response = staff_client.post(URL.format(reward_model.pk), ITEMS[:1], format="json")
    detail = response.json()["detail"]
    assert response.status_code == 503 and "could not be loaded" in detail
    assert "secret-dir" not in detail and "/" not in detail.replace("files are missing or unreadable", "")
    assert str(tmp_path) not in response.content.decode()
    assert "could not be loaded" in caplog.text  # the cause goes to the server log


def test_an_ensemble_scores_through_the_api_as_the_mean_of_its_members(staff_client, project, tiny_gpt2_path,
                                                                       tmp_path):
    from rewards.engine import RewardConfig, train_reward_model
    from rewards.models import RewardModel

    from ..rewards.conftest import toy_elements

    out = tmp_path / "ens"
    config = RewardConfig(base_model=tiny_gpt2_path, output_dir=str(out), max_length=32, max_steps=2,
                          learning_rate=1e-2, batch_size=4, precision="fp32", ensemble_size=2)
    result = train_reward_model(config, toy_elements(8), progress=False)
    model = RewardModel.objects.create(name="ens", project=project, base_model=tiny_gpt2_path,
                                       adapter_path=str(out), offset=result.reward_offset)
    response = staff_client.post(URL.format(model.pk), ITEMS[:2], format="json")
    assert response.status_code == 200, response.content
    prompts, responses = [i["prompt"] for i in ITEMS[:2]], [i["response"] for i in ITEMS[:2]]
    members = [score_texts(load_reward_model(out / f"member-{i}"), prompts, responses) for i in range(2)]
    expected = [(a + b) / 2 for a, b in zip(*members, strict=True)]
    assert members[0] != pytest.approx(members[1])
    assert response.json()["rewards"] == pytest.approx(expected, abs=1e-5)
