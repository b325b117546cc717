"""The parallel chunk decoder (aopflow.neon.chunks) and the tile reader on top of it.

Every read is compared element for element with h5py's own read of the same file: generated
tiles of both layouts and revisions, odd sizes with partial edge chunks, band subsets in any
order with repeats, windows, the real fixture, shuffle + deflate, chunks stored unfiltered,
unwritten chunks, and datasets the decoder must refuse (which come back through h5py).
"""

from __future__ import annotations

import logging
import shutil

import deflate
import h5py
import numpy as np
import pytest

from aopflow.demo.aop import write_tile
from aopflow.neon import chunks
from aopflow.neon.reader import NeonTile

from conftest import tiny_spec

READER_LOG = "aopflow.neon.reader"


@pytest.fixture(params=["one task", "task per chunk"])
def task_size(request, monkeypatch):
    """Run each test with the decoder's default task size and with one chunk per task, so
    the thread pool really hands chunks of one read to several workers."""
    if request.param == "task per chunk":
        monkeypatch.setattr(chunks, "_TASK_BYTES", 1)
    return request.param


def _h5py_cube(path) -> np.ndarray:
    """The cube as h5py reads it (the reference)."""
    with h5py.File(path, "r") as f:
        site = next(iter(f))
        return f[site]["Reflectance"]["Reflectance_Data"][()]


def _recreate_cube(src, dst, dtype=None, **create):
    """Copy a tile and store its cube again with other storage options (same values)."""
    shutil.copy(src, dst)
    with h5py.File(dst, "a") as f:
        g = f[next(iter(f))]["Reflectance"]
        data, attrs = g["Reflectance_Data"][()], dict(g["Reflectance_Data"].attrs)
        del g["Reflectance_Data"]
        ds = g.create_dataset("Reflectance_Data", data=data.astype(dtype or data.dtype), **create)
        ds.attrs.update(attrs)
    return dst


def _path_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == READER_LOG and "Reflectance_Data via" in r.getMessage()]


