"""The one training engine every chapter uses.

``train(model, loss_fn, data, config)`` runs compiled train steps with an optax optimizer, gradient
clipping, a learning-rate schedule, periodic evaluation, a progress bar, a stop on NaN/inf, and data
parallelism over every local device — the same call on one CPU, one GPU or the 8 cores of a TPU.

The loss function is the only model-specific part::

    def loss_fn(model, batch):            # batch: the pytree of arrays the data source yields
        logits = model(batch["x"])        # (batch, classes)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()
        return loss, {"accuracy": (logits.argmax(-1) == batch["y"]).mean()}

Design notes (measured in ``benchmarks/engine.py``):

* For the small models of this book, Python dispatch can cost as much as the maths. The step is a
  ``jax.jit`` of a pure function over the ``nnx.split`` state (graph traversal happens once, at
  trace time), with the state buffers donated so parameters are updated in place. ``nnx.jit``
  re-traverses the object graph on every call and ``nnx.cached_partial`` sits in between; the
  benchmark prints all three.
* Metrics stay on the device and are fetched every ``log_every`` steps, so the host never waits
  for the device inside the loop; a non-finite loss or gradient is reported with its exact step.
* Data parallel: a one-axis mesh ``('data',)`` over ``jax.devices()``. Each batch is split along
  its first axis across devices; parameters and optimizer state are replicated. XLA inserts the
  gradient all-reduce. With one device the mesh has size 1 and nothing changes.
* Training and evaluation modes: ``Trainer`` puts the model in ``train()`` mode (NNX's switch for
  ``nnx.Dropout`` and ``nnx.BatchNorm``) before it compiles the train step, runs the eval step on
  an ``eval()`` copy, and hands the model back after ``fit`` in ``eval()`` mode. A dropout model's
  random stream is part of the state the step carries, so every step draws a new mask.
* Sparse updates (``update=``, chapter 6): a step normally differentiates the loss with respect to
  every parameter. For an embedding table that is a dense gradient the size of the table (the
  gradient of a gather is a scatter-add into zeros), and optax then rewrites every row, although a
  batch touches a few hundred of them. A model can instead pass ``update(model, batch,
  learning_rate) -> (loss, metrics)``, which changes its own parameters — e.g. plain SGD on only
  the rows the batch gathered. The engine still provides the schedule, fused steps, the history,
  the NaN stop and the progress bar; the optimizer must then be plain SGD (no momentum, clipping or
  weight decay, which would need state or norms over the whole table).
"""

from __future__ import annotations

import functools
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import jax
import numpy as np
import optax
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "linear")


class TrainingError(RuntimeError):
    """Training stopped: a non-finite loss or gradient."""


class ConfigError(ValueError):
    """A training configuration or data source that cannot work."""


