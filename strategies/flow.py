"""The experiment flow, run by the ServerApp, once per seed:

1. train the original global model with FedAvg;
2. apply the deletion request (clients switch to their retained data);
3. train the reference: FedAvg from scratch on the retained data (same seed, clients, rounds);
4. run each unlearning method from the original model (its global model scored after every round);
   under sequential requests, a method serves the requests one after another, each from its own
   model after the previous one;
5. score every model with the central evaluator against that seed's reference;

then combine the seeds into means, intervals and verdicts.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Callable, Mapping

from flwr.app import ArrayRecord, ConfigRecord, Message, RecordDict
from flwr.serverapp import Grid

from fedunlearn import config as cfg
from fedunlearn.data.federation import Federation
from fedunlearn.evaluation.evaluator import Evaluator, ModelOutputs
from fedunlearn.learning.models import build_model
from fedunlearn.learning.training import derive_seed
from fedunlearn.reporting.seeds import REFERENCE, SECOND_REFERENCE, combine, seed_report
from fedunlearn.runtime import device, environment
from fedunlearn.runtime.checkpoint import ModelCache, RunCheckpoints, original_key, reference_key, safe_name
from fedunlearn.runtime.deadline import AnswerClock
from fedunlearn.runtime.phase import Cost, PhaseResult
from fedunlearn.runtime.progress import Progress

from . import methods
from .fedavg import exchange
from .session import FederatedSession, answer_clock


def wait_for_clients(grid: Grid, expected: int, timeout: float = 30.0) -> list[int]:
    """Block until ``expected`` clients are connected; more or fewer after ``timeout`` is an error."""
    deadline = time.monotonic() + timeout
    while True:
        nodes = sorted(grid.get_node_ids())
        if len(nodes) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if len(nodes) != expected:
        raise RuntimeError(
            f"num-clients = {expected} but the federation has {len(nodes)} connected clients; "
            f"start as many SuperNodes (simulation: options.num-supernodes) as num-clients"
        )
    return nodes


def identify_clients(grid: Grid, nodes: list[int], config: Mapping[str, Any], timeout: float = 300.0) -> dict[int, int]:
    """Flower node id -> stable client id (the node's ``partition-id``), asked of every node once; the
    nodes load their data on the way (the message carries the configuration)."""
    content = RecordDict({"config": ConfigRecord({**config, "phase": "identify"})})
    messages = [Message(content, message_type="query.identify", dst_node_id=n) for n in nodes]
    clients = {reply.metadata.src_node_id: int(reply.content["metrics"]["partition-id"])
               for reply in exchange(grid, messages, timeout, "identifying clients", required=len(messages))}
    if sorted(clients.values()) != list(range(len(nodes))):
        raise RuntimeError(f"the connected clients' partition-ids are {sorted(clients.values())}; "
                           f"expected each of 0..{len(nodes) - 1} once")
    return clients


def initial_model(config: Mapping[str, Any], federation: Federation, replicate: int = 1) -> ArrayRecord:
    """The seeded initial global model shared by the original training and the reference (``replicate`` k > 1: the
    k-th retraining's, another initialisation from the same seed)."""
    data = federation.data
    seed = derive_seed(config["seed"], "init") if replicate == 1 else derive_seed(config["seed"], "init", replicate)
    model = build_model(config["model"], data.input_shape, data.num_classes, seed=seed)
    return ArrayRecord(model.state_dict())


def run_seed(
    grid: Grid, config: Mapping[str, Any], progress: Progress, clients: Mapping[int, int],
    checkpoints: RunCheckpoints | None = None, clock: AnswerClock | None = None,
) -> tuple[dict, dict, Evaluator]:
    """Steps 1-5 for ``config['seed']``: the seed's model entries, each model's outputs, the evaluator.

    With ``checkpoints``, every finished phase is saved and a phase finished before is loaded instead
    of run again (``fedunlearn run --resume``); a phase cut off mid-way continues from its last round.
    """
    seed = config["seed"]
    federation = Federation.from_config(config)
    evaluator = Evaluator(federation, config)
    clock = clock or answer_clock(config)
    session = FederatedSession(grid, config, progress, clients, checkpoints, clock)
    initial = initial_model(config, federation)
    rounds = config["num-server-rounds"]

    def phase(label: str, run: Callable[[], PhaseResult]) -> PhaseResult:
        if checkpoints is not None and (done := checkpoints.load_phase(seed, label)) is not None:
            progress.message(f"{label}: finished before the interruption, loaded from its checkpoint")
            return done
        result = run()
        if checkpoints is not None:
            checkpoints.save_phase(seed, label, result)
        return result

    variants = [(label, methods.get(base), {**config, **overrides})
                for label, base, overrides in cfg.method_variants(config) if base != REFERENCE]
    recorders = {}
    for label, method, method_config in variants:
        folder = checkpoints.seed_dir(seed) / f"recorder-{safe_name(label)}" if checkpoints is not None else None
        if (recorder := method.recorder(method_config, folder, label)) is not None:
            recorders[label] = recorder
    try:
        # Under client and sample requests the target's last local model is kept (gradient ascent needs it).
        phases = {"original": phase("original", lambda: train_original(
            session, initial, federation.target_client, tuple(recorders.values())))}
        phases["original"].kept["recorders"] = recorders
        phases[REFERENCE] = phase(REFERENCE, lambda: train_reference(session, initial))
        # More retrainings: the per-example attack's reference models, and with noise-floor the second reference
        # (replicate 2 serves both), which then shows how far two references differ on every metric.
        replicas = {replicate_name(r): phase(replicate_name(r), lambda r=r: train_reference(
            session, initial_model(config, federation, replicate=r), replicate=r)) for r in replicates(config)}
        if config["noise-floor"]:
            phases[SECOND_REFERENCE] = replicas[SECOND_REFERENCE]
        steps = federation.request.steps
        for label, method, method_config in variants:
            served = phases["original"]
            step_results = []
            for step in range(1, steps + 1):  # one step unless the requests are sequential
                step_label = label if steps == 1 else f"{label}#{step}"
                step_config = method_config if steps == 1 else {**method_config, "request-step": step}
                method_session = FederatedSession(grid, step_config, progress, clients, checkpoints, clock)
                method_session.round_evaluator = evaluator.round_metrics
                served = phase(step_label, lambda: method(step_config, step_label).unlearn(method_session, served))
                step_results.append(served)
            phases[label] = served if steps == 1 else sequential_result(step_results, evaluator)
    except BaseException:
        for recorder in recorders.values():
            if checkpoints is None:  # a resumable run keeps its records beside its checkpoints
                recorder.close()
        raise
    for recorder in recorders.values():
        recorder.close()

    progress.message(f"evaluating {len(phases)} models (seed {seed})")
    start = time.perf_counter()
    outputs = {name: evaluator.outputs(result.arrays) for name, result in phases.items()}
    pool = {name: outputs.get(name) or evaluator.outputs(result.arrays, sets=("forget", "test"))
            for name, result in replicas.items()} | {REFERENCE: outputs[REFERENCE]}
    scored = {name: (evaluator.evaluate(outputs[name], outputs[REFERENCE],
                                        attack_references(pool, name, config["rmia-references"])), result.cost)
              for name, result in phases.items()}
    evaluator.seconds = time.perf_counter() - start
    models = seed_report(scored)
    if config["rmia-references"]:
        models[REFERENCE]["attack_references"] = {
            "models": config["rmia-references"],
            "cost": sum_costs([replicas[n].cost for n in list(replicas)[:config["rmia-references"]]]).to_dict()}
    for name, result in phases.items():
        if result.one_off is not None:
            models[name]["one_off_cost"] = result.one_off.to_dict()
        models[name]["history"] = result.history
        if result.details:
            models[name]["details"] = result.details
    return models, outputs, evaluator


def replicates(config: Mapping[str, Any]) -> list[int]:
    """The retrainings beside the reference (replicate 1): 2 .. rmia-references + 1, and 2 with noise-floor."""
    return list(range(2, max(config["rmia-references"] + 1, 2 if config["noise-floor"] else 1) + 1))


def replicate_name(replicate: int) -> str:
    return REFERENCE if replicate == 1 else f"{REFERENCE}-{replicate}"


def attack_references(pool: Mapping[str, ModelOutputs], name: str, count: int) -> list[ModelOutputs]:
    """The per-example attack's ``count`` reference models for model ``name``: the replicates 2, 3, ... for any
    model, and for a retraining the others, the reference (replicate 1) last: never the model itself."""
    order = [n for n in pool if n != REFERENCE] + [REFERENCE]
    return [pool[n] for n in order if n != name][:count]


def sum_costs(costs: list[Cost]) -> Cost:
    total = Cost()
    for cost in costs:
        total = total.add(cost)
    return total


def sequential_result(steps: list[PhaseResult], evaluator: Evaluator) -> PhaseResult:
    """One method's result over sequential requests: the model after the last request, the summed cost,
    the rounds of every step numbered on (each entry says its ``request``), and per request its details and
    the forget accuracy on every forgotten class's training samples once that request was served."""
    history, offset = [], 0
    for step, result in enumerate(steps, start=1):
        for entry in result.history:
            if step > 1 and entry["round"] == 0:  # the same model as the previous step's last round
                continue
            history.append({**entry, "round": entry["round"] + offset, "request": step})
        offset += max((entry["round"] for entry in result.history), default=0)
    cost = sum_costs([result.cost for result in steps])
    classes = evaluator.federation.request.classes
    details = {"requests": [
        {"request": step, "forget_class": classes[step - 1], "details": result.details,
         "forget_acc_by_class": evaluator.forget_acc_by_class(result.arrays)}
        for step, result in enumerate(steps, start=1)]}
    return PhaseResult(arrays=steps[-1].arrays, cost=cost, history=history, details=details, kept=steps[-1].kept)


def _cached(session: FederatedSession, kind: str, key: str, train: Callable[[], PhaseResult],
            reuse: bool = True) -> PhaseResult:
    """``train()``'s result, or, with ``reuse``, the same model from the cache (``cache-dir``) when one was
    trained before for everything that determines it (``key``). A model trained here is stored for later."""
    cache = ModelCache(session.config["cache-dir"], kind) if session.config["cache-dir"] else None
    if cache is not None and reuse and (cached := cache.load(key)) is not None:
        cached.details = {"cache": "reused", "cache_file": str(cache.file(key))}
        session.progress.message(f"{'original' if kind == 'original' else REFERENCE}: reused from the cache "
                                 f"({cache.file(key)})")
        return cached
    result = train()
    if cache is not None:
        result.details = {"cache": "trained", "cache_file": str(cache.save(key, result))}
    return result


def train_original(session: FederatedSession, initial: ArrayRecord, kept_client: int | None,
                   recorders: tuple = ()) -> PhaseResult:
    """The original model: FedAvg on all data, keeping ``kept_client``'s last local model (gradient ascent's
    target), or the same model from the cache; not from the cache when a method records the training
    (FedEraser's recorders must see every round)."""
    config = session.config

    def train() -> PhaseResult:
        result = session.run_phase("original", initial, config["num-server-rounds"], view="all",
                                   keep_client=kept_client, recorders=recorders)
        for recorder in recorders:  # what trained beside the model is its method's one-off cost, not the model's
            if getattr(recorder, "action", None) and hasattr(recorder, "cost"):
                result.cost = without(result.cost, recorder.cost)
        return result

    return _cached(session, "original", original_key(config, kept_client), train, reuse=not recorders)


def without(cost: Cost, companion: Cost) -> Cost:
    """The original training's cost less what a companion (GENIU's generator) added to the same rounds: its bytes
    both ways and its clients' seconds (the rounds and client trainings are the model's own)."""
    return replace(cost, bytes_down=cost.bytes_down - companion.bytes_down, bytes_up=cost.bytes_up - companion.bytes_up,
                   seconds=max(0.0, cost.seconds - companion.seconds))


def train_reference(session: FederatedSession, initial: ArrayRecord, replicate: int = 1) -> PhaseResult:
    """The reference: FedAvg from scratch on the retained data, or the same model from the cache. ``replicate`` 2
    is the second reference: its own initial model, and its phase name seeds other client samples and batches."""
    return _cached(session, "reference", reference_key(session.config, replicate), lambda: session.run_phase(
        replicate_name(replicate), initial, session.config["num-server-rounds"], view="retain"))


def run_experiment(
    grid: Grid, config: Mapping[str, Any], progress: Progress, checkpoints: RunCheckpoints | None = None
) -> dict[str, Any]:
    """Every seed of the experiment, combined into one report dictionary."""
    clients = identify_clients(grid, wait_for_clients(grid, config["num-clients"]), config)
    clock = answer_clock(config)  # answer times seen so far: every phase and seed of the experiment shares them
    seeds = cfg.seed_list(config)
    per_seed: dict[int, dict] = {}
    evaluation_seconds: dict[str, float] = {}
    for i, seed in enumerate(seeds):
        if len(seeds) > 1:
            progress.message(f"seed {seed} ({i + 1} of {len(seeds)})")
        models, outputs, evaluator = run_seed(grid, {**config, "seed": seed}, progress, clients, checkpoints, clock)
        per_seed[seed] = models
        evaluation_seconds[str(seed)] = evaluator.seconds
        if i == 0:
            federation = evaluator.federation
            request = federation.request.to_dict()
            data = {
                "num_classes": federation.data.num_classes,
                "train_samples": int(len(federation.data.y_train)),
                "test_samples": int(len(evaluator.y["test"])),
                "forget_samples": evaluator.sizes["forget"],
                "retain_samples": evaluator.sizes["retain"],
                "client_samples": [int(len(p)) for p in federation.partitions],
                "backdoor_samples": int(len(federation.poisoned)),
                "neighbour_mia_classes": evaluator.neighbours,
            }
            representation = {"seed": seed, "labels": evaluator.y["test"].tolist(),
                              "models": {n: evaluator.representation_map(o) for n, o in outputs.items()}}
    return combine(config, request, per_seed, data, {"representation_map": representation,
                                                     "evaluation_seconds": evaluation_seconds,
                                                     "environment": environment.describe(
                                                         device.describe(device.resolve(config["device"])))})
