"""A fork server for the hardening tests: imports torch and seal-desk once, then runs each job in a forked child.

Started by `hardening_helpers.Runner` (`python runner.py`), it reads one JSON line per request on stdin: a list
of jobs, forked together and waited for; it answers one JSON line with each child's exit code (negative: the
signal that ended it, -9 for SIGKILL). A job is `{"argv": [...], "hook": "python code", "stdout": path,
"stderr": path}`: the child sends its output to those files, runs `hook` (which patches a kill point in with
`die_on` or `before`) and then `seal_desk.cli.main.main(argv)`. Nothing runs torch before the fork, so the
children start clean and in milliseconds instead of the seconds an import of torch takes.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import traceback


def resolve(target: str):
    """(owner, attribute) of a dotted name such as `seal_desk.engine.evaluate` or `pkg.mod.Class.method`."""
    parts = target.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:-1]:
            owner = getattr(owner, name)
        return owner, parts[-1]
    raise ImportError(target)


def before(target: str, action, nth: int = 1, when=None) -> None:
    """Run `action()` when `target` is called for the nth time (counting calls `when(*args)` accepts)."""
    owner, name = resolve(target)
    original = getattr(owner, name)
    calls = [0]

    def wrapper(*args, **kwargs):
        if when is None or when(*args, **kwargs):
            calls[0] += 1
            if calls[0] == nth:
                action()
        return original(*args, **kwargs)

    setattr(owner, name, wrapper)


def kill() -> None:
    """kill -9 of this process: no finally blocks, no atexit, no flush."""
    os.kill(os.getpid(), signal.SIGKILL)


def die_on(target: str, nth: int = 1, when=None) -> None:
    """kill -9 this process as `target` is entered for the nth time."""
    before(target, kill, nth, when)


def child(job: dict) -> None:
    for fd, key in ((1, "stdout"), (2, "stderr")):
        out = os.open(job[key], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(out, fd)
        os.close(out)
    code = 99
    try:
        exec(job.get("hook") or "", {"before": before, "die_on": die_on, "kill": kill})
        from seal_desk.cli.main import main

        code = main(job["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    import torch

    torch.set_num_threads(1)  # before the fork; no torch op runs in this process
    for module in (
        "seal_desk.cli.main",
        "seal_desk.cli.learn",
        "seal_desk.cli.update",
        "seal_desk.cli.outer_loop",
        "seal_desk.engine",
        "seal_desk.restem.start",
        "seal_desk.continual.update",
        "seal_desk.continual.strategies",
        "seal_desk.model.loader",
        "seal_desk.model.tiny",
        "transformers.models.llama.modeling_llama",
        "peft",
    ):
        importlib.import_module(module)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        jobs = json.loads(line)
        sys.stdout.flush()
        pids = []
        for job in jobs:
            pid = os.fork()
            if pid == 0:
                child(job)
            pids.append(pid)
        codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
        print(json.dumps(codes), flush=True)


if __name__ == "__main__":
    serve()
