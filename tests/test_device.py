"""Where training runs and why: threads = physical cores, bf16 on a CPU only where it has bf16 matrix units and a
probe measures it faster; the answer is kept, and a run's log says what was chosen and why."""

from __future__ import annotations

import torch

from core.training import device


def test_hyperthreads_of_one_core_count_once(tmp_path):
    # Two logical CPUs per core on two cores, as /sys describes them (a real file layout in a temporary folder).
    for cpu, core in enumerate([0, 0, 1, 1]):
        folder = tmp_path / f"cpu{cpu}" / "topology"
        folder.mkdir(parents=True)
        (folder / "physical_package_id").write_text("0\n")
        (folder / "core_id").write_text(f"{core}\n")
    assert device.physical_cores({0, 1, 2, 3}, sysfs=tmp_path) == 2
    assert device.physical_cores({0, 1}, sysfs=tmp_path) == 1  # an affinity mask of one core's two threads


def test_this_machine_trains_with_one_thread_per_physical_core(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    setup = device.choose_device("cpu")
    assert torch.get_num_threads() == device.physical_cores()
    assert f"{device.physical_cores()} threads, one per physical core" in setup.why


def test_omp_num_threads_gives_a_run_its_share_of_the_cores(monkeypatch):
    """A worker training two runs at once sets OMP_NUM_THREADS for each; the run must not take every core."""
    before = torch.get_num_threads()
    monkeypatch.setattr(device, "physical_cores", lambda: 4)
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert device.cpu_threads() == (2, "its share of 4 physical cores (OMP_NUM_THREADS)")
        for ignored in ("8", "0", "many"):  # more than the cores, or not a count: one per physical core
            monkeypatch.setenv("OMP_NUM_THREADS", ignored)
            assert device.cpu_threads() == (4, "one per physical core")
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        device.choose_device("cpu")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_cpu_without_bf16_instructions_trains_in_fp32_without_measuring():
    use_bf16, why = device.probe_cpu_precision({"avx2", "fma"})
    assert not use_bf16 and "no bf16 matrix instructions" in why


def test_with_bf16_instructions_the_probe_measures_and_decides(monkeypatch):
    timings = {None: 1.0, torch.bfloat16: 0.25}
    monkeypatch.setattr(device, "_matmul_seconds", lambda dtype: timings[dtype])  # the timing is the machine's, not ours
    assert device.probe_cpu_precision({"amx_bf16"}) == (True, "bf16 autocast: amx_bf16 ran a matmul 4.0x faster than fp32")
    timings[torch.bfloat16] = 0.9
    use_bf16, why = device.probe_cpu_precision({"avx512_bf16"})
    assert not use_bf16 and "only 1.1x faster" in why


def test_the_answer_is_measured_once_and_kept(monkeypatch, tuneboard_home):
    calls = []
    monkeypatch.setattr(device, "probe_cpu_precision", lambda flags: calls.append(1) or (False, "fp32: probed"))
    monkeypatch.delenv(device.PRECISION_ENV, raising=False)
    device.cpu_precision.cache_clear()
    try:
        assert device.cpu_precision() == (False, "fp32: probed")
        device.cpu_precision.cache_clear()  # a new process: reads the kept answer
        assert device.cpu_precision() == (False, "fp32: probed") and calls == [1]
        monkeypatch.setenv(device.PRECISION_ENV, "bf16")
        device.cpu_precision.cache_clear()
        assert device.cpu_precision() == (True, f"bf16: set by {device.PRECISION_ENV}")
        assert device.choose_device("cpu").amp_dtype == torch.bfloat16
    finally:
        device.cpu_precision.cache_clear()