# --------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class TrainConfig:
    """How to train. Every field is checked when the config is made.

    ``learning_rate`` is the peak rate; the schedule warms up linearly over ``warmup_steps`` and
    then stays (``constant``) or decays to zero (``cosine``: half a cosine wave; ``linear``).
    """

    steps: int
    batch_size: int
    learning_rate: float = 1e-3
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd only
    schedule: str = "constant"
    warmup_steps: int = 0
    clip_norm: float | None = 1.0
    eval_every: int = 0  # 0: evaluate once, at the end
    eval_batch_size: int | None = None  # default: batch_size
    log_every: int = 50  # how often metrics are fetched from the device (and NaN checked)
    steps_per_call: int = 1  # >1: that many steps fused into one compiled lax.scan (less dispatch)
    seed: int = 0
    progress: bool | None = None  # None: on, unless $LLMCOURSE_QUIET is set
    data_parallel: bool = True

    def __post_init__(self):
        def positive_int(name):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")

        for name in ("steps", "batch_size", "log_every", "steps_per_call"):
            positive_int(name)
        if self.eval_batch_size is not None:
            positive_int("eval_batch_size")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ConfigError(f"learning_rate must be a positive finite number, got {self.learning_rate!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1), got {self.momentum}")
        if not 0 <= self.warmup_steps < self.steps:
            raise ConfigError(f"warmup_steps must be in [0, steps={self.steps}), got {self.warmup_steps}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ConfigError(f"clip_norm must be > 0 or None (no clipping), got {self.clip_norm}")
        if self.eval_every < 0:
            raise ConfigError(f"eval_every must be >= 0 (0 = only at the end), got {self.eval_every}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")

    def learning_rate_schedule(self) -> optax.Schedule:
        peak, warm, total = self.learning_rate, self.warmup_steps, self.steps
        if self.schedule == "constant":
            after = optax.constant_schedule(peak)
        elif self.schedule == "cosine":
            after = optax.cosine_decay_schedule(peak, decay_steps=total - warm)
        else:
            after = optax.linear_schedule(peak, 0.0, transition_steps=total - warm)
        if warm == 0:
            return after
        return optax.join_schedules([optax.linear_schedule(0.0, peak, warm), after], [warm])

    def optax_transform(self) -> optax.GradientTransformation:
        """The optax transformation; the same object for equal configs, so that models of the same
        architecture trained with equal configs share one compiled step (see ``_compiled_steps``)."""
        return _optax_transform(self)

    def _build_optax_transform(self) -> optax.GradientTransformation:
        lr = self.learning_rate_schedule()
        if self.optimizer == "adam":
            opt = optax.adam(lr)
        elif self.optimizer == "adamw":
            opt = optax.adamw(lr, weight_decay=self.weight_decay)
        else:
            opt = optax.sgd(lr, momentum=self.momentum or None)
        if self.clip_norm is None:
            return opt
        return optax.chain(optax.clip_by_global_norm(self.clip_norm), opt)


@functools.lru_cache(maxsize=64)
def _optax_transform(config: TrainConfig) -> optax.GradientTransformation:
    return config._build_optax_transform()


# --------------------------------------------------------------------------- data
class ArrayData:
    """Random mini-batches from a pytree of arrays that share their first (example) axis.

    Batches are drawn without replacement within an epoch (a seeded permutation), so every example
    is used once per pass. The seed fixes the order: same seed, same batches.
    """

    def __init__(self, arrays, seed: int = 0):
        leaves = jax.tree.leaves(arrays)
        if not leaves:
            raise ConfigError("the data holds no arrays")
        sizes = {np.shape(x)[0] if np.ndim(x) else None for x in leaves}
        if None in sizes or len(sizes) != 1:
            raise ConfigError(f"all data arrays need the same first (example) axis, got sizes {sorted(map(str, sizes))}")
        self.arrays = jax.tree.map(np.asarray, arrays)
        self.size = sizes.pop()
        if self.size == 0:
            raise ConfigError("the data has zero examples")
        self._rng = np.random.default_rng(seed)
        self._order = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return self.size

    def next_batch(self, batch_size: int):
        if batch_size > self.size:
            raise ConfigError(f"batch_size={batch_size} is larger than the data ({self.size} examples)")
        if len(self._order) < batch_size:
            self._order = np.concatenate([self._order, self._rng.permutation(self.size)])
        index, self._order = self._order[:batch_size], self._order[batch_size:]
        return jax.tree.map(lambda x: x[index], self.arrays)

    def next_batches(self, count: int, batch_size: int):
        """``count`` batches stacked on a new leading axis: the same examples ``count`` calls of
        ``next_batch`` would give, gathered with one indexing operation."""
        if batch_size > self.size:
            raise ConfigError(f"batch_size={batch_size} is larger than the data ({self.size} examples)")
        need = count * batch_size
        while len(self._order) < need:
            self._order = np.concatenate([self._order, self._rng.permutation(self.size)])
        index, self._order = self._order[:need], self._order[need:]
        return jax.tree.map(lambda x: x[index].reshape(count, batch_size, *x.shape[1:]), self.arrays)

    def batches_in_order(self, batch_size: int):
        """Every example once, in order, in batches (the last one may be smaller)."""
        for start in range(0, self.size, batch_size):
            yield jax.tree.map(lambda x: x[start : start + batch_size], self.arrays)


def as_data(source, seed: int):
    """Arrays → ``ArrayData``; an object with ``next_batch(batch_size)`` is used as it is."""
    if source is None or hasattr(source, "next_batch"):
        return source
    return ArrayData(source, seed)


# --------------------------------------------------------------------------- history
@dataclass
class History:
    """What happened during training: per-step training metrics, periodic evaluation metrics.
    ``llmcourse.plots.history`` draws them."""

    steps: list[int] = field(default_factory=list)
    train: dict[str, list[float]] = field(default_factory=dict)
    eval_steps: list[int] = field(default_factory=list)
    eval: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    compile_seconds: float = 0.0

    def add_train(self, step: int, metrics: dict[str, float]):
        self.steps.append(step)
        for k, v in metrics.items():
            self.train.setdefault(k, []).append(float(v))

    def add_eval(self, step: int, metrics: dict[str, float]):
        self.eval_steps.append(step)
        for k, v in metrics.items():
            self.eval.setdefault(k, []).append(float(v))

    @property
    def losses(self) -> np.ndarray:
        return np.asarray(self.train.get("loss", []))

    def final(self, name: str = "loss", split: str = "eval") -> float:
        values = (self.eval if split == "eval" else self.train).get(name)
        if not values:
            raise KeyError(f"no {split} metric {name!r}; have {sorted((self.eval if split == 'eval' else self.train))}")
        return values[-1]

    def to_dict(self) -> dict:
        """Every field as plain JSON (lists of ints and floats), e.g. for the model store."""
        return {"steps": [int(s) for s in self.steps],
                "train": {k: [float(v) for v in vs] for k, vs in self.train.items()},
                "eval_steps": [int(s) for s in self.eval_steps],
                "eval": {k: [float(v) for v in vs] for k, vs in self.eval.items()},
                "seconds": float(self.seconds), "compile_seconds": float(self.compile_seconds)}

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        """The inverse of ``to_dict``; a ``ValueError`` names the first field that does not fit."""
        fields_ = ("steps", "train", "eval_steps", "eval", "seconds", "compile_seconds")
        if not isinstance(d, dict) or sorted(d) != sorted(fields_):
            found = sorted(d) if isinstance(d, dict) else type(d).__name__
            raise ValueError(f"a History needs the fields {list(fields_)}, got {found}")

        def numbers(name, value, kind):
            if not isinstance(value, list) or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
                raise ValueError(f"History field {name!r} must be a list of {kind.__name__ if kind is int else 'numbers'}")
            return [kind(v) if kind is int else float(v) for v in value]

        def metrics(name, value, length):
            if not isinstance(value, dict):
                raise ValueError(f"History field {name!r} must be an object of metric lists")
            out = {k: numbers(f"{name}.{k}", v, (int, float)) for k, v in value.items()}
            if any(len(v) != length for v in out.values()):
                raise ValueError(f"History field {name!r} must have one value per step ({length})")
            return out

        steps, eval_steps = numbers("steps", d["steps"], int), numbers("eval_steps", d["eval_steps"], int)
        for name in ("seconds", "compile_seconds"):
            if isinstance(d[name], bool) or not isinstance(d[name], (int, float)):
                raise ValueError(f"History field {name!r} must be a number, got {d[name]!r}")
        return cls(steps=steps, train=metrics("train", d["train"], len(steps)), eval_steps=eval_steps,
                   eval=metrics("eval", d["eval"], len(eval_steps)), seconds=float(d["seconds"]),
                   compile_seconds=float(d["compile_seconds"]))


# --------------------------------------------------------------------------- devices
def data_mesh(use_all_devices: bool = True) -> jax.sharding.Mesh:
    """A one-axis mesh named ``'data'`` over the local devices (or just the first one)."""
    devices = jax.devices() if use_all_devices else jax.devices()[:1]
    return jax.sharding.Mesh(np.asarray(devices), ("data",))


def _progress_enabled(config: TrainConfig) -> bool:
    if config.progress is not None:
        return config.progress
    return not os.environ.get("LLMCOURSE_QUIET")


def _progress_bar(total: int, enabled: bool, desc: str):
    if not enabled:
        return None
    try:
        import ipywidgets  # noqa: F401  (tqdm.auto needs it for a notebook widget)
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="step", dynamic_ncols=True)


