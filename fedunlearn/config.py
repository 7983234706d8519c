"""Experiment configuration: the keys, their types, defaults and allowed values, and validation.

Keys are Flower run-config keys (kebab-case). The same keys appear in ``experiments/*.toml``, in
``[tool.flwr.app.config]`` of ``pyproject.toml`` and after ``--run-config``. Every value is checked
here, before any data is loaded, Ray starts or a directory is written; a bad value raises
:class:`ConfigError` whose message names the key, the value given and what is allowed.
"""

from __future__ import annotations

import math
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

__all__ = ["ConfigError"]

PARTITIONERS = ("iid", "dirichlet", "pathological")


from fedunlearn.errors import ConfigError  # noqa: E402  (re-exported: every module imports it from here)


@dataclass(frozen=True)
class Key:
    """One configuration key: its type, default, what it means, and an optional value check.

    ``check`` returns None when the value is allowed, else a phrase saying what is allowed.
    """

    type: type
    default: Any
    help: str
    check: Callable[[Any], str | None] | None = None


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str | None]:
    return lambda v: None if v in choices else "one of " + ", ".join(repr(c) for c in choices)


def _at_least(low: float) -> Callable[[Any], str | None]:
    return lambda v: None if v >= low else f"a number >= {low}"


def _positive(v: float) -> str | None:
    return None if v > 0 and math.isfinite(v) else "a finite number > 0"


def _fraction_open_closed(v: float) -> str | None:
    return None if 0 < v <= 1 else "a number in (0, 1]"


def _fraction_open(v: float) -> str | None:
    return None if 0 < v < 1 else "a number in (0, 1)"


def _shape(v: str) -> str | None:
    try:
        dims = [int(d) for d in v.split(",")]
    except ValueError:
        dims = []
    return None if dims and all(d > 0 for d in dims) else "comma-separated positive sizes such as '1,8,8'"


def _distinct_ints(allowed: str) -> Callable[[Any], str | None]:
    """A check for comma-separated distinct integers >= 0; ``allowed`` says what is allowed."""
    def check(v: str) -> str | None:
        items = [i.strip() for i in v.split(",") if i.strip()]
        ok = all(i.isdigit() for i in items) and len(set(items)) == len(items)
        return None if ok else allowed
    return check


def class_sequence(config: Mapping[str, Any]) -> list[int]:
    """The classes a class or sequential request forgets, in the order the requests arrive."""
    later = [int(i) for i in config["then-forget-classes"].split(",") if i.strip()]
    return [config["forget-class"], *later] if config["forget-class"] >= 0 else []


DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _device_name(v: str) -> str | None:
    return None if DEVICE.match(v) else "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"


def _safe_name(v: str) -> str | None:
    ok = v and all(c.isalnum() or c in "-_." for c in v) and not v.startswith(".")
    return None if ok else "a name of letters, digits, '-', '_' and '.' that does not start with '.'"


