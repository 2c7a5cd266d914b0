"""Parallel simulation workers: a VecEnv of adversary environments, one process each.

PPO drives the VecEnv through SB3 as usual; the other searchers and the control run
send explicit episode batches through `env_method`, which SB3 dispatches to every
worker before collecting the answers, so the batch runs in parallel.
"""
from __future__ import annotations

import functools
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from copy import deepcopy
from typing import Iterable

import numpy as np

from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from robofail_ros.adversary_env import AdversaryEnv, EpisodeJob
from robofail_ros.config import STEPPING_SEARCHERS, AuditConfig
from robofail_ros.episode import EpisodeRecord


def make_vec_env(config: AuditConfig, completed: Iterable[EpisodeRecord] = (), run_tag: str = "r0") -> VecEnv:
    """One AdversaryEnv per worker; each gets the logged episodes it may re-use on resume."""
    completed = list(completed)
    n = config.workers
    fns = [
        functools.partial(
            AdversaryEnv if n == 1 else _worker_process_env, config=config, worker=w, n_workers=n, run_tag=run_tag,
            completed=[r for r in completed if r.worker == f"w{w}" and r.searcher in STEPPING_SEARCHERS],
        )
        for w in range(n)
    ]
    if n == 1:
        return DummyVecEnv(fns)
    return _start_worker_processes(fns)


def _start_worker_processes(fns: list) -> SubprocVecEnv:
    """SubprocVecEnv(fns), stoppable by Ctrl-C at any moment of its start (seconds: each worker imports and builds
    a simulation) without a traceback from any process, the workers already started ended by `abandon`.

    A Ctrl-C inside a process start is held until the starts are done: cut short between connecting to the fork
    server and handing it the new worker's pipes, the start killed the fork server (EOFError traceback). Held,
    it is raised once the constructor returns; a second Ctrl-C while it waits for the workers is raised at once.
    """
    _start_forkserver_deaf_to_ctrl_c()
    vec_env = SubprocVecEnv.__new__(SubprocVecEnv)  # built in two steps, so `abandon` can reach what it started
    held: list[int] = []

    def hold_while_starting(signum, frame) -> None:
        if len(getattr(vec_env, "processes", ())) < len(fns):
            held.append(signum)
        else:
            raise KeyboardInterrupt

    hold = (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler)  # else SIGINT is not ours to take
    try:
        previous = signal.signal(signal.SIGINT, hold_while_starting) if hold else None
        try:
            vec_env.__init__(fns, start_method="forkserver")
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        if held:
            raise KeyboardInterrupt
    except BaseException:
        abandon(vec_env)
        raise
    return vec_env


def _start_forkserver_deaf_to_ctrl_c() -> None:
    """Start multiprocessing's fork server, unless it runs already, with SIGINT blocked.

    Ctrl-C reaches the whole process group. A worker ignores SIGINT only once `_worker_process_env` runs, after
    seconds of imports, so a Ctrl-C before that killed it with a traceback (and the fork server, in its own
    first tenth of a second). Blocked here, SIGINT stays blocked in the fork server and in every worker it forks,
    from their first instruction. This process unblocks it at once: a Ctrl-C meanwhile is raised right after.
    """
    from multiprocessing import forkserver, resource_tracker

    resource_tracker.ensure_running()  # first: starting it unblocks SIGINT again (bpo-33613), undoing ours
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _worker_process_env(**kwargs) -> AdversaryEnv:
    """A worker process's environment. Ctrl-C reaches the whole process group, but stopping is the parent's
    job (it writes the report, then ends the workers with `abandon`): a worker that took SIGINT itself died
    mid-step with a traceback. (SIGINT is blocked in workers already, see `_start_forkserver_deaf_to_ctrl_c`;
    ignoring it here too covers a fork server that something else started.)"""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return AdversaryEnv(**kwargs)


def abandon(vec_env: VecEnv) -> None:
    """Close a VecEnv whose audit was interrupted, without waiting for the episodes still running in it (a
    worker process may have a whole batch left): worker processes are terminated, local environments closed.
    A SubprocVecEnv whose constructor was interrupted has only the processes it had started."""
    if isinstance(vec_env, SubprocVecEnv):
        processes = getattr(vec_env, "processes", [])
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=5)
        for remote in (*getattr(vec_env, "remotes", ()), *getattr(vec_env, "work_remotes", ())):
            remote.close()
        vec_env.closed = True
    else:
        vec_env.close()


def run_batch(vec_env: VecEnv, jobs: list[EpisodeJob]) -> list[EpisodeRecord]:
    """Run `jobs` spread round-robin over the workers, in parallel; returns records in job order."""
    if not jobs:
        return []
    n = vec_env.num_envs
    by_worker = {w: jobs[w::n] for w in range(n)}
    results = vec_env.env_method("run_jobs", by_worker)
    records: list[EpisodeRecord | None] = [None] * len(jobs)
    for w, worker_results in enumerate(results):
        for i, d in enumerate(worker_results):
            records[w + i * n] = EpisodeRecord.from_json(d)
    return [r for r in records if r is not None]


class ThreadedVecEnv(DummyVecEnv):
    """A VecEnv whose sub-environments step concurrently in threads of this process.

    For environments whose episodes run elsewhere (simulator nodes on the ROS graph): each
    step mostly waits on the network, so threads give real parallelism without new processes.
    """

    def __init__(self, env_fns) -> None:
        super().__init__(env_fns)
        self._threads = ThreadPoolExecutor(max_workers=max(1, len(self.envs)), thread_name_prefix="vecenv")

    def _step_one(self, env_idx: int) -> None:
        obs, self.buf_rews[env_idx], terminated, truncated, self.buf_infos[env_idx] = self.envs[env_idx].step(
            self.actions[env_idx])
        self.buf_dones[env_idx] = terminated or truncated
        self.buf_infos[env_idx]["TimeLimit.truncated"] = truncated and not terminated
        if self.buf_dones[env_idx]:
            self.buf_infos[env_idx]["terminal_observation"] = obs
            obs, self.reset_infos[env_idx] = self.envs[env_idx].reset()
        self._save_obs(env_idx, obs)

    def step_wait(self):
        for future in [self._threads.submit(self._step_one, i) for i in range(self.num_envs)]:
            future.result()
        return self._obs_from_buf(), np.copy(self.buf_rews), np.copy(self.buf_dones), deepcopy(self.buf_infos)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list:
        targets = self._get_target_envs(indices)
        futures = [self._threads.submit(env.get_wrapper_attr(method_name), *method_args, **method_kwargs)
                   for env in targets]
        return [f.result() for f in futures]

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        super().close()