# --------------------------------------------------------------------------- the steps
LossFn = Callable[[nnx.Module, Any], "tuple[jax.Array, dict[str, jax.Array]]"]
# update(model, batch, learning_rate) -> (loss, metrics): changes the model's parameters itself
UpdateFn = Callable[[nnx.Module, Any, jax.Array], "tuple[jax.Array, dict[str, jax.Array]]"]


def make_train_step(graphdef, treedef, loss_fn: LossFn, update: UpdateFn | None = None,
                    schedule: optax.Schedule | None = None):
    """A pure function ``(leaves, batch) -> (leaves, metrics)`` for one optimizer step.

    ``leaves`` is the flat list of arrays of the ``nnx.split`` state of ``(model, optimizer)`` and
    ``treedef`` its structure. Passing a flat list (not the nested ``nnx.State``) keeps JAX's
    per-call argument flattening as cheap as for a hand-written step. Compiled once with ``jax.jit``.

    With ``update`` the step calls ``update(model, batch, schedule(step))`` instead of taking the
    gradient of ``loss_fn`` and applying the optimizer (see "Sparse updates" in the module
    docstring); only the optimizer's step counter advances.
    """

    def train_step(leaves, batch):
        model, optimizer = nnx.merge(graphdef, jax.tree.unflatten(treedef, leaves))
        if update is None:
            (loss, aux), grads = nnx.value_and_grad(lambda m: loss_fn(m, batch), has_aux=True)(model)
            optimizer.update(model, grads)
            metrics = {"loss": loss, "grad_norm": optax.tree.norm(grads), **aux}
        else:
            learning_rate = schedule(optimizer.step[...])
            loss, aux = update(model, batch, learning_rate)
            optimizer.step[...] += 1
            metrics = {"loss": loss, "learning_rate": learning_rate, **aux}
        return jax.tree.leaves(nnx.state((model, optimizer))), metrics

    return train_step


