import gzip
import json
import struct

import pytest
import torch

from loco_sw.cli import main
from loco_sw.data import DataError, load_idx, load_mnist
from loco_sw.train import Network, TrainConfig, np_gradients, other_cluster_bases


def test_projected_update_leaves_protected_prototypes_unchanged():
    gen = torch.Generator().manual_seed(0)
    centroids = torch.rand(10, 65, generator=gen, dtype=torch.float64)
    bases = other_cluster_bases(centroids)
    own = 4
    h = torch.rand(8, 65, generator=gen, dtype=torch.float64)
    q = bases[own]
    u = h - (h @ q) @ q.T
    update = torch.randn(32, 8, generator=gen, dtype=torch.float64) @ u     # sum_b e_b u_b^T
    others = torch.cat([centroids[:own], centroids[own + 1:]])
    assert (update @ others.T).abs().max() < 1e-10                          # SGD: exact
    assert (update @ centroids[own]).abs().max() > 1e-3                     # own class learns
    # An element-wise adaptive step (Adam's first step is sign-like) breaks the guarantee.
    adam_like = update / (update.abs() + 1e-8)
    assert (adam_like @ others.T).abs().max() > 0.1


def test_np_estimate_is_unbiased_to_first_order():
    gen = torch.Generator().manual_seed(1)
    net = Network((5, 3), gen)                                              # linear readout
    x = torch.rand(1, 5, generator=gen, dtype=torch.float64)
    target = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    y = torch.cat([x, torch.ones(1, 1, dtype=x.dtype)], 1) @ net.weights[0].T
    true = 2 / 3 * (y - target).T @ torch.cat([x, torch.ones(1, 1, dtype=x.dtype)], 1)
    estimate = sum(np_gradients(net, x.expand(4000, 5), target.expand(4000, 3), 1e-3, gen)[0]
                   for _ in range(10)) / 10
    assert torch.allclose(estimate, true, atol=0.03 * true.abs().max())


@pytest.mark.parametrize("changes, message", [
    ({"rule": "adam"}, r"^Rule must be one of loco, np, bp, not 'adam'$"),
    ({"lr": 0.0}, r"^Lr must be positive, not 0\.0$"),
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


def test_cli_trains_and_writes_run(tmp_path, capsys):
    summary = main(["train", "--rule", "loco", "--epochs", "3", "--runs", str(tmp_path),
                    "--name", "t"])
    metrics = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert (tmp_path / "t" / "learning_curve.png").stat().st_size > 1000
    assert round(metrics["final_test_accuracy"], 4) == summary["final_test_accuracy"] > 0.5


def test_cli_reports_bad_input_cleanly(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", "mnist", "--data-dir", str(tmp_path / "missing")])
    assert exit_info.value.code == 2
    assert "error: MNIST directory" in capsys.readouterr().err
