"""The memory sampler of the benchmarks (bench_overhead.py, bench_scale.py): peak PSS and RSS of a process tree."""

from __future__ import annotations

import threading

import psutil


class PeakMemory:
    """Samples the summed memory of this process and all its descendants every :data:`INTERVAL` seconds: the
    proportional set size (PSS, ``peak``: a page shared by k processes counts 1/k in each, so a data set mapped by
    every Ray worker counts once) and the resident set size (RSS, ``peak_rss``: a shared page counts in every process
    that touched it), and each Ray worker's PSS at the PSS peak (``peak_workers``).

    One sample walks the process table and reads each descendant's memory: about 3 ms of CPU with Ray's
    15 processes, in the measured process itself. Every 20 ms (as this sampler once did) that is 16% of a core
    and contention for the GIL of the server's threads, which slowed Flower's rounds more than the plain loops'.
    """

    INTERVAL = 0.25

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.peak = 0
        self.peak_rss = 0
        self.peak_workers: list[int] = []  # each Ray worker's PSS at the peak
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def kind(proc: psutil.Process) -> str:
        """``worker`` for a Ray worker process (titled ``ray::<actor>`` once it hosts an actor, such as Flower's
        ``ray::ClientAppActor``, or ``ray::IDLE`` in the pool), else ``other`` (the measured command and Ray's own
        processes: GCS, raylet, dashboard and its ``ray::...Agent`` processes)."""
        title = (proc.cmdline() or [""])[0]
        return "worker" if title.startswith("ray::") and not title.endswith("Agent") else "other"

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = resident = 0
            workers: list[int] = []
            for proc in [me, *me.children(recursive=True)]:
                try:
                    info = proc.memory_full_info()
                    pss = getattr(info, "pss", info.rss)  # PSS where the system reports it (Linux)
                    if self.kind(proc) == "worker":
                        workers.append(pss)
                    total += pss
                    resident += info.rss
                except psutil.Error:
                    pass
            if total > self.peak:
                self.peak, self.peak_workers = total, workers
            self.peak_rss = max(self.peak_rss, resident)
            self._stop.wait(self.INTERVAL)

    def __enter__(self) -> "PeakMemory":
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._stop.set()
            self._thread.join()
