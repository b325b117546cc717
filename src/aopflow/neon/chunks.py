"""Decode the chunks of a chunked HDF5 dataset ourselves, in parallel, into preallocated arrays.

HDF5 decompresses chunks one at a time under h5py's global lock, with zlib, and scatters
each value into the destination through its own (slow) selection machinery. When a dataset's
filter pipeline is one this module can reproduce exactly -- ``deflate`` (gzip) and
``shuffle``, in any order, nothing else -- it is much faster to

1. list the chunks once (``DatasetID.chunk_iter``: logical offset, filter mask, file
   address, stored size),
2. read each stored chunk with ``os.pread`` (no h5py lock, so reads run in parallel),
3. undo the filters the chunk's filter mask says were applied (a chunk stored unfiltered,
   e.g. because deflate did not shrink it, is used as it is) -- inflate with libdeflate
   (PyPI ``deflate``; it releases the GIL), unshuffle with numpy,
4. copy the wanted part of the chunk straight into its slice of the caller's output array,

in a thread pool. Each worker holds one decoded chunk at a time, so the memory in flight is
``threads`` chunks. Values are bit-identical to h5py's: the same bytes, the same dtype.

This module knows nothing about NEON: the caller (:mod:`aopflow.neon.reader`) says which
indices of which axes it wants and where they go. Anything else (other filters such as lzf
or fletcher32, contiguous or compact layouts, external storage, non-numeric types) is
refused by :func:`plan`, with the reason, so the caller can use h5py instead.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import deflate
import h5py
import numpy as np

#: HDF5 filter ids this decoder reproduces.
FILTER_DEFLATE = h5py.h5z.FILTER_DEFLATE  # 1
FILTER_SHUFFLE = h5py.h5z.FILTER_SHUFFLE  # 2
_KNOWN = {FILTER_DEFLATE: "deflate", FILTER_SHUFFLE: "shuffle"}

#: Decoded bytes one worker task covers (several small chunks per task keep the per-task
#: overhead of the pool negligible; one big chunk is a task of its own).
_TASK_BYTES = 2 * 2**20


class ChunkDecodeError(RuntimeError):
    """A chunk could not be decoded (corrupt stream, wrong size); the caller falls back."""


@dataclass(frozen=True)
class _Chunk:
    offset: tuple[int, ...]  # logical index of the chunk's first element
    mask: int  # HDF5 filter mask: bit i set = filter i of the pipeline was NOT applied
    addr: int  # absolute file address of the stored bytes (userblock included)
    size: int  # stored bytes


def plan(ds: h5py.Dataset) -> tuple[ChunkReader | None, str]:
    """A :class:`ChunkReader` for ``ds`` if its storage can be decoded exactly, else ``None``.

    Returns ``(reader or None, reason)``; the reason says which pipeline was found (and why it
    was refused) in words fit for a log line.
    """
    dcpl = ds.id.get_create_plist()
    if dcpl.get_layout() != h5py.h5d.CHUNKED or ds.chunks is None:
        return None, "dataset is not chunked"
    if dcpl.get_external_count():
        return None, "dataset uses external storage"
    if ds.dtype.kind not in "iuf" or ds.dtype.hasobject:
        return None, f"dtype {ds.dtype} is not a plain number type"
    if not hasattr(ds.id, "chunk_iter"):
        return None, "h5py/HDF5 lack chunk_iter (need HDF5 >= 1.14)"
    pipeline: list[tuple[int, int]] = []  # (filter id, shuffle element size or 0)
    for i in range(dcpl.get_nfilters()):
        code, _flags, values, name = dcpl.get_filter(i)
        if code not in _KNOWN:
            label = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
            return None, f"filter {label or code!r} (id {code}) is not deflate/shuffle"
        elem = int(values[0]) if code == FILTER_SHUFFLE and values else ds.dtype.itemsize
        pipeline.append((code, elem if code == FILTER_SHUFFLE else 0))
    chunks: dict[tuple[int, ...], _Chunk] = {}

    def visit(info) -> None:
        off = tuple(int(v) for v in info.chunk_offset)
        chunks[off] = _Chunk(off, int(info.filter_mask), int(info.byte_offset), int(info.size))

    if ds.id.get_storage_size():
        ds.id.chunk_iter(visit)
    reader = ChunkReader(ds, tuple(pipeline), chunks)
    if chunks:
        # The file address chunk_iter reports must point at the bytes HDF5 itself returns
        # (it does, userblock included); check one chunk rather than trust it.
        first = next(iter(chunks.values()))
        mask, raw = ds.id.read_direct_chunk(first.offset)
        if mask != first.mask or bytes(raw) != reader.raw(first):
            reader.close()
            return None, "chunk addresses from chunk_iter do not match read_direct_chunk"
    names = "+".join(_KNOWN[c] for c, _ in pipeline) or "no filters"
    return reader, f"{names}, {len(chunks)} chunks of {ds.chunks}"


class ChunkReader:
    """Parallel decoder of one chunked dataset (see module doc). Close it (or use ``with``).

    Build with :func:`plan`. ``read`` fills any array (views of other layouts included) with
    the elements a per-axis selection picks.
    """

    def __init__(self, ds: h5py.Dataset, pipeline, chunks: dict[tuple[int, ...], _Chunk]):
        self.shape = tuple(int(s) for s in ds.shape)
        self.chunk_shape = tuple(int(c) for c in ds.chunks)
        self.dtype = ds.dtype
        self.fillvalue = ds.fillvalue
        self.pipeline = pipeline
        self.chunks = chunks
        self.chunk_nbytes = math.prod(self.chunk_shape) * self.dtype.itemsize
        self._fd = os.open(ds.file.filename, os.O_RDONLY | getattr(os, "O_BINARY", 0))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ChunkReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- one chunk -----------------------------------------------------------------------------
    def raw(self, chunk: _Chunk) -> bytes:
        """The stored (filtered) bytes of a chunk."""
        try:
            buf = os.pread(self._fd, chunk.size, chunk.addr)
        except OSError as exc:
            raise ChunkDecodeError(f"reading chunk {chunk.offset} failed ({exc})") from exc
        if len(buf) != chunk.size:
            raise ChunkDecodeError(f"short read of chunk {chunk.offset}: {len(buf)} of {chunk.size} bytes")
        return buf

    def decode(self, chunk: _Chunk) -> np.ndarray:
        """One chunk as an array of :attr:`chunk_shape` (edge chunks are stored full size)."""
        buf = self.raw(chunk)
        # Filters were applied in pipeline order on write; undo them in reverse.
        for i in range(len(self.pipeline) - 1, -1, -1):
            if chunk.mask & (1 << i):
                continue  # this filter was skipped for this chunk
            code, elem = self.pipeline[i]
            if code == FILTER_DEFLATE:
                try:
                    buf = deflate.zlib_decompress(buf, self.chunk_nbytes)
                except deflate.DeflateError as exc:
                    raise ChunkDecodeError(f"chunk {chunk.offset}: inflate failed ({exc})") from exc
            elif elem > 1:
                buf = _unshuffle(buf, elem)
        if len(buf) != self.chunk_nbytes:
            raise ChunkDecodeError(
                f"chunk {chunk.offset}: {len(buf)} bytes after decoding, expected {self.chunk_nbytes}"
            )
        return np.frombuffer(buf, dtype=self.dtype).reshape(self.chunk_shape)

    # -- a selection ---------------------------------------------------------------------------
    def read(self, out: np.ndarray, sel: Sequence[slice | Sequence[int]], threads: int = 1) -> np.ndarray:
        """Fill ``out`` with ``dataset[sel]`` and return it.

        ``sel`` has one item per axis: a slice with step 1, or strictly increasing indices.
        ``out`` must have the selection's shape in the dataset's axis order; any strides are
        fine (pass ``whole.transpose(...)`` to fill a band-major buffer). Only chunks that
        hold selected elements are read, each once; ``threads`` workers decode them.
        """
        axes = [_axis_selection(s, n) for s, n in zip(sel, self.shape, strict=True)]
        want = tuple(a.size for a in axes)
        if out.shape != want:
            raise ValueError(f"output shape {out.shape} does not match the selection {want}")
        if out.dtype != self.dtype:
            raise ValueError(f"output dtype {out.dtype} is not the dataset's {self.dtype}")
        if 0 in want:
            return out
        # Per axis: the chunk positions touched, and for each the slice of `out` it fills and
        # the chunk-local indices (a slice when they are a run, else an index array).
        per_axis = [_axis_parts(a, c) for a, c in zip(axes, self.chunk_shape)]
        tasks: list[list[tuple[tuple[int, ...], tuple, tuple]]] = [[]]
        per_task = max(1, _TASK_BYTES // max(self.chunk_nbytes, 1))
        for combo in np.ndindex(*(len(p) for p in per_axis)):
            parts = [per_axis[ax][k] for ax, k in enumerate(combo)]
            offset = tuple(p[0] for p in parts)
            dest = tuple(p[1] for p in parts)
            src = _source_index([p[2] for p in parts])
            if len(tasks[-1]) >= per_task:
                tasks.append([])
            tasks[-1].append((offset, dest, src))

        def run(items) -> None:
            for offset, dest, src in items:
                chunk = self.chunks.get(offset)
                if chunk is None:  # never written: HDF5 returns the fill value
                    out[dest] = self.fillvalue
                else:
                    out[dest] = self.decode(chunk)[src]

        if threads <= 1 or len(tasks) == 1:
            for t in tasks:
                run(t)
        else:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                # list() re-raises the first worker error; each worker holds one chunk.
                list(pool.map(run, tasks))
        return out


def _unshuffle(buf, elem: int) -> bytes:
    """Inverse of HDF5's shuffle filter: byte planes back to elements (a trailing remainder
    of ``len % elem`` bytes is stored as is)."""
    a = np.frombuffer(buf, dtype=np.uint8)
    n = a.size // elem
    body = a[: n * elem].reshape(elem, n).T.tobytes()
    return body + bytes(a[n * elem :]) if a.size % elem else body


def _axis_selection(s, n: int) -> np.ndarray:
    if isinstance(s, slice):
        start, stop, step = s.indices(n)
        if step != 1:
            raise ValueError("only step-1 slices are supported")
        return np.arange(start, max(start, stop))
    idx = np.asarray(s, dtype=np.int64).ravel()
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"index outside 0..{n - 1}")
    if idx.size > 1 and np.any(np.diff(idx) <= 0):
        raise ValueError("indices must be strictly increasing")
    return idx


def _axis_parts(idx: np.ndarray, chunk: int) -> list[tuple[int, slice | int, slice | int | np.ndarray]]:
    """Split sorted indices by chunk: ``(chunk start, out slice, chunk-local indices)``
    (both integers when a chunk holds one selected index)."""
    parts = []
    which = idx // chunk
    bounds = np.flatnonzero(np.diff(which)) + 1
    starts = np.concatenate(([0], bounds))
    stops = np.concatenate((bounds, [idx.size]))
    for a, b in zip(starts.tolist(), stops.tolist()):
        c0 = int(which[a]) * chunk
        local = idx[a:b] - c0
        if b - a == 1:
            # An integer index drops the axis on both sides: numpy copies a (1000, 1000, 1)
            # band into a strided view ~5x slower than the same band as (1000, 1000).
            parts.append((c0, a, int(local[0])))
            continue
        if int(local[-1] - local[0]) == b - a - 1:
            src: slice | np.ndarray = slice(int(local[0]), int(local[-1]) + 1)
        else:
            src = local
        parts.append((c0, slice(a, b), src))
    return parts


def _source_index(items: list) -> tuple:
    """An index into a chunk from per-axis slices/arrays with the outer-product meaning."""
    arrays = [i for i, s in enumerate(items) if isinstance(s, np.ndarray)]
    if len(arrays) <= 1:
        return tuple(items)  # one advanced index keeps its axis in place (integers drop theirs)
    # Several index arrays: an outer product over every axis that is kept (slices become
    # ranges); integers stay scalars, so their axes drop out as in the integer out index.
    kept = [i for i, s in enumerate(items) if not isinstance(s, int)]
    grids = np.ix_(*[np.arange(items[i].start, items[i].stop) if isinstance(items[i], slice) else items[i] for i in kept])
    full = list(items)
    for i, g in zip(kept, grids):
        full[i] = g
    return tuple(full)
