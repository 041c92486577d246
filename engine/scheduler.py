"""One process-wide line for heavy work: at most N jobs run at once, the others wait their turn (FIFO).

A class shares one server process. Without a bound, every Train click starts a thread that competes for the
same cores, and twenty of them make every step (and the server's own replies) many times slower. Here each
heavy job asks the scheduler for a place: while fewer than `max_jobs` run it starts at once, otherwise it
waits in line and the page shows where ("waiting: 3rd in line"); the next in line starts as soon as a job
ends. One browser (the job's `owner`, its token) may have at most `session_jobs` jobs running or waiting;
one more is refused with `TooManyJobs`, which says so.

Threads: torch's intra-op thread pool is process-global (`torch.set_num_threads`), shared by every job of
the process; `share_threads` sets it once, at start, to the per-job share, so `max_jobs` jobs stepping at
once use about `max_jobs × threads` cores. Defaults: one job per core but one (that core serves the pages:
Streamlit's script runs, the websocket traffic), one thread each; on a 2-core machine, one job at a time.

A `Run` joins the line through `queue_run`: it starts (or resumes, if paused) when admitted, and gives its
place back when it ends or pauses. Nothing here knows about Streamlit.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from engine.errors import LabError, Text
from engine.run import FAILED, FINISHED, PAUSED, STOPPED, Run
from engine.schema import Settings, setting

WAITING, ADMITTED, DONE = "waiting", "running", "done"
ENVIRONMENT = {"max_jobs": "ENERGY_LAB_MAX_JOBS", "session_jobs": "ENERGY_LAB_SESSION_JOBS",
               "threads": "ENERGY_LAB_THREADS", "grace_s": "ENERGY_LAB_SESSION_GRACE_S",
               "class_code": "ENERGY_LAB_CLASS_CODE", "job_memory_mb": "ENERGY_LAB_JOB_MEMORY_MB"}
_LOG = logging.getLogger(__name__)


@dataclass
class ServeSettings(Settings):
    """How one server shares its machine; read from the environment (`ENVIRONMENT`) when it starts."""

    experiment: ClassVar[str] = "serve"
    environment: ClassVar[Mapping[str, str]] = ENVIRONMENT

    max_jobs: int | None = setting(None, ge=1, le=256, none="one per core but one", label="Jobs at once",
                                   help="heavy jobs that run at once; the others wait in line", cli=False)
    session_jobs: int = setting(4, ge=1, le=64, label="Jobs per browser",
                                help="jobs one browser may have running or waiting at once", cli=False)
    threads: int | None = setting(None, ge=1, le=256, none="the cores but one, shared out among the jobs",
                                  label="Threads per job", help="torch threads (process-wide: every job's share)",
                                  cli=False)
    grace_s: float = setting(600.0, ge=1.0, le=86_400.0, label="Grace period (s)",
                             help="how long a browser's runs outlive its last connection", cli=False)
    job_memory_mb: int | None = setting(None, ge=64, le=16_777_216,
                                        none="the available memory shared among the jobs at once",
                                        label="Memory per job (MB)",
                                        help="the most one image-model job may use (CUDA: at most the free memory); "
                                             "larger settings are refused with what would fit", cli=False)
    class_code: str | None = setting(None, pattern=r"[A-Za-z0-9_-]{4,64}", none="none: anyone with the link trains",
                                     label="Class code",
                                     help="the code the lecturer hands out; without it a browser can look but not "
                                          "train", cli=False)


    def jobs(self, cores: int | None = None) -> int:
        """ENERGY_LAB_MAX_JOBS, else one per core but one — and, on a GPU, no more than its free memory holds
        at the memory one job may take (ENERGY_LAB_JOB_MEMORY_MB, default GPU_JOB_MB)."""
        cores = cores or os.cpu_count() or 2
        if self.max_jobs:
            return self.max_jobs
        by_cores, by_gpu = max(1, cores - 1), gpu_jobs()
        return by_cores if by_gpu is None else max(1, min(by_cores, by_gpu))

    def threads_per_job(self, cores: int | None = None) -> int:
        cores = cores or os.cpu_count() or 2
        return self.threads or max(1, (cores - 1) // self.jobs(cores))


GPU_JOB_MB = 4096  # what one image-model job is given on a GPU when ENERGY_LAB_JOB_MEMORY_MB is unset


def gpu_jobs() -> int | None:
    """How many jobs the GPU's free memory holds (None without CUDA)."""
    if not torch.cuda.is_available():
        return None
    free, _ = torch.cuda.mem_get_info()
    per_job = (ServeSettings.from_environ().job_memory_mb or GPU_JOB_MB) * 2**20
    return int(free // per_job)


class TooManyJobs(LabError):
    """One browser asked for more jobs than it may have running or waiting."""

    kind = "busy"


@dataclass(eq=False)
class Job:
    """One place in the line: waiting, running (admitted) or done."""

    owner: str
    name: str
    start: Callable[[Job], object] | None  # called with the job once it is admitted; dropped after
    scheduler: Scheduler = field(repr=False)
    submitted: float
    admitted: float | None = None
    ended: float | None = None
    error: BaseException | None = field(default=None, repr=False)

    @property
    def state(self) -> str:
        return DONE if self.ended is not None else ADMITTED if self.admitted is not None else WAITING

    def release(self) -> None:
        self.scheduler.release(self)

    def position(self) -> int:
        return self.scheduler.position(self)


class Scheduler:
    """At most `max_jobs` jobs admitted at once; the rest wait first come, first served."""

    def __init__(self, max_jobs: int, session_jobs: int, *, clock: Callable[[], float] = time.monotonic,
                 waits_kept: int = 10_000) -> None:
        if max_jobs < 1 or session_jobs < 1:
            raise ValueError("max_jobs and session_jobs must be at least 1")
        self.max_jobs, self.session_jobs, self._clock = max_jobs, session_jobs, clock
        self._lock = threading.Lock()
        self._running: list[Job] = []
        self._line: deque[Job] = deque()
        self.waits: deque[float] = deque(maxlen=waits_kept)  # seconds each admitted job waited, newest last

    def submit(self, owner: str, start: Callable[[Job], object], name: str = "job") -> Job:
        """Queue `start` for `owner`; `start(job)` is called (here, or by whoever frees a place) once admitted."""
        with self._lock:
            held = sum(j.owner == owner for j in (*self._running, *self._line))
            if held >= self.session_jobs:
                raise TooManyJobs.of(Text(
                    "errors.too_many_jobs", "This browser already has {held} jobs running or waiting, the most one "
                    "browser may have ({variable} = {most}): stop or pause one, or let one finish, then press again.",
                    held=held, variable=ENVIRONMENT["session_jobs"], most=self.session_jobs),
                    setting=ENVIRONMENT["session_jobs"])
            job = Job(owner, name, start, self, self._clock())
            self._line.append(job)
            ready = self._admit()
        self._start(ready)
        if job.error is not None:
            raise job.error
        return job

    def release(self, job: Job) -> None:
        """The job ended (or left the line): its place goes to the next in line. Idempotent."""
        with self._lock:
            if job in self._running:
                self._running.remove(job)
            elif job in self._line:
                self._line.remove(job)
            else:
                return
            job.ended, job.start = self._clock(), None  # what it would have started can be freed
            ready = self._admit()
        self._start(ready)

    def position(self, job: Job) -> int:
        """1 for the next in line, 2 for the one after…; 0 once admitted (or done)."""
        with self._lock:
            return next((i for i, j in enumerate(self._line, 1) if j is job), 0)

    def status(self) -> dict[str, float | int]:
        with self._lock:
            waits = sorted(self.waits)
            return {"running": len(self._running), "waiting": len(self._line), "max_jobs": self.max_jobs,
                    "admitted": len(waits), "max_wait_s": round(waits[-1], 3) if waits else 0.0,
                    "median_wait_s": round(waits[len(waits) // 2], 3) if waits else 0.0}

    def _admit(self) -> list[Job]:
        ready = []
        while self._line and len(self._running) < self.max_jobs:
            job = self._line.popleft()
            job.admitted = self._clock()
            self.waits.append(job.admitted - job.submitted)
            self._running.append(job)
            ready.append(job)
        return ready

    def _start(self, jobs: list[Job]) -> None:
        # outside the lock: a start may submit or release (a run that ends at once)
        for job in jobs:
            start, job.start = job.start, None
            try:
                if start is not None:
                    start(job)
            except Exception as exc:  # a job that cannot start gives its place back at once
                job.error = exc
                _LOG.warning("job %s of %s could not start: %s", job.name, job.owner, exc)
                self.release(job)


# ---- runs in the line ----------------------------------------------------------------------------
_JOBS: weakref.WeakKeyDictionary[Run, Job] = weakref.WeakKeyDictionary()  # a run → its latest place
_WATCHED: weakref.WeakSet[Run] = weakref.WeakSet()


def job_of(run: Run) -> Job | None:
    """The run's place in the line while it waits or runs; None otherwise."""
    job = _JOBS.get(run)
    return job if job is not None and job.state != DONE else None


def queue_run(run: Run, owner: str, scheduler: Scheduler | None = None) -> Job:
    """Start `run` — or resume it, if its thread is alive and paused — once the scheduler admits it.

    Its place is given back when it ends, when it pauses, or by `release_run` (Reset, Stop, a closed browser).
    A run already waiting or running keeps its place. Raises TooManyJobs when the owner has too many.
    """
    sched = scheduler or default_scheduler()
    current = job_of(run)
    if current is not None:
        return current
    if run not in _WATCHED:
        _WATCHED.add(run)
        run.add_callback("on_end", release_run)
        run.add_callback("on_step", _release_if_paused)

    def begin(job: Job) -> None:
        _JOBS[run] = job  # before it starts: a run that ends at once finds its place to give back
        if run.state in (STOPPED, FAILED, FINISHED):  # stopped while it waited: nothing to start
            job.release()
        elif run.alive:
            run.resume()
        else:
            run.start()

    job = sched.submit(owner, begin, name=run.name)
    _JOBS[run] = job
    return job


def release_run(run: Run) -> None:
    """Give back the run's place (waiting or running), if it has one."""
    job = _JOBS.get(run)
    if job is not None:
        job.release()


def _release_if_paused(run: Run) -> None:
    if run.state == PAUSED and job_of(run) is not None:
        release_run(run)


# ---- the process-wide scheduler ------------------------------------------------------------------
_DEFAULT: Scheduler | None = None
_DEFAULT_LOCK = threading.Lock()


def default_scheduler(settings: ServeSettings | None = None) -> Scheduler:
    """The process's scheduler, built once from the environment (ServeSettings.from_environ)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            s = settings or ServeSettings.from_environ()
            _DEFAULT = Scheduler(s.jobs(), s.session_jobs)
        return _DEFAULT


def share_threads(settings: ServeSettings | None = None) -> int:
    """Set torch's process-wide intra-op pool to the per-job share, once; returns that share."""
    n = getattr(share_threads, "done", None)
    if n is None:
        n = (settings or ServeSettings.from_environ()).threads_per_job()
        torch.set_num_threads(n)
        share_threads.done = n  # type: ignore[attr-defined]
    return n