def make_eval_step(graphdef, treedef, loss_fn: LossFn):
    def eval_step(leaves, batch):
        model, _ = nnx.merge(graphdef, jax.tree.unflatten(treedef, leaves))
        model.eval()  # no dropout when measuring
        loss, aux = loss_fn(model, batch)
        return {"loss": loss, **aux}

    return eval_step


def _batch_size_of(batch) -> int:
    return int(np.shape(jax.tree.leaves(batch)[0])[0])


@functools.lru_cache(maxsize=32)
def _compiled_steps(graphdef, treedef, loss_fn, update, config: TrainConfig):
    """The jitted (train step, eval step, fused multi-step) for one architecture + config + loss.

    Cached, so a second ``train`` of the same architecture with an equal config (e.g. another seed
    in a notebook's comparison) reuses the compiled code instead of compiling again. (The optax
    transformation is cached per config too, so equal configs give equal graph definitions.)
    """
    schedule = config.learning_rate_schedule() if update is not None else None
    step = make_train_step(graphdef, treedef, loss_fn, update, schedule)
    return (
        jax.jit(step, donate_argnums=0),
        jax.jit(make_eval_step(graphdef, treedef, loss_fn)),
        # several steps in one call: a scan over a stack of batches (leading axis = step)
        jax.jit(lambda leaves, batches: jax.lax.scan(step, leaves, batches), donate_argnums=0),
    )


