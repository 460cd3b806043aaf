"""repdyn.scheduling.resources and the cost model behind it: known model facts, monotone estimates, GPU keys,
retries."""

from __future__ import annotations

import copy

import pytest
from snakemake.iocontainers import Wildcards

from repdyn import config, plan
from repdyn.models.architectures import model_cost
from repdyn.scheduling import resources
from repdyn.scheduling.jobs import workflow_jobs

PAPER = {
    "device": "cuda",
    "threads": 8,
    "defaults": {
        "data": {"dataset": "cifar10", "label_noise": 0.2},
        "model": {"arch": "preact_resnet18", "width": 64},
        "train": {"epochs": 4000, "segment_epochs": 100},
        "grids": {"cka": {"ranges": [[0, 3999, 1]]}, "drs": {"ranges": [[0, 300, 1], [300, 900, 3], [900, 3995, 5]]}},
        "cka": {"block": 500},
    },
    "experiments": [{"name": "paper"}],
}


def paper_plan(device: str = "cuda", **sections) -> plan.Plan:
    raw = copy.deepcopy(PAPER)
    raw["device"] = device
    for section, values in sections.items():
        raw["defaults"].setdefault(section, {}).update(values)
    return plan.build(config.resolve(raw))


def first_job(p: plan.Plan, rule: str) -> dict[str, str]:
    """Wildcards of the rule's job with the most work (the first full segment / first tile)."""
    jobs = sorted(j for j in workflow_jobs(p) if j.rule == rule)
    return jobs[1].wc if rule in ("train_segment", "extract_segment") and len(jobs) > 1 else jobs[0].wc


def estimate(p: plan.Plan, rule: str, attempt: int = 1) -> dict:
    return resources.rule_resources(rule, p, first_job(p, rule), attempt, p.config.device)


# --------------------------------------------------------------------------- model facts (docs/algorithms.md §4)


def test_model_facts_match_the_spec():
    cifar = {"dataset": "cifar10", "image_size": 32}
    rn18 = model_cost({"arch": "preact_resnet18", "width": 64}, cifar)
    assert rn18.params == 11_171_146 and rn18.flops == pytest.approx(1.111e9, rel=1e-3)
    assert rn18.features() == {
        "conv1": 65536,
        "layer1": 65536,
        "layer2": 32768,
        "layer3": 16384,
        "layer4": 8192,
        "linear": 10,
    }
    assert model_cost({"arch": "preact_resnet18", "width": 16}, cifar).params == 700_762
    rn50 = model_cost({"arch": "resnet50"}, cifar)
    assert rn50.params == 23_520_842 and rn50.flops == pytest.approx(2.596e9)
    assert sum(rn50.features().values()) == 65536 + 262144 + 131072 + 65536 + 32768 + 10
    vit224 = model_cost({"arch": "vit_b_16", "vit_image_size": 224}, cifar)
    vit32 = model_cost({"arch": "vit_b_16", "vit_image_size": 32}, cifar)
    assert vit224.flops == pytest.approx(35.1e9, rel=0.01) and vit32.flops == pytest.approx(0.85e9, rel=0.01)
    assert vit224.params == 85_806_346 and vit224.features()["encoder.layers.encoder_layer_0"] == 151_296
    assert vit32.features()["encoder.layers.encoder_layer_11"] == 3840 and len(vit32.layers) == 14
    assert model_cost({"arch": "preact_resnet18", "width": 64}, cifar).features("avg")["layer4"] == 512


def test_model_cost_rejects_unknown_names():
    with pytest.raises(ValueError, match="model.arch.*'resnet9'"):
        model_cost({"arch": "resnet9"}, {"dataset": "cifar10", "image_size": 32})
    with pytest.raises(ValueError, match="data.dataset.*'mnist'"):
        model_cost({"arch": "resnet50"}, {"dataset": "mnist", "image_size": 32})


# --------------------------------------------------------------------------- estimates


def test_training_estimate_grows_with_width_and_segment_length():
    narrow, wide = paper_plan(model={"width": 32}), paper_plan(model={"width": 64})
    assert estimate(wide, "train_segment")["runtime"] > estimate(narrow, "train_segment")["runtime"]
    assert estimate(wide, "train_segment")["mem_mb"] > estimate(narrow, "train_segment")["mem_mb"]
    short, long_ = paper_plan(train={"segment_epochs": 50}), paper_plan(train={"segment_epochs": 200})
    assert estimate(long_, "train_segment")["runtime"] > 2 * estimate(short, "train_segment")["runtime"] - 10
    # paper scale is well above the floors: ~13 s per epoch on a GPU, a 100-epoch job under an hour
    assert 20 < estimate(wide, "train_segment")["runtime"] < 90


def test_tile_memory_follows_the_block_size():
    small, big = paper_plan(cka={"block": 250}), paper_plan(cka={"block": 2000})
    small_mb, big_mb = estimate(small, "cka_tile")["mem_mb"], estimate(big, "cka_tile")["mem_mb"]

    # the first tile is a diagonal one: three panels of one probe batch's float32 Gram vectors of its block,
    # 3 x block x D/4 x 4 bytes with D = 4 x 512 x 513 / 2, plus the float64 tile (twice) and up to four float64
    # column chunks of 8192 (repdyn.cka.panels, repdyn.cka.tiles)
    def held(block: int) -> float:
        return 3 * block * (512 * 513 / 2) * 4 + 2 * block**2 * 8 + 4 * block * 8192 * 8

    assert big_mb - small_mb == pytest.approx(resources.MEM_SAFETY * (held(2000) - held(250)) / 1e6, abs=200)
    # runtime too, once a tile is past the request's floor (resources.RUNTIME_FLOOR_MIN)
    largest = paper_plan(cka={"block": 4001})
    assert estimate(largest, "cka_tile")["runtime"] > estimate(small, "cka_tile")["runtime"]
    assert estimate(small, "cka_tile")["runtime"] == resources.RUNTIME_FLOOR_MIN


