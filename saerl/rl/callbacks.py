"""The RL run's trainer callback: greedy evaluation at step 0, every `eval_every` steps and at the
end; train metrics to the tracker; a progress bar with reward and accuracy (off under CI /
TQDM_DISABLE). Imported only when training, since it subclasses transformers' TrainerCallback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback

from saerl.data.records import Record
from saerl.models.generation import greedy_correct
from saerl.rl.config import RLConfig
from saerl.tracking import Tracker


def evaluate(
    model: Any,
    tokenizer: Any,
    evals: dict[str, list[Record]],
    grader: Callable[[str, str], bool],
    cfg: RLConfig,
    progress: bool = False,
    final: bool = False,
) -> dict[str, float]:
    """Greedy accuracy per eval set (the data's splits, then the named benchmarks, each graded by
    its own rules) and their average (``eval/average``); at the ``final`` evaluation also avg@k of
    the benchmarks that publish it (``cfg.eval_avg_k``), which stays out of the average."""
    from saerl.data import benchmarks

    was_training = model.training
    model.eval()
    out: dict[str, float] = {}
    novel: dict[str, float] = {}
    for name, recs in evals.items():
        right = greedy_correct(
            model,
            tokenizer,
            recs,
            grader,
            cfg.eval_max_new_tokens,
            batch_size=cfg.eval_batch_size,
            progress=f"eval {name}" if progress else None,
            grade_record=benchmarks.grade if name in cfg.eval_benchmarks else None,
        )
        out[f"eval/{name}/accuracy"] = sum(right) / len(right)
        # Items whose computation no training prompt asks (the miniature marks them): accuracy
        # that repeating a trained computation cannot explain. Kept out of eval/average.
        unseen = [ok for ok, r in zip(right, recs, strict=True) if r.meta.get("seen_computation") is False]
        if unseen:
            novel[f"eval/{name}/accuracy_novel"] = sum(unseen) / len(unseen)
    out["eval/average"] = sum(out.values()) / len(out)
    out |= novel
    if final and cfg.eval_avg_k:
        out |= sampled_benchmarks(model, tokenizer, evals, cfg)
    if was_training:
        model.train()
    return out


def sampled_benchmarks(
    model: Any, tokenizer: Any, evals: dict[str, list[Record]], cfg: RLConfig
) -> dict[str, float]:
    """eval/<name>/avg@k for the named benchmarks whose published metric samples k > 1 times."""
    from saerl.data import benchmarks
    from saerl.models.generation import generate

    out = {}
    for name in cfg.eval_benchmarks:
        k = benchmarks.benchmark(name).samples
        if k < 2 or name not in evals:
            continue
        recs = evals[name]
        samples = generate(
            model, tokenizer, [r.prompt for r in recs], cfg.eval_max_new_tokens, cfg.eval_batch_size, k,
            cfg.eval_temperature, cfg.seed,
        )  # fmt: skip
        out[f"eval/{name}/avg@{k}"] = benchmarks.score(recs, [s[0] for s in samples], samples)[f"avg@{k}"]
    return out


class EvalCallback(TrainerCallback):  # type: ignore[misc]
    def __init__(
        self,
        cfg: RLConfig,
        tokenizer: Any,
        evals: dict[str, list[Record]],
        grader: Callable[[str, str], bool],
        tracker: Tracker,
        desc: str = "rl",
    ) -> None:
        self.cfg, self.tokenizer, self.evals, self.grader, self.tracker = (
            cfg,
            tokenizer,
            evals,
            grader,
            tracker,
        )
        self.desc = desc
        self.last: dict[str, float] = {}
        self.bar: Any = None

    def _evaluate(self, step: int, model: Any, final: bool = False) -> None:
        self.last = evaluate(
            model, self.tokenizer, self.evals, self.grader, self.cfg, progress=True, final=final
        )
        self.tracker.log(step, self.last)
        if self.bar is not None:
            self.bar.set_postfix(acc=f"{self.last['eval/average']:.3f}", refresh=False)

    def step(self, state: Any) -> int:
        """The curriculum batch TRL's state is on (its global step counts optimizer updates)."""
        return int(state.global_step) // self.cfg.updates_per_batch

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.cfg.steps, initial=self.step(state), desc=self.desc, unit="step")
        if state.global_step == 0:
            self._evaluate(0, model)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
        train = {f"train/{k}": v for k, v in (logs or {}).items() if isinstance(v, (int, float))}
        if train:
            self.tracker.log(self.step(state), train)
            if self.bar is not None and "train/reward" in train:
                acc = self.last.get("eval/average")
                post = {"reward": f"{train['train/reward']:.3f}"}
                if acc is not None:
                    post["acc"] = f"{acc:.3f}"
                self.bar.set_postfix(post, refresh=False)

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        if state.global_step % self.cfg.updates_per_batch:
            return  # inside a batch's updates
        step = self.step(state)
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
        if step % self.cfg.eval_every == 0 or step == self.cfg.steps:
            self._evaluate(step, model, final=step == self.cfg.steps)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