class Trainer:
    """Holds the compiled steps for one (model, optimizer, loss) so ``fit`` can be called repeatedly.

    ``update``: optional ``update(model, batch, learning_rate) -> (loss, metrics)`` that changes the
    parameters itself (sparse SGD, see the module docstring); ``loss_fn`` is then used for evaluation.
    """

    def __init__(self, model: nnx.Module, loss_fn: LossFn, config: TrainConfig, update: UpdateFn | None = None):
        if not isinstance(config, TrainConfig):
            raise ConfigError(f"config must be a TrainConfig, got {type(config).__name__}")
        if update is not None:
            if not callable(update):
                raise ConfigError(f"update must be a function (model, batch, learning_rate) -> (loss, metrics), got {update!r}")
            if config.optimizer != "sgd" or config.momentum != 0 or config.clip_norm is not None:
                raise ConfigError(
                    "a model-specific update is plain SGD on the rows it touches: set optimizer='sgd', "
                    f"momentum=0 and clip_norm=None (got optimizer={config.optimizer!r}, "
                    f"momentum={config.momentum}, clip_norm={config.clip_norm})"
                )
        self.model, self.loss_fn, self.config = model, loss_fn, config
        self.optimizer = nnx.Optimizer(model, config.optax_transform(), wrt=nnx.Param)
        self.mesh = data_mesh(config.data_parallel)
        self.n_devices = self.mesh.devices.size
        for name in ("batch_size", "eval_batch_size"):
            size = getattr(config, name)
            if size is not None and size % self.n_devices:
                raise ConfigError(
                    f"{name}={size} must be divisible by the number of devices ({self.n_devices}) "
                    "for data parallel training; change it or set data_parallel=False"
                )
        self.replicated = NamedSharding(self.mesh, P())
        self.split_batch = NamedSharding(self.mesh, P("data"))
        model.train()  # dropout on while training (a no-op for models without it); fit ends with model.eval()
        self.graphdef, state = nnx.split((model, self.optimizer))
        leaves, self.treedef = jax.tree.flatten(state)
        self.state = jax.device_put(leaves, self.replicated)  # flat list of arrays, replicated
        self._train_step, self._eval_step, self._multi_step = _compiled_steps(
            self.graphdef, self.treedef, loss_fn, update, config)
        self.stacked_batches = NamedSharding(self.mesh, P(None, "data"))
        self.step = 0

    # -- moving data onto the mesh
    def _shard(self, batch):
        return jax.device_put(batch, self.split_batch)

    def _shard_eval(self, batch):
        # a last batch that does not divide over the devices is evaluated replicated instead
        sharding = self.split_batch if _batch_size_of(batch) % self.n_devices == 0 else self.replicated
        return jax.device_put(batch, sharding)

    def sync_model(self):
        """Write the trained state back into the ``model`` and ``optimizer`` objects."""
        nnx.update((self.model, self.optimizer), jax.tree.unflatten(self.treedef, self.state))
        self.model.eval()

    def evaluate(self, data) -> dict[str, float]:
        """Metrics averaged over every example of ``data`` (weighted by batch size)."""
        data = as_data(data, self.config.seed)
        size = self.config.eval_batch_size or self.config.batch_size
        totals, count = {}, 0
        for batch in data.batches_in_order(size):
            n = _batch_size_of(batch)
            metrics = self._eval_step(self.state, self._shard_eval(batch))
            for k, v in metrics.items():
                totals[k] = totals.get(k, 0.0) + float(v) * n
            count += n
        return {k: v / count for k, v in totals.items()}

    def fit(self, train_data, eval_data=None, history: History | None = None) -> History:
        """Take ``config.steps`` optimizer steps on ``train_data``, evaluating on ``eval_data`` every
        ``eval_every`` steps and after the last one; returns ``history`` (a new one when None)
        extended with what happened. The model is written back and left in ``eval()`` mode, even when
        training stops with an error."""
        train_data, eval_data = self._prepare_data(train_data, eval_data)
        history = history or History()
        bar = _progress_bar(self.config.steps, _progress_enabled(self.config), desc="training")
        start = time.perf_counter()
        try:
            self._train_loop(train_data, eval_data, _MetricLog(history, bar))
        finally:
            if bar is not None:
                bar.close()
            history.seconds += time.perf_counter() - start
            self.sync_model()
        return history

    def _prepare_data(self, train_data, eval_data):
        """Both data sources as objects with ``next_batch`` (and ``batches_in_order``); a batch larger
        than the training data is refused."""
        cfg = self.config
        train_data = as_data(train_data, cfg.seed)
        if hasattr(train_data, "size") and cfg.batch_size > train_data.size:
            raise ConfigError(f"batch_size={cfg.batch_size} is larger than the training data ({train_data.size} examples)")
        if eval_data is not None and not hasattr(eval_data, "batches_in_order"):
            eval_data = as_data(eval_data, cfg.seed)
        return train_data, eval_data

    def _train_loop(self, train_data, eval_data, log: _MetricLog):
        """Compiled calls of one or more steps each until ``config.steps`` are done; the metrics are
        fetched every ``log_every`` steps and before each evaluation."""
        cfg, history = self.config, log.history
        done = 0
        while done < cfg.steps:
            k = self._steps_in_next_call(cfg.steps - done, evaluating=eval_data is not None)
            log.add(self.step + 1, k, self._take_steps(train_data, k, history))
            self.step += k
            done += k
            if log.waiting >= cfg.log_every:
                log.flush()
            if eval_data is not None and cfg.eval_every and self.step % cfg.eval_every == 0:
                log.flush()
                history.add_eval(self.step, self.evaluate(eval_data))
        log.flush()
        if eval_data is not None and (not history.eval_steps or history.eval_steps[-1] != self.step):
            history.add_eval(self.step, self.evaluate(eval_data))

    def _steps_in_next_call(self, remaining: int, evaluating: bool) -> int:
        """``steps_per_call`` steps, fewer at the end of training or where the next evaluation is due."""
        cfg = self.config
        k = min(cfg.steps_per_call, remaining)
        if evaluating and cfg.eval_every:
            k = min(k, cfg.eval_every - self.step % cfg.eval_every)
        return k

    def _take_steps(self, train_data, k: int, history: History):
        """``k`` optimizer steps in one compiled call; returns their metrics, still on the device.
        The first call of a ``history`` waits for its result to record how long compiling took."""
        t0 = time.perf_counter()
        if k == 1:
            batch = self._shard(train_data.next_batch(self.config.batch_size))
            self.state, metrics = self._train_step(self.state, batch)
        else:
            self.state, metrics = self._multi_step(self.state, self._stacked_batches(train_data, k))
        if history.compile_seconds == 0.0:
            jax.block_until_ready(metrics)
            history.compile_seconds = time.perf_counter() - t0
        return metrics

    def _stacked_batches(self, train_data, k: int):
        """The next ``k`` batches stacked along a new leading (step) axis, split over the devices."""
        if hasattr(train_data, "next_batches"):
            stacked = train_data.next_batches(k, self.config.batch_size)
        else:
            batches = [train_data.next_batch(self.config.batch_size) for _ in range(k)]
            stacked = jax.tree.map(lambda *xs: np.stack(xs), *batches)
        return jax.device_put(stacked, self.stacked_batches)