def test_gpu_keys_only_for_gpu_rules_on_cuda(monkeypatch):
    monkeypatch.delenv(resources.ENV_GPU_MODEL, raising=False)
    monkeypatch.delenv(resources.ENV_GPU_PARTITION, raising=False)
    cuda, cpu, auto = paper_plan("cuda"), paper_plan("cpu"), paper_plan("auto")
    for rule in resources.CLUSTER_RULES:
        on_cuda = estimate(cuda, rule)
        if rule in resources.GPU_RULES:
            assert on_cuda["gpu"] == 1 and on_cuda["cpus_per_gpu"] == 8 and on_cuda["slurm_partition"] == "gpu"
        else:
            assert set(on_cuda) == {"runtime", "mem_mb"}, rule
        for p in (cpu, auto):
            assert set(estimate(p, rule)) == {"runtime", "mem_mb"}, rule
    monkeypatch.setenv(resources.ENV_GPU_MODEL, "a100")
    monkeypatch.setenv(resources.ENV_GPU_PARTITION, "gpu-long")
    got = estimate(cuda, "planes_eval")
    assert got["gpu_model"] == "a100" and got["slurm_partition"] == "gpu-long"
    assert "gpu_model" not in estimate(cpu, "planes_eval")


def test_cpu_runs_of_gpu_rules_take_longer_and_hold_activations():
    cuda, cpu = paper_plan("cuda"), paper_plan("cpu")
    assert estimate(cpu, "train_segment")["runtime"] > 20 * estimate(cuda, "train_segment")["runtime"]
    # on the CPU the backward pass keeps ~10 floats per analysed-layer float of a batch of 128 in host memory,
    # on a GPU the host holds a CUDA context instead
    activations = 10 * 128 * 188_426 * 4 / 1e6
    difference = estimate(cpu, "train_segment")["mem_mb"] - estimate(cuda, "train_segment")["mem_mb"]
    assert difference == pytest.approx(resources.MEM_SAFETY * (activations - resources.CUDA_HOST_MB), abs=200)


def test_retries_ask_for_more():
    p = paper_plan()
    for rule in ("train_segment", "cka_tile", "probe_segment"):
        first, second, third = (estimate(p, rule, attempt) for attempt in (1, 2, 3))
        for key in ("runtime", "mem_mb"):
            assert second[key] >= resources.RETRY_GROWTH * first[key] - 100 and second[key] > first[key]
            assert third[key] > second[key]


def test_probe_memory_is_capped_by_the_feature_budget():
    small, big = paper_plan(probe={"memory_budget_mb": 2048}), paper_plan(probe={"memory_budget_mb": 65536})
    # k = 64 features of the training set: 50,000 x 188,426 x 4 bytes = 37.7 GB, all of it in RAM under 64 GiB
    assert estimate(big, "probe_segment")["mem_mb"] - estimate(small, "probe_segment")["mem_mb"] == pytest.approx(
        resources.MEM_SAFETY * (50000 * 188426 * 4 / 1e6 - 2048e6 / 1e6), rel=0.01
    )
    assert estimate(small, "probe_segment")["runtime"] > estimate(big, "probe_segment")["runtime"]  # streaming


def test_for_rule_gives_callables_of_wildcards_and_attempt():
    p = paper_plan()
    wc = first_job(p, "train_segment")
    got = resources.for_rule("train_segment", p, "cuda")
    assert set(got) == {"runtime", "mem_mb", "gpu", "cpus_per_gpu", "slurm_partition"}
    snake_wc = Wildcards(fromdict=wc)
    for attempt in (1, 2):
        expected = resources.rule_resources("train_segment", p, wc, attempt, "cuda")
        assert {k: f(snake_wc, attempt) for k, f in got.items()} == expected
    assert set(resources.for_rule("cka_tile", p, "cuda")) == {"runtime", "mem_mb"}
    assert '**repdyn.scheduling.resources.for_rule("cka_tile", PLAN, CONFIG.device)' in resources.rule_lines("cka_tile")


def test_bad_input_names_what_is_wrong():
    p = paper_plan()
    wc = first_job(p, "train_segment")
    with pytest.raises(ValueError, match="'train'"):
        resources.rule_resources("train", p, wc, 1, "cuda")
    with pytest.raises(ValueError, match="attempt"):
        resources.rule_resources("train_segment", p, wc, 0, "cuda")
    with pytest.raises(ValueError, match="'gpu'"):
        resources.rule_resources("train_segment", p, wc, 1, "gpu")
    with pytest.raises(KeyError, match="000000000000"):
        resources.rule_resources("train_segment", p, {**wc, "run": "000000000000"}, 1, "cuda")
    with pytest.raises(ValueError, match="'index'"):
        resources.for_rule("index", p, "cuda")
