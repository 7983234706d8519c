"""A federated session: the grid, the experiment configuration and the progress display, with one
verb, :meth:`FederatedSession.run_phase`, that every phase and every method uses to run rounds."""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Result

from fedunlearn.data.requests import DeletionRequest
from fedunlearn.runtime.checkpoint import RunCheckpoints
from fedunlearn.runtime.deadline import AnswerClock, DeadlinePolicy
from fedunlearn.runtime.phase import Cost, PhaseResult
from fedunlearn.runtime.progress import Progress

from .fedavg import AccountedFedAvg, answered, ask_with_retries, content_bytes


def answer_clock(config: Mapping[str, Any]) -> AnswerClock:
    """A fresh record of answer times for one experiment (every session of it shares one)."""
    return AnswerClock(DeadlinePolicy.from_config(config))


class FederatedSession:
    """Runs federated phases on ``grid`` for one experiment configuration."""

    def __init__(
        self, grid: Grid, config: Mapping[str, Any], progress: Progress, clients: Mapping[int, int],
        checkpoints: RunCheckpoints | None = None, clock: AnswerClock | None = None,
    ) -> None:
        self.grid = grid
        self.config = dict(config)
        self.clients = dict(clients)  # Flower node id -> stable client id (partition-id)
        self.request = DeletionRequest.from_config(config)
        self.progress = progress
        self.timeout = config["round-timeout"]
        self.checkpoints = checkpoints  # None: no round checkpoints (tests, library use)
        self.clock = clock or answer_clock(config)  # the experiment's answer times: when a round stops waiting
        # Set by the flow for the unlearning phases: scores the global model before and after each round.
        self.round_evaluator: Callable[[ArrayRecord], dict[str, float]] | None = None

    def train_config(self, phase: str, view: str, **extra: Any) -> ConfigRecord:
        """What every training message carries: the experiment keys, the phase and the data view.

        Clients are stateless: they rebuild their data and the deletion request from these keys, so
        the server's configuration is the only source of truth, in simulation and deployment alike.
        """
        return ConfigRecord({**self.config, "phase": phase, "view": view, **extra})

    def exchange(self, messages: list[Message], what: str, required: int, cost: Cost | None = None,
                 retries: int | None = None, kind: str | None = None) -> list[Message]:
        """A one-off round (FUCRT's selection, SalUn's saliency): send ``messages``, ask failed clients again
        as a strategy's round does (``round-retries``, or ``retries``), wait as long as the experiment's
        deadline says, and return the answers in client order (see ``fedavg.exchange``). The retries and
        their bytes are added to ``cost`` (not to its client trainings: these rounds train nothing)."""
        retries = self.config["round-retries"] if retries is None else retries
        replies, again = ask_with_retries(self.grid, messages, self.timeout, self.clock, retries, kind)
        if cost is not None:
            cost.retries += len(again)
            cost.bytes_down += sum(content_bytes(m.content) for m in again)
        return answered(replies, len(messages), required, what)

    def absent_nodes(self, view: str) -> frozenset[int]:
        """Nodes with nothing to train on in ``view``: under a client request, the deleted client takes no
        part in any phase on retained data (it is not sampled, so it costs nothing)."""
        if view == "retain" and self.request.kind == "client":
            return frozenset(n for n, c in self.clients.items() if c == self.request.target_client)
        return frozenset()

    def ask_one(self, node: int, message_for: Callable[[int], Message], what: str,
                attempts: int = 3) -> tuple[Message, int]:
        """A one-client round (gradient ascent's or L2UL's target, who alone can do the work): the message
        ``message_for(attempt)`` is sent to ``node``, again after a failure, up to ``attempts`` times.
        Returns the reply and the number of failed attempts; raises ClientFailure after the last one.

        The clock times this work apart from every other (``what`` names the method, variant and client): how long
        one client's ascent or adversarial search takes depends on the variant's own settings (an ascent at a
        tenth of the learning rate runs five times more steps), so another variant's answer time says nothing of
        it."""
        from .fedavg import ClientFailure

        for attempt in range(attempts):
            try:
                message = message_for(attempt)
                kind = f"{message.metadata.message_type} ({what})"
                return self.exchange([message], what, required=1, retries=0, kind=kind)[0], attempt
            except ClientFailure:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def before_and_after(self, before: ArrayRecord, after: ArrayRecord) -> list[dict]:
        """The history of a method that changes the model without training rounds: the round evaluator's
        metrics before (0) and after (1) the change (empty when no evaluator is set)."""
        if self.round_evaluator is None:
            return []
        return [{"round": 0, **self.round_evaluator(before)}, {"round": 1, **self.round_evaluator(after)}]

    def strategy_kwargs(self, phase: str, view: str) -> dict[str, Any]:
        """The settings every strategy of ``phase`` on ``view`` data shares: seed, sampling, exclusions,
        ``min-clients`` and the progress display (methods pass them to their own strategy classes)."""
        return {
            "phase": phase,
            "seed": self.config["seed"],
            "fraction_train": self.config["fraction-train"],
            "on_round": lambda rnd, metrics: self.progress.round_done(phase, rnd, metrics),
            "exclude": self.absent_nodes(view),
            "min_clients": self.config["min-clients"],
            "retries": self.config["round-retries"],
            "clock": self.clock,
        }

    def strategy(self, phase: str, view: str, action: str = "default", **kwargs: Any) -> AccountedFedAvg:
        """An :class:`AccountedFedAvg` for ``phase`` on ``view`` data, wired to the progress display."""
        return AccountedFedAvg(action=action, **self.strategy_kwargs(phase, view), **kwargs)

    def run_phase(
        self,
        phase: str,
        initial: ArrayRecord,
        rounds: int,
        view: str,
        strategy: AccountedFedAvg | None = None,
        keep_client: int | None = None,
        recorders: tuple = (),
        **extra_config: Any,
    ) -> PhaseResult:
        """``rounds`` of federated training from ``initial``, clients training on their ``view`` data.

        Returns the final model, the phase's cost and the per-round history: train metrics and, when a
        round evaluator is set, the global model's metrics from round 0 (the start) on. Time spent in
        that evaluation is not counted in the phase's seconds. ``keep_client`` and ``recorders`` configure
        the default FedAvg strategy; a method that passes its own ``strategy`` configures it itself.
        With checkpoints, the state after every round is saved under the phase's name, and a phase
        that finds such a state continues after its last finished round.
        """
        strategy = strategy or self.strategy(phase, view, keep_client=keep_client, recorders=recorders)
        evaluation_seconds = 0.0

        def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
            nonlocal evaluation_seconds
            start_eval = time.perf_counter()
            metrics = MetricRecord(self.round_evaluator(arrays))
            evaluation_seconds += time.perf_counter() - start_eval
            return metrics

        seed = self.config["seed"]
        first_round, result, arrays, elapsed = 1, Result(), initial, 0.0
        saved = self.checkpoints.load_round(seed, phase) if self.checkpoints else None
        if saved is not None:
            strategy.load_state(saved["strategy"])
            first_round, arrays, elapsed = saved["round"] + 1, saved["arrays"], strategy.cost.seconds
            result.train_metrics_clientapp = {r: MetricRecord(m) for r, m in saved["train"].items()}
            result.evaluate_metrics_serverapp = {r: MetricRecord(m) for r, m in saved["evaluate"].items()}
            self.progress.message(f"{phase}: resuming after round {saved['round']} of {rounds}")
        start = time.perf_counter()

        def checkpoint(server_round: int, arrays: ArrayRecord, result: Result) -> None:
            if self.checkpoints is None:
                return
            strategy.cost.seconds = elapsed + time.perf_counter() - start - evaluation_seconds
            self.checkpoints.save_round(seed, phase, server_round, arrays, strategy.state(),
                                        {r: dict(m) for r, m in result.train_metrics_clientapp.items()},
                                        {r: dict(m) for r, m in result.evaluate_metrics_serverapp.items()})

        self.progress.phase_start(phase, rounds, done=first_round - 1)
        result = strategy.start(
            grid=self.grid,
            initial_arrays=arrays,
            num_rounds=rounds,
            timeout=self.timeout,
            train_config=self.train_config(phase, view, **extra_config),
            evaluate_fn=evaluate if self.round_evaluator is not None else None,
            first_round=first_round,
            result=result,
            on_round_end=checkpoint,
        )
        strategy.cost.seconds = elapsed + time.perf_counter() - start - evaluation_seconds
        self.progress.phase_end(phase, strategy.cost)
        history = {r: {"round": r, **dict(m)} for r, m in result.train_metrics_clientapp.items()}
        for r, m in result.evaluate_metrics_serverapp.items():
            history.setdefault(r, {"round": r}).update(dict(m))
        final = result.arrays if result.arrays is not None else arrays
        return PhaseResult(arrays=final, cost=strategy.cost, history=[history[r] for r in sorted(history)],
                           kept=strategy.kept)