SCHEMA: dict[str, Key] = {
    # Experiment identity and output.
    "name": Key(str, "default", "experiment name, used in the run directory's name", _safe_name),
    "out-dir": Key(str, "", "output directory; empty: runs/<name>-<timestamp>/"),
    "seed": Key(int, 0, "seed of the model initialisation, partitioning and client training", _at_least(0)),
    "seeds": Key(str, "", "run the whole experiment once per seed (comma-separated); empty: just `seed`",
                 _distinct_ints("comma-separated distinct seeds >= 0 such as '0,1,2' (or a TOML list in a file)")),
    # Data.
    "dataset": Key(str, "digits", "data set: a registered name (`fedunlearn datasets` lists them)",
                   _safe_name),
    "data-path": Key(str, "", "dataset 'npz': an .npz file with arrays x and y; 'idx', 'fashion_mnist', 'mnist': a "
                              "folder of MNIST-format IDX files (fashion_mnist: default Debian's package folder)"),
    "test-fraction": Key(float, 0.2, "share of the data held out as the server's test set", _fraction_open),
    "synthetic-samples": Key(int, 2000, "number of samples of the synthetic data set", _at_least(2)),
    "synthetic-classes": Key(int, 10, "number of classes of the synthetic data set", _at_least(2)),
    "synthetic-shape": Key(str, "1,8,8", "shape of one synthetic sample, channels first", _shape),
    "train-samples": Key(int, 0, "keep only this many training samples (a fixed random subset, the same in every "
                                 "run; 0: all): fewer samples per client, models that memorise", _at_least(0)),
    "class-imbalance": Key(float, 1.0, "long-tailed training classes: class 0 keeps all, the last class 1/this "
                                       "(1: as the data set is)", _at_least(1.0)),
    # Federation.
    "num-clients": Key(int, 10, "number of (simulated) clients", _at_least(2)),
    "partitioner": Key(str, "dirichlet", "how the training data is split over clients", _one_of(PARTITIONERS)),
    "dirichlet-alpha": Key(float, 0.5, "concentration of the Dirichlet partitioner", _positive),
    "classes-per-client": Key(int, 2, "classes each client holds (pathological partitioner)", _at_least(1)),
    "fraction-train": Key(float, 1.0, "share of clients sampled in each round", _fraction_open_closed),
    "ray-address": Key(str, "", "Ray cluster to run the simulation on (e.g. '10.0.0.5:6379' or 'auto'); empty: a "
                                "local Ray started for the run"),
    "device": Key(str, "auto", "where torch computes (clients, server steps, evaluator): 'auto' (the accelerator torch "
                               "sees, else the CPU), 'cpu', 'cuda', 'cuda:N' or 'mps'", _device_name),
    "client-gpus": Key(float, 0.0, "share of a GPU Ray reserves per simulated client (Flower's num_gpus); each "
                                   "client's process caps its GPU memory to it", _at_least(0.0)),
    "amp": Key(bool, False, "mixed precision (bfloat16 autocast) in local training"),
    "client-cpus": Key(float, 1.0, "CPUs Ray reserves per simulated client (fractions allowed: more clients at once)",
                       _positive),
    # Faults (docs: README, "Faults, resume and determinism").
    "min-clients": Key(int, 1, "fewest clients that must answer a round; fewer stops the run with an error",
                       _at_least(1)),
    "round-retries": Key(int, 5, "times a round asks its failed clients again before going on without them",
                         _at_least(0)),
    "round-timeout": Key(float, 600.0, "the most seconds the server waits for a round's replies (the hard cap); later "
                                       "ones count as failures", _positive),
    "round-deadline-factor": Key(float, 2.0, "a round stops waiting once its clients take this many times longer "
                                             "than answers took so far (0: wait for round-timeout)", _at_least(0.0)),
    "round-deadline-floor": Key(float, 0.5, "the shortest such deadline, in seconds", _positive),
    "fault-rate": Key(float, 0.0, "simulated faults: chance that a sampled client fails (raises or hangs) in a round",
                      lambda v: None if 0 <= v < 1 else "a number in [0, 1)"),
    # Model and training.
    "model": Key(str, "cnn", "model architecture: a registered name (`fedunlearn models` lists them)", _safe_name),
    "num-server-rounds": Key(int, 15, "FedAvg rounds of the original training and of the reference", _at_least(1)),
    "local-epochs": Key(int, 2, "local epochs per client per round", _at_least(1)),
    "batch-size": Key(int, 32, "local mini-batch size", _at_least(1)),
    "learning-rate": Key(float, 0.05, "local SGD learning rate", _positive),
    "momentum": Key(float, 0.9, "local SGD momentum", lambda v: None if 0 <= v < 1 else "a number in [0, 1)"),
    # Deletion request and unlearning.
    "forget-class": Key(int, 3, "class to forget on every client (a class request; -1: none)", _at_least(-1)),
    "then-forget-classes": Key(str, "", "sequential requests: classes forgotten one request after another, after "
                                        "forget-class (e.g. '5' or '5,7'); empty: one request",
                                 _distinct_ints("comma-separated distinct class labels such as '5' or '5,7' (empty: none)")),
    "forget-client": Key(int, -1, "client whose every sample is forgotten (a client request; -1: none)", _at_least(-1)),
    "forget-samples": Key(float, 0.0, "share of one client's samples to forget (a sample request; 0: none)",
                          lambda v: None if 0 <= v <= 1 else "a number in [0, 1]"),
    "forget-samples-client": Key(int, 0, "the client whose samples a sample request forgets", _at_least(0)),
    "forget-samples-path": Key(str, "", "a sample request from a file: training-split indices (.npy or .txt)"),
    "forget-backdoor": Key(bool, False, "a sample request for exactly the samples that carry the planted backdoor "
                                        "(needs backdoor-client): the original learns the trigger, the reference not"),
    "unlearn-methods": Key(str, "finetune", "comma-separated methods; a variant: name[key=value;key=value]"),
    "tuned-methods": Key(str, "", "settings each method runs with where its unlearn-methods entry does not set the key "
                                  "itself: name[key=value;...], comma-separated (a suite's `tuned` file fills it)"),
    "unlearn-rounds": Key(int, 5, "federated rounds each unlearning method may use", _at_least(1)),
    # FUCRT (docs/methods/fucrt.md: the defaults come from a sweep).
    "fucrt-selection": Key(str, "vote", "how the transformation classes are chosen",
                           _one_of(("vote", "random", "nearest-centroid"))),
    "fucrt-min-samples": Key(int, 5, "forgotten samples a client needs to propose transformation classes", _at_least(1)),
    "fucrt-select-threshold": Key(float, 0.2, "share of second-highest probability mass a class needs to be proposed",
                                  lambda v: None if 0 < v <= 1 else "a number in (0, 1]"),
    "fucrt-select-fraction": Key(float, 1.0, "share of clients the selection round asks (1: every client, as the "
                                             "paper does)", _fraction_open_closed),
    "fucrt-lambda-local": Key(float, 1.0, "weight of the in-batch supervised contrastive loss", _at_least(0.0)),
    "fucrt-lambda-global": Key(float, 1.0, "weight of the prototype contrastive loss", _at_least(0.0)),
    "fucrt-temperature": Key(float, 0.5, "temperature of both contrastive losses", _positive),
    # NoT and the weight perturbations (docs/methods/not.md).
    "not-layers": Key(str, "first", "layers NoT negates: 'first', 'last', 'all' or comma-separated parameter names"),
    "not-negate-bias": Key(bool, True, "whether NoT negates the chosen layers' biases too"),
    # Projected gradient ascent (docs/methods/gradient-ascent.md).
    # The authors' notebook's settings (IBM/federated-unlearning).
    "ga-radius": Key(float, 1 / 3, "the ball's squared radius as a share of the mean squared distance from the "
                                   "reference to random models", _positive),
    # The notebook stops at a squared distance of 2.2 from the target, where its reference started 0.45 away.
    "ga-stop-ratio": Key(float, 2.2 / 0.45, "the ascent stops once its squared L2 distance to the target's last "
                                            "local model exceeds this many times the reference's", _positive),
    "ga-learning-rate": Key(float, 0.01, "SGD learning rate of the ascent (momentum 0.9)", _positive),
    "ga-epochs": Key(int, 5, "most epochs the ascent runs over the forgotten data", _at_least(1)),
    # FedEraser (docs/methods/federaser.md).
    "federaser-interval": Key(int, 2, "record every client's update every this many training rounds", _at_least(1)),
    "federaser-calibration": Key(float, 0.5, "calibration training as a share of local-epochs", _fraction_open_closed),
    "federaser-max-mb": Key(float, 1024.0, "largest disk space the recorded updates may take (MiB)", _positive),
    # Head tilt (docs/methods/head-tilt.md).
    "tilt-beta": Key(float, 10.0, "head tilt's pull toward classes whose head rows resemble the forgotten one's",
                     _at_least(0.0)),
    # LRA-NPP (docs/methods/lra-npp.md).
    "lra-npp-samples": Key(int, 36, "test images of the forgotten class LRA-NPP analyses", _at_least(1)),
    # The authors' MNIST counts (k = 50, N = 80) on their 512-wide layer, as shares of the representation's width.
    "lra-npp-top-k-share": Key(float, 50 / 512, "most relevant neurons kept per image, as a share of the "
                                                "representation's width", _fraction_open_closed),
    "lra-npp-neurons-share": Key(float, 80 / 512, "most frequent neurons cut off the forgotten class, as a share of "
                                                  "the representation's width", _fraction_open_closed),
    # L2UL (docs/methods/l2ul.md).
    "l2ul-eps": Key(float, 4.0, "L2 radius of L2UL's adversarial examples (images in [0, 1])", _positive),
    "l2ul-adv-per-sample": Key(int, 20, "adversarial examples per forgotten sample", _at_least(1)),
    "l2ul-pgd-steps": Key(int, 100, "PGD steps per adversarial example (step 0.1)", _at_least(1)),
    "l2ul-learning-rate": Key(float, 0.001, "L2UL's SGD learning rate", _positive),
    "l2ul-lambda": Key(float, 1.0, "weight of L2UL's importance-weighted pull toward the original", _at_least(0.0)),
    "l2ul-stop-acc": Key(float, 0.0, "L2UL stops once its accuracy on the forgotten samples is at most this",
                         lambda v: None if 0 <= v <= 1 else "a number in [0, 1]"),
    # WF-Net (docs/methods/wf-net.md).
    "wfnet-rounds": Key(int, 2, "rounds of WF-Net's one-off filter training", _at_least(1)),
    "wfnet-learning-rate": Key(float, 0.05, "SGD learning rate of WF-Net's filters", _positive),
    "wfnet-forget-weight": Key(float, 1.0, "weight of WF-Net's 1/CE term on the filtered class", _at_least(0.0)),
    "wfnet-sparsity": Key(float, 0.1, "weight of WF-Net's mean(1 - alpha) term", _at_least(0.0)),
    "wfnet-rows-per-batch": Key(int, 2, "filter rows (classes) each batch trains (label expansion)", _at_least(1)),
    "wfnet-filter-head": Key(bool, True, "whether the classifier head is filtered too (its row c can scale class "
                                         "c's logits down: an output mask); false filters only the inner layers"),
    # GENIU (docs/methods/geniu.md).
    "geniu-generator-steps": Key(int, 50, "Adam steps of a client's generator training in each training round",
                                 _at_least(1)),
    "geniu-proxies": Key(int, 8, "proxies of each class in GENIU's one tuning batch", _at_least(1)),
    "geniu-tuning-steps": Key(int, 10, "steps of GENIU's in-batch tuning on the proxies (server side)", _at_least(1)),
    "geniu-learning-rate": Key(float, 0.01, "SGD learning rate of GENIU's in-batch tuning", _positive),
    # SalUn (docs/methods/salun.md).
    "salun-ratio": Key(float, 0.5, "share of weights SalUn marks salient (the largest forget-loss gradients)",
                       _fraction_open_closed),
    # Evaluation.
    "test-half": Key(str, "", "evaluate on a fixed half of the test split: 'validation' (for tuning: the only test "
                              "samples a method or a tuning run may use) or 'report' (the other half, the only one "
                              "reported); empty: all of it", _one_of(("", "validation", "report"))),
    "cache-dir": Key(str, "runs/cache", "where trained reference models are cached for reuse; empty: no cache"),
    "verdict-tolerance": Key(float, 0.02, "largest gap to the reference still judged equal (without a noise floor)",
                             _at_least(0.0)),
    "noise-floor": Key(bool, False, "also train a second reference per seed (another initialisation and client "
                                    "sampling): how far two retrainings differ sets each metric's margin"),
    "mia-samples": Key(int, 0, "SalUn's MIA-efficacy: at most this many members and non-members per SVM, the first "
                               "in data-set order (0: all of them, SalUn's protocol)", _at_least(0)),
    "rmia-references": Key(int, 1, "reference federations of the per-example attack (RMIA): retrainings from scratch "
                                   "without the deleted data, other initialisations and client samples, shared by every "
                                   "model of a seed and cached (0: no per-example attack)", _at_least(0)),
    "rmia-offline-a": Key(float, 0.3, "RMIA's offline factor a: Pr(x) = ((1 + a) Pr_OUT(x) + 1 - a) / 2",
                          lambda v: None if 0 <= v <= 1 else "a number in [0, 1]"),
    "rmia-gamma": Key(float, 1.0, "RMIA's gamma: z counts against x where ratio(x) / ratio(z) > gamma", _positive),
    "backdoor-client": Key(int, -1, "client whose data carries a backdoor trigger (-1: none)", _at_least(-1)),
    "backdoor-fraction": Key(float, 0.3, "share of that client's samples that get the trigger", _fraction_open_closed),
    "backdoor-target": Key(int, 0, "label the triggered samples are given", _at_least(0)),
}

