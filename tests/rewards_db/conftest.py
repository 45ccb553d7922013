"""Fixtures for the rewards app's database tests: labeled projects built row by row, and a
tiny 2-layer GPT-2 (word-level vocabulary) saved in a tmp folder. One torch thread."""

from __future__ import annotations

import pytest
import torch
from django.db.models import F
from django.utils import timezone
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import GPT2Config, GPT2ForSequenceClassification, PreTrainedTokenizerFast

from labeling.models import Assignment, Judgment, Prompt, Sample, Task, TaskSample

WORDS = ("question about topic number zero one two three four five six seven eight nine please answer "
         "good helpful kind clear bad rude wrong awful the a is this that").split()
GOOD = ["good helpful answer", "a clear kind answer", "this is good"]
BAD = ["bad rude answer", "a wrong awful answer", "this is bad"]


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    settings.ARTIFACT_DIR = tmp_path / "artifacts"
    settings.TORCH_THREADS = 1


@pytest.fixture(scope="session")
def tiny_gpt2_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("tiny-gpt2")
    vocab = {w: i for i, w in enumerate(["<unk>", "<eos>", *WORDS])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", eos_token="<eos>")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(vocab), n_embd=16, n_layer=2, n_head=2, n_positions=64, num_labels=1,
                        eos_token_id=1, bos_token_id=1)
    GPT2ForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def number_words(i: int) -> str:
    digits = "zero one two three four five six seven eight nine".split()
    return " ".join(digits[int(c)] for c in str(i))


def add_task(project, external_id: str, texts: list[str], *, prompt: str | None = None, **fields) -> Task:
    """A prompt, its samples and one task comparing them (position = list order)."""
    row = Prompt.objects.create(project=project, external_id=external_id,
                                text=prompt or f"question about topic {number_words(len(external_id))}")
    samples = [Sample.objects.create(prompt=row, external_id=f"s{i}", text=t) for i, t in enumerate(texts)]
    task = Task.objects.create(project=project, prompt=row, judgments_wanted=fields.pop("judgments_wanted", 3),
                               **fields)
    TaskSample.objects.bulk_create(TaskSample(task=task, sample=s, position=i) for i, s in enumerate(samples))
    return task


def sample_ids(task: Task) -> list[int]:
    return list(task.slots.order_by("position").values_list("sample_id", flat=True))


def judge(task: Task, user, choice: str = "", ranking: list[list[int]] | None = None, **extra) -> Judgment:
    now = timezone.now()
    order = sample_ids(task)
    assignment = Assignment.objects.create(task=task, annotator=user, status="submitted", served_at=now,
                                           lease_expires_at=now, shown_order=order)
    judgment = Judgment.objects.create(assignment=assignment, task=task, annotator=user, choice=choice,
                                       ranking=ranking, shown_order=order, response_ms=20_000, **extra)
    Task.objects.filter(pk=task.pk).update(judgment_count=F("judgment_count") + 1)
    return judgment


@pytest.fixture
def annotators(make_user):
    return [make_user(f"annotator{i}") for i in range(3)]


def learnable_project(project, users, n_prompts: int = 12) -> list[Task]:
    """Pairwise tasks where the 'good' answer wins (position alternates), two judgments each."""
    tasks = []
    for i in range(n_prompts):
        good, bad = GOOD[i % 3], BAD[(i + 1) % 3]
        texts = [good, bad] if i % 2 == 0 else [bad, good]
        task = add_task(project, f"p{i}", texts, prompt=f"question about topic {number_words(i)} please answer")
        for user in users[:2]:
            judge(task, user, "a" if i % 2 == 0 else "b")
        tasks.append(task)
    return tasks


@pytest.fixture(scope="session")
def tiny_adapter_path(tiny_gpt2_path, tmp_path_factory) -> str:
    """An untrained LoRA reward model on the tiny GPT-2, saved in PEFT layout with an offset."""
    from rewards.engine import RewardConfig, build_reward_model, save_reward_model

    out = tmp_path_factory.mktemp("tiny-adapter")
    config = RewardConfig(base_model=tiny_gpt2_path, output_dir=str(out), max_length=32, seed=1)
    model, tokenizer = build_reward_model(config)
    save_reward_model(model, tokenizer, out, config=config, reward_offset=0.125)
    return str(out)


@pytest.fixture
def reward_model(project, tiny_adapter_path, tiny_gpt2_path):
    from rewards.models import RewardModel
    from rewards.services.scoring import cache_clear

    cache_clear()
    yield RewardModel.objects.create(name="tiny", project=project, base_model=tiny_gpt2_path,
                                     adapter_path=tiny_adapter_path, offset=0.125, is_active=True)
    cache_clear()
