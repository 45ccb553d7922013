"""PPO for a LoRA policy (the PERL recipe), in one flat loop.

One frozen base serves every role: the policy adapter (trainable), the value adapter plus a
linear value head (trainable), and the reference (the same network with adapters disabled, or
the frozen SFT adapter PPO started from). Each step: sample rollouts at the training
temperature -> score them with the reward callable (plain texts, so the reward model uses its
own tokenizer) -> shape rewards with a per-token KL penalty -> GAE -> clipped policy and value
losses over several epochs of minibatches. Dropout is off throughout (the model stays in eval
mode), so sampling and training compute the same policy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from training.torch_setup import setup_torch

from .adapters import (
    adapter_changed,
    adapter_snapshot,
)
from .checkpoint import data_fingerprint, list_checkpoints, load_checkpoint_info, save_checkpoint
from .config import GenerationConfig, PolicyTrainingError, PPOConfig
from .generate import Prompt, encode_prompt, generate_batch
from .ppo_core import (
    AdaptiveKLController,
    RunningMoments,
    explained_variance,
    gae,
    kl_per_token,
    masked_mean,
    policy_loss,
    shape_rewards,
    value_loss,
    whiten,
)
from .roles import make_roles

RewardFn = Callable[[list[Prompt], list[str]], list[float]]


@dataclass
class PPOResult:
    output_dir: Path | None
    steps: int
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, float]:
        """First and last step's mean reward and the last KL (the CLI's last line)."""
        if not self.history:
            return {}
        first, last = self.history[0], self.history[-1]
        out = {"reward_first": first["reward_mean"], "reward_last": last["reward_mean"], "kl": last["kl"]}
        if "heldout_reward_mean" in last:
            out.update(heldout_reward_first=first["heldout_reward_mean"],
                       heldout_reward_last=last["heldout_reward_mean"])
        return out


@dataclass
class Rollouts:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    response_mask: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    value_trunk: torch.Tensor | None = None  # hidden state below the value adapter's layers


def micro_batches(
    rows: torch.Tensor, response_mask: torch.Tensor, size: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``rows`` in chunks of ``size`` (0 = one chunk), each with its share of the valid tokens."""
    tokens = response_mask[rows].sum().clamp(min=1.0)
    return [(chunk, response_mask[chunk].sum() / tokens) for chunk in rows.split(size or len(rows))]


def prompt_indices(n: int, batch_size: int, step: int, seed: int) -> list[int]:
    """The prompts of one step: walk seeded permutations of all prompts, one per epoch, so a
    resumed run sees exactly the prompts the interrupted one would have."""
    out, orders = [], {}
    for position in range(step * batch_size, (step + 1) * batch_size):
        epoch, offset = divmod(position, n)
        if epoch not in orders:  # one permutation per epoch touched, not one per rollout
            orders[epoch] = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 7919 + epoch))
        out.append(int(orders[epoch][offset]))
    return out