DEFAULTS: dict[str, Any] = {name: key.default for name, key in SCHEMA.items()}
LIST_KEYS = ("seeds", "then-forget-classes")  # comma-separated integers (a TOML list in an experiment file)
SYNTHETIC_MAX_BYTES = 4 * 2**30  # a synthetic data set larger than this is a typo, not an experiment


def _coerce(name: str, value: Any) -> Any:
    """Return ``value`` as the key's type, or raise ConfigError (ints are accepted for floats, and for the
    comma-separated lists: ``--run-config "seeds='3'"`` loses its quotes to the shell and reads as 3)."""
    want = SCHEMA[name].type
    if name in LIST_KEYS and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, bool) and want is not bool or not isinstance(value, want):
        raise ConfigError(f"{name} = {value!r}: must be of type {want.__name__}")
    return value


def validate(values: Mapping[str, Any], *, known_methods: Mapping[str, frozenset[str]] | None = None,
             variants: bool = True) -> dict[str, Any]:
    """Check every key and value and return the full configuration (defaults filled in).

    Parameters
    ----------
    values
        Keys to set; missing keys take their defaults.
    known_methods
        Unlearning method name -> request kinds it supports. When given, ``unlearn-methods`` is checked
        against it.
    variants
        Whether to check the variants of ``unlearn-methods`` (``name[key=value,...]``). A client passes
        False: the server checked them with every method's keys loaded, plugins' included, which a client
        process does not load.

    Returns
    -------
    dict
        Every key of :data:`SCHEMA` with its checked value.
    """
    for name in values:
        if name not in SCHEMA:
            raise ConfigError(f"{name}: unknown key; allowed keys: {', '.join(sorted(SCHEMA))}")
    config = dict(DEFAULTS)
    for name, value in values.items():
        config[name] = _coerce(name, value)
    for name, key in SCHEMA.items():
        problem = key.check(config[name]) if key.check else None
        if problem:
            raise ConfigError(f"{name} = {config[name]!r}: must be {problem}")

    if config["dataset"] == "synthetic":
        size = config["synthetic-samples"] * math.prod(int(d) for d in config["synthetic-shape"].split(",")) * 4
        if size > SYNTHETIC_MAX_BYTES:
            raise ConfigError(
                f"synthetic-shape = {config['synthetic-shape']!r}: {config['synthetic-samples']} such samples take "
                f"{size / 2**30:.1f} GiB; at most {SYNTHETIC_MAX_BYTES / 2**30:.0f} GiB are allowed"
            )
    if config["dataset"] == "npz" and not config["data-path"]:
        raise ConfigError("data-path = '': dataset 'npz' needs the path of an .npz file with arrays x and y")
    if config["dataset"] == "idx" and not config["data-path"]:
        raise ConfigError("data-path = '': dataset 'idx' needs a folder of MNIST-format IDX files (train-images, "
                          "train-labels, t10k-images, t10k-labels; gzipped or not)")
    _check_request(values, config)
    if request_kind(config) not in ("class", "sequential"):
        config["forget-class"] = -1  # the resolved configuration names one request only
    if not variants:
        return config
    methods = [base for _, base, _ in method_variants(config)]  # raises ConfigError on a malformed variant
    if not methods:
        raise ConfigError(f"unlearn-methods = {config['unlearn-methods']!r}: must name at least one method")
    for label, base, overrides in method_variants(config):
        if not overrides:
            continue
        try:
            validate({**values, "unlearn-methods": base, "tuned-methods": "", **overrides})
        except ConfigError as exc:
            raise ConfigError(f"unlearn-methods = {config['unlearn-methods']!r}: variant {label!r}: {exc}") from None
    if known_methods is not None:
        for method in methods:
            if method not in known_methods:
                raise ConfigError(
                    f"unlearn-methods = {config['unlearn-methods']!r}: unknown method {method!r}; "
                    f"allowed: {', '.join(sorted(known_methods))}"
                )
            kind = request_kind(config)
            if kind not in known_methods[method]:
                raise ConfigError(
                    f"unlearn-methods = {config['unlearn-methods']!r}: method {method!r} does not support "
                    f"{kind} requests; it supports: {', '.join(sorted(known_methods[method]))}"
                )
    return config