def _check_all_reads(path, threads: int, expect_decoder: bool, caplog) -> None:
    """Whole cube, windows, band subsets (any order, repeats) and blocks equal h5py's."""
    ref = _h5py_cube(path)
    rows, cols, nb = ref.shape
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=READER_LOG), NeonTile(path, threads=threads) as t:
        got = t.read_bands(range(nb))
        assert got.dtype == ref.dtype
        np.testing.assert_array_equal(got, ref)
        subsets = [[nb - 1, 0, 5, 5, nb // 2], [1, 2, 3], [nb - 1], list(range(nb // 3, nb))]
        windows = [(slice(None), slice(None)), (slice(3, rows - 2), slice(cols // 2, cols)), (slice(rows - 1, rows), slice(0, 1))]
        for bands in subsets:
            for win in windows:
                np.testing.assert_array_equal(t.read_bands(bands, window=win), ref[win][:, :, bands])
            for target_mb in (0.01, 0.3, 96):
                blocks = list(t.iter_blocks(bands, target_mb=target_mb))
                assert blocks[0][0].start == 0 and blocks[-1][0].stop == rows
                for sl, blk in blocks:
                    np.testing.assert_array_equal(blk, ref[sl][:, :, bands])
        assert (t._decoder is not None) == expect_decoder
    lines = _path_lines(caplog)
    assert len(lines) == 1, lines  # one line per tile naming the path
    assert ("chunk decoder" in lines[0]) == expect_decoder


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(("revision", "layout"), [("002", "band"), ("001", "legacy"), ("002", "legacy"), ("001", "band")])
def test_generated_tiles_odd_sizes(tmp_path, revision, layout, threads, task_size, caplog):
    # 70 x 70 x 120 with legacy (32, 63, 27) chunks: partial edge chunks on every axis.
    spec = tiny_spec(revision=revision, chunks=layout, shape=(1, 1), pixels=70, pixel_size=10.0)
    path = write_tile(spec, spec.tile_ids()[0], tmp_path)
    with h5py.File(path) as f:
        chunk_shape = f[spec.site]["Reflectance/Reflectance_Data"].chunks
    assert chunk_shape == ((32, 63, 27) if layout == "legacy" else (70, 70, 1))
    _check_all_reads(path, threads, True, caplog)


def test_real_fixture(real_fixture, task_size, caplog):
    # The NEON fixture: (30, 30, 426) int32 in (13, 13, 13) gzip chunks.
    _check_all_reads(real_fixture, 2, True, caplog)


@pytest.mark.parametrize(
    ("dtype", "create"),
    [
        ("int16", {"chunks": (16, 9, 7), "compression": "gzip", "shuffle": True}),
        (">i2", {"chunks": (13, 13, 13), "compression": "gzip", "compression_opts": 9, "shuffle": True}),
        ("uint16", {"chunks": (70, 70, 1), "compression": "gzip", "compression_opts": 1}),
        ("int32", {"chunks": (5, 70, 120), "shuffle": True}),  # shuffle alone
        ("int32", {"chunks": (13, 13, 13)}),  # chunked, no filters
    ],
)
def test_other_chunk_shapes_dtypes_and_shuffle(tmp_path, dtype, create, caplog):
    src = write_tile(tiny_spec(shape=(1, 1), pixels=70, pixel_size=10.0), "500000_4100000", tmp_path / "src")
    path = _recreate_cube(src, tmp_path / src.name, dtype, **create)
    _check_all_reads(path, 2, True, caplog)


@pytest.mark.parametrize(
    ("shuffle", "masks"),
    [(False, [1]), (True, [0b10, 0b11])],  # bit i set = filter i skipped (shuffle is filter 0)
)
def test_chunks_stored_unfiltered(tmp_path, shuffle, masks, caplog):
    src = write_tile(tiny_spec(shape=(1, 1), pixels=70, pixel_size=10.0, chunks="legacy"), "500000_4100000", tmp_path / "src")
    path = _recreate_cube(src, tmp_path / src.name, chunks=(32, 63, 27), compression="gzip", shuffle=shuffle)
    ref = _h5py_cube(path)
    with h5py.File(path, "a") as f:
        ds = f["TEST/Reflectance/Reflectance_Data"]
        for k, mask in enumerate(masks):
            # Chunk k of the first chunk row; the last one is a partial edge chunk (bands 108..).
            off = (0, 0, 27 * (4 if k == len(masks) - 1 else k))
            block = np.zeros(ds.chunks, dtype=ds.dtype)
            part = ref[off[0]:off[0] + 32, off[1]:off[1] + 63, off[2]:off[2] + 27]
            block[: part.shape[0], : part.shape[1], : part.shape[2]] = part + 1  # new values
            ref[off[0]:off[0] + 32, off[1]:off[1] + 63, off[2]:off[2] + 27] = part + 1
            raw = block.tobytes()
            if shuffle and not mask & 1:  # shuffle applied: store byte planes
                raw = np.frombuffer(raw, np.uint8).reshape(-1, ds.dtype.itemsize).T.tobytes()
            ds.id.write_direct_chunk(off, raw, filter_mask=mask)
        stored = {}
        ds.id.chunk_iter(lambda i: stored.__setitem__(i.chunk_offset, i.filter_mask))
        assert sorted(m for m in stored.values() if m) == sorted(masks)
    np.testing.assert_array_equal(_h5py_cube(path), ref)  # h5py agrees with what was written
    _check_all_reads(path, 2, True, caplog)


def test_unwritten_chunks_read_as_fill_value(tmp_path):
    path = tmp_path / "sparse.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("d", shape=(40, 50, 30), dtype="i2", chunks=(16, 16, 8), compression="gzip", fillvalue=-9999)
        ds[0:16, 16:32, 8:16] = 7
        ds[20:40, 0:10, :] = np.arange(20 * 10 * 30, dtype="i2").reshape(20, 10, 30)
    with h5py.File(path) as f:
        ds = f["d"]
        ref = ds[()]
        reader, why = chunks.plan(ds)
    assert reader is not None, why
    with reader:
        out = reader.read(np.empty(ref.shape, ref.dtype), (slice(None),) * 3, threads=2)
        np.testing.assert_array_equal(out, ref)
        # A band-major buffer filled through a transposed view, with a band subset.
        bands = [0, 7, 8, 29]
        whole = np.empty((4, 40, 50), ref.dtype)
        reader.read(whole.transpose(1, 2, 0), (slice(None), slice(None), bands), threads=2)
        np.testing.assert_array_equal(whole, np.moveaxis(ref[:, :, bands], -1, 0))


def test_index_arrays_on_every_axis(tmp_path):
    # The decoder is general: sorted index lists on any axes (the tile reader uses slices for
    # rows and columns); single indices per chunk and runs mixed.
    path = tmp_path / "d.h5"
    data = np.random.default_rng(1).integers(-500, 500, (37, 41, 29)).astype("i4")
    with h5py.File(path, "w") as f:
        f.create_dataset("d", data=data, chunks=(8, 10, 6), compression="gzip", shuffle=True)
    sels = [
        ([0, 3, 4, 9, 36], slice(2, 40), [5, 6, 7, 28]),
        ([1, 2], [0, 10, 11, 40], [3]),
        (slice(None), [7], [0, 1, 2, 13, 27]),
        ([30], [12, 19], slice(4, 9)),
    ]
    with h5py.File(path) as f:
        reader, _ = chunks.plan(f["d"])
    with reader:
        for sel in sels:
            want = data[np.ix_(*[np.arange(n)[s] if isinstance(s, slice) else np.asarray(s) for s, n in zip(sel, data.shape)])]
            got = reader.read(np.empty(want.shape, data.dtype), sel, threads=2)
            np.testing.assert_array_equal(got, want)


def test_only_chunks_holding_the_bands_are_decoded(tmp_path, monkeypatch):
    spec = tiny_spec(shape=(1, 1), pixels=70, pixel_size=10.0, chunks="legacy")
    path = write_tile(spec, spec.tile_ids()[0], tmp_path)
    decoded = []
    real = chunks.ChunkReader.decode

    def counting(self, chunk):
        decoded.append(chunk.offset)
        return real(self, chunk)

    monkeypatch.setattr(chunks.ChunkReader, "decode", counting)
    with NeonTile(path, threads=2) as t:
        got = t.read_bands([30, 2, 31], window=(slice(40, 70), slice(None)))
    np.testing.assert_array_equal(got, _h5py_cube(path)[40:70][:, :, [30, 2, 31]])
    # Rows 40..69 lie in chunk rows 32 and 64; bands 2, 30, 31 in band chunks 0 and 27; both column chunks.
    assert sorted(decoded) == sorted((r, c, b) for r in (32, 64) for c in (0, 63) for b in (0, 27))


@pytest.mark.parametrize(
    ("create", "reason"),
    [
        ({"chunks": (32, 63, 27), "compression": "lzf"}, "lzf"),
        ({"chunks": (32, 63, 27), "compression": "gzip", "fletcher32": True}, "fletcher32"),
        ({}, "not chunked"),  # contiguous
    ],
)
def test_refused_pipelines_fall_back_to_h5py(tmp_path, create, reason, caplog):
    src = write_tile(tiny_spec(shape=(1, 1), pixels=70, pixel_size=10.0), "500000_4100000", tmp_path / "src")
    path = _recreate_cube(src, tmp_path / src.name, **create)
    with h5py.File(path) as f:
        reader, why = chunks.plan(f["TEST/Reflectance/Reflectance_Data"])
    assert reader is None and reason in why
    _check_all_reads(path, 2, False, caplog)
    assert reason in _path_lines(caplog)[0]


def test_failing_decode_falls_back_to_h5py(tmp_path, monkeypatch, caplog):
    spec = tiny_spec(shape=(1, 1), pixels=70, pixel_size=10.0, chunks="legacy")
    path = write_tile(spec, spec.tile_ids()[0], tmp_path)
    ref = _h5py_cube(path)
    with NeonTile(path, threads=2) as t:
        first = t.read_bands([0, 1])  # decoder path
        assert t._decoder is not None

        def broken(data, size):
            raise deflate.DeflateError("simulated corrupt stream")

        # The inflate library fails from now on (as on a stream it cannot decode).
        monkeypatch.setattr(chunks.deflate, "zlib_decompress", broken)
        with caplog.at_level(logging.WARNING, logger=READER_LOG):
            blocks = list(t.iter_blocks(range(spec.bands), target_mb=0.1))
        assert t._decoder is None
    np.testing.assert_array_equal(first, ref[:, :, :2])
    for sl, blk in blocks:
        np.testing.assert_array_equal(blk, ref[sl])
    assert any("chunk decoder failed" in r.getMessage() and "h5py" in r.getMessage() for r in caplog.records)


def test_decoder_can_be_disabled(tmp_path, caplog):
    spec = tiny_spec(shape=(1, 1), pixels=70, pixel_size=10.0)
    path = write_tile(spec, spec.tile_ids()[0], tmp_path)
    with caplog.at_level(logging.INFO, logger=READER_LOG), NeonTile(path, chunk_decoder=False) as t:
        np.testing.assert_array_equal(t.read_bands([4, 1]), _h5py_cube(path)[:, :, [4, 1]])
        assert t._decoder is None
    assert "disabled" in _path_lines(caplog)[0]


def test_selection_errors(tmp_path):
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("d", data=np.zeros((10, 10, 4), "i2"), chunks=(5, 5, 2), compression="gzip")
    with h5py.File(path) as f:
        reader, _ = chunks.plan(f["d"])
    with reader:
        with pytest.raises(ValueError, match="strictly increasing"):
            reader.read(np.empty((10, 10, 2), "i2"), (slice(None), slice(None), [2, 1]))
        with pytest.raises(IndexError):
            reader.read(np.empty((10, 10, 1), "i2"), (slice(None), slice(None), [4]))
        with pytest.raises(ValueError, match="shape"):
            reader.read(np.empty((10, 10, 3), "i2"), (slice(None), slice(None), [0, 1]))