class _MetricLog:
    """The training metrics of finished steps, left on the device until ``flush`` fetches them all
    in one transfer (so the host never waits for the device inside the loop), checks that they are
    finite and adds them to ``history`` step by step."""

    def __init__(self, history: History, bar):
        self.history, self.bar = history, bar
        self.pending: list[tuple[int, int, dict]] = []  # (first step, number of steps, metrics on device)

    def add(self, first_step: int, count: int, metrics: dict):
        self.pending.append((first_step, count, metrics))

    @property
    def waiting(self) -> int:
        """How many steps' metrics are still on the device."""
        return sum(count for _, count, _ in self.pending)

    def flush(self):
        """Fetch, check and record every waiting step; advance the progress bar."""
        if not self.pending:
            return
        fetched = jax.device_get([m for _, _, m in self.pending])
        n_steps = 0
        for (first, count, _), metrics in zip(self.pending, fetched):
            for i in range(count):
                one = metrics if count == 1 else {k: v[i] for k, v in metrics.items()}
                _check_finite(first + i, one)
                self.history.add_train(first + i, one)
            n_steps += count
        if self.bar is not None:
            self.bar.update(n_steps)
            self.bar.set_postfix(loss=f"{self.history.train['loss'][-1]:.4f}")
        self.pending.clear()


def _check_finite(step: int, metrics: dict):
    """Stop with a ``TrainingError`` when the loss or the gradient norm of ``step`` is NaN or
    infinite. A model-specific update may report no ``grad_norm``: then the loss alone is checked."""
    bad = [k for k in ("loss", "grad_norm") if k in metrics and not np.isfinite(metrics[k])]
    if bad:
        raise TrainingError(
            f"non-finite {' and '.join(bad)} at step {step} "
            f"(loss={metrics['loss']}, grad_norm={metrics.get('grad_norm', 'not reported')}). The model's "
            "parameters are no longer usable. Try a smaller learning_rate, gradient "
            "clipping (clip_norm), a warm-up, or check the data and the loss for log(0) "
            "or division by zero."
        )


def train(model: nnx.Module, loss_fn: LossFn, train_data, config: TrainConfig, eval_data=None,
          update: UpdateFn | None = None) -> History:
    """Train ``model`` in place on ``train_data`` and return the ``History``.

    ``train_data`` / ``eval_data``: a pytree of arrays with a shared first axis (e.g.
    ``{"x": images, "y": labels}``), or any object with ``next_batch(batch_size)`` (and
    ``batches_in_order(batch_size)`` for evaluation). ``update``: see ``Trainer``.
    """
    return Trainer(model, loss_fn, config, update=update).fit(train_data, eval_data)


# --------------------------------------------------------------------------- checkpoints
from llmcourse.checkpoints import CheckpointError, restore_checkpoint, save_checkpoint  # noqa: E402,F401

__all__ = [
    "TrainConfig", "Trainer", "train", "History", "ArrayData", "TrainingError", "ConfigError",
    "data_mesh", "make_train_step", "make_eval_step", "save_checkpoint", "restore_checkpoint",
    "CheckpointError",
]