def _check_request(values: Mapping[str, Any], config: Mapping[str, Any]) -> None:
    """One request kind at a time: a client or sample request excludes an explicit forget-class."""
    kinds = [name for name, on in (("forget-client", config["forget-client"] >= 0),
                                   ("forget-samples", config["forget-samples"] > 0),
                                   ("forget-samples-path", bool(config["forget-samples-path"])),
                                   ("forget-backdoor", config["forget-backdoor"])) if on]
    if len(kinds) >= 2:
        raise ConfigError(f"{' and '.join(f'{k} = {config[k]!r}' for k in kinds)}: one request at a time; "
                          f"keep one of them")
    if kinds and values.get("forget-class", -1) >= 0:
        raise ConfigError(f"forget-class = {config['forget-class']}: cannot be combined with {kinds[0]} "
                          f"(one request at a time); set forget-class = -1")
    if config["forget-backdoor"] and config["backdoor-client"] < 0:
        raise ConfigError("forget-backdoor = true: needs a planted backdoor to forget; set backdoor-client")
    if not kinds and config["forget-class"] < 0:
        raise ConfigError("forget-class = -1: no deletion request; set forget-class, forget-client or forget-samples")
    if config["then-forget-classes"].strip():
        if kinds:
            raise ConfigError(f"then-forget-classes = {config['then-forget-classes']!r}: sequential requests are class "
                              f"requests; cannot be combined with {kinds[0]}")
        if config["forget-class"] in class_sequence(config)[1:]:
            raise ConfigError(f"then-forget-classes = {config['then-forget-classes']!r}: must not repeat forget-class "
                              f"({config['forget-class']}); each request forgets another class")


