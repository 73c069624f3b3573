"""`--ray local`: the cluster seal-desk starts on this machine (not one a test or a user started)."""

from __future__ import annotations

import os

import pytest

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]


def test_local_workers_run_at_the_driver_s_priority():
    """Ray starts workers at nice 15 by default: beside any other job on the machine they would starve."""
    from seal_desk.restem.cluster import Cluster, ClusterOptions
    from seal_desk.restem.start import ModelCopier

    if ray.is_initialized():
        pytest.skip("a Ray session is already open in this process")
    with Cluster(ClusterOptions("local", 1, None, 1.0), ModelCopier("tiny-random", "cpu")) as cluster:
        cluster.start(wait=True)
        niceness = ray.get(ray.remote(num_cpus=0)(lambda: os.nice(0)).remote())
    assert niceness == os.nice(0)