class PPOTrainer:
    """The state of one PPO run: the shared base with its adapters, optimizers and controllers."""

    def __init__(self, config: PPOConfig, prompts: list[Prompt], reward_fn: RewardFn,
                 heldout_reward_fn: RewardFn | None = None):
        if not prompts:
            raise PolicyTrainingError("no prompts to train on")
        self.config, self.prompts = config, prompts
        self.reward_fn, self.heldout_reward_fn = reward_fn, heldout_reward_fn
        setup_torch(config.threads, config.device, config.precision)
        self.roles = make_roles(config)
        self.model, self.tokenizer, self.device = self.roles.policy, self.roles.tokenizer, self.roles.device
        self.value_head = self.roles.value_head
        self.policy_params, self.value_params = self.roles.policy_params, self.roles.value_params
        if not self.policy_params:
            raise PolicyTrainingError("the policy adapter has no trainable parameters; check target_modules")
        self.policy_optimizer = torch.optim.AdamW(self.policy_params, lr=config.learning_rate)
        self.value_optimizer = torch.optim.AdamW(self.value_params, lr=config.value_learning_rate)
        self.kl_controller = AdaptiveKLController(config.kl_coef, config.target_kl, config.kl_horizon)
        self.score_moments = RunningMoments()
        self.encoded = [encode_prompt(self.tokenizer, p, chat_template=config.chat_template,
                                      max_length=config.max_prompt_length) for p in prompts]
        self.fingerprint = data_fingerprint(self.encoded)
        self.generation = GenerationConfig(max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                                           top_k=0, top_p=1.0, batch_size=config.batch_size, seed=config.seed,
                                           max_prompt_length=config.max_prompt_length)
        self.history: list[dict[str, float]] = []

    # ---- rollouts -------------------------------------------------------------------------
    def _scores(self, indices: list[int], texts: list[str], ended: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(raw scores, shaped scores: missing-EOS penalty, normalisation, clipping)."""
        cfg = self.config
        raw = torch.tensor(self.reward_fn([self.prompts[i] for i in indices], texts), dtype=torch.float32)
        if raw.shape != (len(texts),) or not torch.isfinite(raw).all():
            raise PolicyTrainingError(f"the reward function returned {raw.tolist()[:4]}...; need one finite float"
                                      " per response")
        scores = raw.clone()
        if cfg.missing_eos_penalty:
            scores = scores - cfg.missing_eos_penalty * (~ended.cpu()).float()
        if cfg.reward_norm == "batch" and len(scores) > 1:
            scores = (scores - scores.mean()) / (scores.std() + 1e-8)
        elif cfg.reward_norm == "running":
            self.score_moments.update(scores)
            scores = (scores - self.score_moments.mean) / self.score_moments.std
        if cfg.reward_clip > 0:
            scores = scores.clamp(-cfg.reward_clip, cfg.reward_clip)
        return raw, scores.to(self.device)

    def _forward_rollouts(self, ids: torch.Tensor, mask: torch.Tensor, length: int) -> tuple[torch.Tensor, ...]:
        """Reference log-probs and values, in chunks of rollout_batch_size."""
        chunk = self.config.rollout_batch_size or self.config.mini_batch_size
        parts = [self.roles.rollout_pass(ids[s: s + chunk], mask[s: s + chunk], length, self.config.temperature)
                 for s in range(0, ids.shape[0], chunk)]
        return tuple(None if column[0] is None else torch.cat(column) for column in zip(*parts, strict=True))

    def rollouts(self, step: int) -> tuple[Rollouts, dict[str, float]]:
        cfg = self.config
        indices = prompt_indices(len(self.prompts), cfg.batch_size, step, cfg.seed)
        torch.manual_seed(cfg.seed * 1_000_003 + step)
        # The rollouts' own log-probs come from the sampler's logits (as TRL does): no extra pass.
        with self.roles.compute():
            gen = generate_batch(self.model, self.tokenizer, [self.encoded[i] for i in indices], self.generation,
                                 return_logprobs=True)
        rmask = gen.response_mask
        ids = torch.cat([gen.prompt_ids, gen.response_ids], dim=1)
        mask = torch.cat([gen.prompt_mask, rmask], dim=1)
        length = gen.response_ids.shape[1]
        logprobs, entropy = gen.logprobs, gen.entropy
        ref_logprobs, values, trunk = self._forward_rollouts(ids, mask, length)
        raw, scores = self._scores(indices, gen.texts, gen.ended)
        kl = kl_per_token(logprobs, ref_logprobs, cfg.kl_estimator) * rmask
        rewards, non_score = shape_rewards(scores, kl, rmask, self.kl_controller.value)
        if cfg.whiten_rewards:
            rewards = whiten(rewards, rmask, shift_mean=False)
        advantages, returns = gae(rewards, values, rmask, cfg.gamma, cfg.lam)
        advantages = whiten(advantages, rmask)
        stats = {
            "reward_mean": float(raw.mean()), "reward_std": float(raw.std()) if len(raw) > 1 else 0.0,
            "score_mean": float(scores.mean()),
            "kl": float(kl.sum(1).mean()), "kl_k1": float(((logprobs - ref_logprobs) * rmask).sum(1).mean()),
            "kl_coef": self.kl_controller.value, "non_score_reward": float(non_score.sum(1).mean()),
            "entropy": float(masked_mean(entropy, rmask)), "response_length": float(rmask.sum(1).float().mean()),
            "no_eos_fraction": float((~gen.ended).float().mean()),
            "tokens_per_s": gen.new_tokens / max(gen.seconds, 1e-9), "generation_seconds": gen.seconds,
            "explained_variance": explained_variance(values, returns, rmask),
        }
        if self.heldout_reward_fn is not None:
            held = self.heldout_reward_fn([self.prompts[i] for i in indices], gen.texts)
            stats["heldout_reward_mean"] = float(sum(held) / len(held))
        return Rollouts(ids, mask, rmask.to(values.dtype), logprobs, values, advantages, returns, trunk), stats

    # ---- optimisation ---------------------------------------------------------------------
    def _policy_loss(self, batch: Rollouts, rows: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        length = batch.response_mask.shape[1]
        logprobs = self.roles.policy_logprobs(batch.input_ids[rows], batch.attention_mask[rows], length,
                                              self.config.temperature)
        loss, stats = policy_loss(logprobs, batch.logprobs[rows], batch.advantages[rows], batch.response_mask[rows],
                                  self.config.cliprange)
        return loss, {"policy_loss": loss.detach(), **stats}

    def _value_loss(self, batch: Rollouts, rows: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        trunk = None if batch.value_trunk is None else batch.value_trunk[rows]
        values = self.roles.values(batch.input_ids[rows], batch.attention_mask[rows], batch.response_mask.shape[1],
                                   trunk)
        loss, stats = value_loss(values, batch.values[rows], batch.returns[rows], batch.response_mask[rows],
                                 self.config.cliprange_value)
        return self.config.vf_coef * loss, {"value_loss": loss.detach(), **stats}

    @staticmethod
    def _accumulate(parts: list[tuple[torch.Tensor, torch.Tensor]], loss_of: Any) -> dict[str, torch.Tensor]:
        """Backward over each micro-batch with its share of the minibatch's valid tokens as weight, so
        the gradient and the stats are those of one pass over the whole minibatch."""
        stats: dict[str, torch.Tensor] = {}
        for rows, weight in parts:
            loss, part_stats = loss_of(rows)
            (weight * loss).backward()
            for key, value in part_stats.items():
                stats[key] = stats.get(key, 0) + weight * value
        return stats

    def _clip_and_step(self, params: list[torch.nn.Parameter], optimizer: torch.optim.Optimizer) -> None:
        if self.config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def optimise(self, batch: Rollouts, step: int) -> dict[str, float]:
        cfg = self.config
        n = batch.input_ids.shape[0]
        totals: dict[str, list[torch.Tensor]] = {}
        generator = torch.Generator().manual_seed(cfg.seed * 31 + step)
        for _ in range(cfg.ppo_epochs):
            order = torch.randperm(n, generator=generator)
            for s in range(0, n, cfg.mini_batch_size):
                rows = order[s: s + cfg.mini_batch_size].to(batch.input_ids.device)
                parts = micro_batches(rows, batch.response_mask, cfg.micro_batch_size)
                # A value pass over the replayed trunk runs the top layers only: its activations are
                # small, so it takes the whole minibatch at once (faster than micro-batches).
                value_parts = parts if batch.value_trunk is None else micro_batches(rows, batch.response_mask, 0)
                # Policy, then value: each backward frees its graph before the next pass (lower peak
                # memory than one backward over both; the parameters are disjoint either way).
                stats = self._accumulate(parts, lambda rows: self._policy_loss(batch, rows))
                self._clip_and_step(self.policy_params, self.policy_optimizer)
                stats.update(self._accumulate(value_parts, lambda rows: self._value_loss(batch, rows)))
                self._clip_and_step(self.value_params, self.value_optimizer)
                for key, value in stats.items():
                    totals.setdefault(key, []).append(value)
        # One sync per step, not per minibatch.
        return {key: float(torch.stack(values).mean()) for key, values in totals.items()}

    # ---- checkpoints and saving -----------------------------------------------------------
    def _write_adapters(self, folder: Path, meta: dict[str, Any] | None = None) -> None:
        self.roles.write(folder, meta)

    def save_checkpoint(self, step: int) -> None:
        cfg = self.config
        state = {"policy_optimizer": self.policy_optimizer.state_dict(),
                 "value_optimizer": self.value_optimizer.state_dict(), "kl_coef": self.kl_controller.value,
                 "score_moments": vars(self.score_moments).copy(), "history": self.history}
        save_checkpoint(cfg.output_dir, step=step, write_adapters=self._write_adapters, trainer_state=state,
                        config=cfg.to_dict(), data_fingerprint=self.fingerprint,
                        metrics=self.history[-1] if self.history else {}, kind="ppo", keep=cfg.save_total_limit)

    def resume(self) -> int:
        found = list_checkpoints(self.config.output_dir) if self.config.output_dir else []
        if not found:
            return 0
        loaded = load_checkpoint_info(found[-1], config=self.config.to_dict(), data_fingerprint=self.fingerprint,
                                      kind="ppo")
        self.roles.load(found[-1])
        state = loaded["state"]
        self.policy_optimizer.load_state_dict(state["policy_optimizer"])
        self.value_optimizer.load_state_dict(state["value_optimizer"])
        self.kl_controller.value = state["kl_coef"]
        self.score_moments = RunningMoments(**state["score_moments"])
        self.history = list(state["history"])
        return int(loaded["info"]["step"])

    def save_final(self, extra_meta: dict[str, Any] | None = None) -> Path:
        out = Path(self.config.output_dir)
        meta = {"kind": "ppo", "base_model": self.config.base_model, "config": self.config.to_dict(),
                "metrics": self.history[-1] if self.history else {}, "reference": self.roles.reference_label,
                "init_adapter": self.config.init_adapter, **(extra_meta or {})}
        self._write_adapters(out, meta)
        return out


def train_ppo(
    config: PPOConfig,
    prompts: list[Prompt],
    reward_fn: RewardFn,
    *,
    heldout_reward_fn: RewardFn | None = None,
    resume: bool = False,
    progress: bool = False,
    on_log: Callable[[dict[str, float]], None] | None = None,
    on_step: Callable[[int, PPOTrainer], None] | None = None,
    save: bool = True,
) -> PPOResult:
    """Train the policy for ``config.steps`` PPO steps; save the adapter (PEFT layout) with its
    value adapter to ``config.output_dir``. ``heldout_reward_fn``, when given, scores the same
    rollouts with a second reward model not used for training (over-optimisation shows as the
    two curves parting). ``resume`` continues after the newest checkpoint there."""
    trainer = PPOTrainer(config, prompts, reward_fn, heldout_reward_fn)
    start = trainer.resume() if resume else 0
    before = adapter_snapshot(trainer.policy_params)
    started = time.perf_counter()
    steps = range(start, config.steps)
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc="ppo", unit="step", initial=start, total=config.steps)
    for step in steps:
        t0 = time.perf_counter()
        batch, stats = trainer.rollouts(step)
        stats.update(trainer.optimise(batch, step))
        seconds = time.perf_counter() - t0
        stats.update(step=step + 1, total_steps=config.steps, seconds=seconds,
                     episodes_per_s=config.batch_size / seconds)
        trainer.history.append(stats)
        if config.adaptive_kl:
            trainer.kl_controller.update(stats["kl"], config.batch_size)
        if progress:
            steps.set_postfix(reward=f"{stats['reward_mean']:.3f}", kl=f"{stats['kl']:.3f}")
        if config.save_steps and save and (step + 1) % config.save_steps == 0 and step + 1 < config.steps:
            trainer.save_checkpoint(step + 1)
        if on_log is not None and ((step + 1) % max(1, config.logging_steps) == 0 or step + 1 == config.steps):
            on_log(stats)
        if on_step is not None:
            on_step(step + 1, trainer)
    if start < config.steps and not adapter_changed(trainer.policy_params, before):
        raise PolicyTrainingError("the policy adapter did not change during training (zero advantages or a"
                                  " zero learning rate?)")
    out = trainer.save_final() if save and config.output_dir else None
    return PPOResult(out, config.steps, trainer.history, time.perf_counter() - started)