def seed_list(config: Mapping[str, Any]) -> list[int]:
    """The seeds to run: those of ``seeds`` in order, else ``[seed]``."""
    items = [int(i) for i in config["seeds"].split(",") if i.strip()]
    return items or [config["seed"]]


# What a method variant may change: its own budget, local training and method keys, nothing that the
# original model or the reference depends on.
METHOD_KEY_PREFIXES = ["fucrt-", "not-", "tilt-", "ga-", "federaser-", "salun-", "lra-npp-", "l2ul-", "wfnet-",
                       "geniu-"]  # a method's own keys (plugins add theirs)
# The methods that read a prefix's keys where they are not the method named by the prefix itself ("fucrt-": fucrt).
METHOD_KEY_READERS = {"not-": ("not", "not-all", "not-last", "noise", "reinit"), "tilt-": ("head-tilt",),
                      "ga-": ("gradient-ascent",), "wfnet-": ("wf-net",)}


def unread_method_keys(keys, methods) -> set[str]:
    """Those of ``keys`` that are method keys no method of ``methods`` (base names) reads: they cannot change
    what an experiment running only ``methods`` computes."""
    def readers(key: str) -> tuple[str, ...] | None:
        prefix = next((p for p in METHOD_KEY_PREFIXES if key.startswith(p)), None)
        return None if prefix is None else METHOD_KEY_READERS.get(prefix, (prefix[:-1],))
    return {k for k in keys if (owners := readers(k)) is not None and not set(owners) & set(methods)}
SHARED_VARIANT_KEYS = ("unlearn-rounds", "local-epochs", "batch-size", "learning-rate", "momentum", "fraction-train")


def variant_keys() -> tuple[str, ...]:
    """The keys a variant may set: the unlearning budget, local training, and every method's own keys."""
    return (*SHARED_VARIANT_KEYS, *(k for k in SCHEMA if k.startswith(tuple(METHOD_KEY_PREFIXES))))


def is_method_key(name: str) -> bool:
    """Whether ``name`` is one method's own key (no original or reference model depends on it)."""
    return name.startswith(tuple(METHOD_KEY_PREFIXES))


def add_method_keys(method: str, keys: Mapping[str, Key], origin: str) -> None:
    """Register the keys of a method from another package (``UnlearningMethod.config_keys``): each must be
    named ``<method>-...``; they are then validated like every key and may be set in a variant."""
    for name, key in keys.items():
        if not name.startswith(f"{method}-") or not isinstance(key, Key):
            raise ConfigError(f"unlearning method {method!r} of {origin}: its key {name!r} must be named "
                              f"'{method}-...' and described by a fedunlearn.config.Key")
        if name in SCHEMA and SCHEMA[name] is not key:
            raise ConfigError(f"unlearning method {method!r} of {origin}: key {name!r} is defined already")
        SCHEMA[name] = key
        DEFAULTS[name] = key.default
    if keys and f"{method}-" not in METHOD_KEY_PREFIXES:  # a method without keys claims no prefix ("noise-floor")
        METHOD_KEY_PREFIXES.append(f"{method}-")
_VARIANT = re.compile(r"^([A-Za-z0-9_-]+)(?:\[(.*)\])?$")


def method_variants(config: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, method, config overrides) for each entry of ``unlearn-methods``, in order.

    ``fucrt[fucrt-lambda-local=0;fucrt-temperature=0.1]`` runs ``fucrt`` with those two keys changed
    and is reported under that label: variants of one experiment share its original and reference. A method named in
    ``tuned-methods`` runs with the settings given there, under its own label, except where its entry sets a key.
    """
    tuned = {base: overrides for _, base, overrides in _parse_methods(config.get("tuned-methods", ""), "tuned-methods")}
    variants = [(label, base, {**tuned.get(base, {}), **overrides})
                for label, base, overrides in _parse_methods(config["unlearn-methods"], "unlearn-methods")]
    labels = [label for label, _, _ in variants]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"unlearn-methods = {config['unlearn-methods']!r}: names a method twice")
    return variants


def _parse_methods(text: str, key: str) -> list[tuple[str, str, dict[str, Any]]]:
    entries = [e.strip() for e in re.split(r",(?![^\[]*\])", text) if e.strip()]
    variants = []
    for entry in entries:
        match = _VARIANT.match(entry)
        if not match:
            raise ConfigError(f"{key} = {text!r}: {entry!r} is not of the form name or name[key=value;...]")
        overrides = parse_run_config(" ".join(p.strip() for p in (match.group(2) or "").split(";") if p.strip()))
        allowed = variant_keys()
        shared = sorted(set(overrides) - set(allowed))
        if shared:
            raise ConfigError(
                f"{key} = {text!r}: a variant cannot set {', '.join(shared)} (shared by every model of the "
                f"experiment); it may set: {', '.join(allowed)}"
            )
        variants.append((entry, match.group(1), overrides))
    return variants


def method_names(config: Mapping[str, Any]) -> list[str]:
    """The labels of the entries of ``unlearn-methods``, in order."""
    return [label for label, _, _ in method_variants(config)]


def request_kind(config: Mapping[str, Any]) -> str:
    """The kind of deletion request the configuration makes: ``client``, ``sample``, ``class`` or
    ``sequential`` (class requests one after another: ``forget-class`` then ``then-forget-classes``)."""
    if config["forget-client"] >= 0:
        return "client"
    if config["forget-samples"] > 0 or config["forget-samples-path"] or config.get("forget-backdoor"):
        return "sample"
    return "sequential" if config.get("then-forget-classes", "").strip() else "class"


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """The tables of a TOML file; a missing or malformed file is a ConfigError naming ``what`` it is."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {str(path)!r}: no such file")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {str(path)!r}: not valid TOML ({exc})") from None


def load_experiment_file(path: str | Path) -> dict[str, Any]:
    """Read the keys of an experiment TOML file (flat ``key = value`` pairs)."""
    path = Path(path)
    values = read_toml(path, "experiment file")
    for name, value in values.items():
        if isinstance(value, dict):
            raise ConfigError(f"{name}: tables are not allowed in an experiment file; use flat 'key = value' pairs")
    for key in LIST_KEYS:  # Flower run configs hold no lists: keep them as text
        if isinstance(values.get(key), list):
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in values[key]):
                raise ConfigError(f"{key} = {values[key]!r}: must be a list of integers")
            values[key] = ",".join(str(v) for v in values[key])
    values.setdefault("name", path.stem)
    return values


def parse_run_config(text: str) -> dict[str, Any]:
    """Parse ``--run-config "key=value key2=value2"`` as Flower does: values are TOML literals.

    A value that is not a TOML literal (an unquoted word such as ``iid``) is taken as a string.
    """
    values: dict[str, Any] = {}
    try:
        items = shlex.split(text)
    except ValueError as exc:
        raise ConfigError(f"--run-config {text!r}: cannot be split into key=value pairs ({exc})") from None
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--run-config {item!r}: must be of the form key=value")
        try:
            values[name] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            values[name] = raw
    return values
