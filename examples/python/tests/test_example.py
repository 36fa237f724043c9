"""The row functions of `preallocate_example` from Python, against pure-Python references."""

import _thread
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import preallocate_example as m


def reference_featurize(points):
    """In float32, in the row function's order of operations."""
    p = np.array(points, dtype=np.float32).reshape(-1, 3)
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    norm = np.sqrt(x * x + y * y + z * z)
    return np.column_stack([x, y, z, norm]).astype(np.float32)


POINTS = [(1.0, 2.0, 2.0), (0.0, 0.0, 1.0), (-3.0, 4.0, 0.0)]


def test_batch_matches_the_python_reference():
    x = m.featurize.batch(POINTS)
    assert x.dtype == np.float32 and x.shape == (3, 4)
    assert x.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(x, reference_featurize(POINTS))


def test_the_array_owns_the_rust_buffer_without_a_copy():
    x = m.featurize.batch(POINTS)
    # numpy did not allocate: the memory belongs to the Rust buffer the rows were written into,
    # which the array's base keeps alive.
    assert not x.flags["OWNDATA"]
    assert x.base is not None and not isinstance(x.base, np.ndarray)
    assert x.flags["WRITEABLE"]
    x[0, 0] = 7.0  # the buffer is the array's own
    assert x[0, 0] == 7.0


def test_any_iterable_of_items():
    expected = reference_featurize(POINTS)
    np.testing.assert_array_equal(m.featurize.batch(tuple(POINTS)), expected)
    np.testing.assert_array_equal(m.featurize.batch(p for p in POINTS), expected)
    # numpy scalars convert as Python numbers do.
    np.testing.assert_array_equal(m.even.batch(np.arange(6)), [0, 2, 4])
    assert m.featurize.batch([]).shape == (0, 4)


def test_strings_for_a_str_row_function():
    lines = ["the cat", "", "sat on the mat"]
    x = m.counts.batch(lines)
    assert x.dtype == np.uint32
    np.testing.assert_array_equal(
        x, np.array([[len(l.encode()), len(l.split())] for l in lines], dtype=np.uint32)
    )


def test_par_batch_is_batch_bit_for_bit():
    points = [(i * 0.5, -i * 0.25, i % 7) for i in range(50_000)]
    a = m.featurize.batch(points)
    b = m.featurize.par_batch(points)
    assert a.tobytes() == b.tobytes()
    np.testing.assert_array_equal(a, reference_featurize(points))


def test_an_item_that_does_not_convert_is_a_type_error_with_its_index():
    with pytest.raises(TypeError) as caught:
        m.featurize.batch([(1.0, 2.0, 3.0), (1.0, 2.0)])
    message = str(caught.value)
    assert "item 1" in message and "(f32, f32, f32)" in message, message
    with pytest.raises(TypeError, match="item 0"):
        m.counts.batch([42])


def test_a_failing_row_is_a_row_error_with_its_index():
    with pytest.raises(m.RowError) as caught:
        m.parse_pair.batch(["1, 2", "3, 4", "no comma here"])
    err = caught.value
    assert isinstance(err, ValueError)
    assert err.index == 2
    assert 'no comma in "no comma here"' in str(err)
    np.testing.assert_array_equal(m.parse_pair.batch(["1, 2", " 3,4 "]), [[1.0, 2.0], [3.0, 4.0]])


def test_the_index_counts_across_chunks():
    lines = ["1, 2"] * 40_000 + ["bad"]
    with pytest.raises(m.RowError) as caught:
        m.parse_pair.batch(lines)
    assert caught.value.index == 40_000


def test_a_panic_raises_and_the_interpreter_lives_on():
    with pytest.raises(BaseException) as caught:
        m.fragile.batch([1, 2, 3, 4])
    assert type(caught.value).__name__ == "PanicException"
    assert "fragile got 3" in str(caught.value)
    np.testing.assert_array_equal(m.fragile.batch([1, 2]), [1, 2])


def test_scalar_rows_are_1d_and_dropped_items_give_no_row():
    y = m.even.batch(range(10))
    assert y.shape == (5,) and y.dtype == np.int64
    np.testing.assert_array_equal(y, [0, 2, 4, 6, 8])
    assert m.even.shape == []


def test_multi_axis_rows_from_bytes():
    images = [bytes(range(16)), bytes(range(16, 32))]
    x = m.thumbnail.batch(images)
    assert x.shape == (2, 4, 4) and x.dtype == np.uint8
    np.testing.assert_array_equal(x, np.arange(32, dtype=np.uint8).reshape(2, 4, 4))
    with pytest.raises(m.RowError, match="3 bytes, need 16") as caught:
        m.thumbnail.batch([bytes(16), b"abc"])
    assert caught.value.index == 1


def test_f16_is_numpy_float16():
    values = [1.0, 1.0 / 3.0, 70000.0, -2.5]
    x = m.half_precision.batch(values)
    assert x.dtype == np.float16 and x.shape == (4, 2)
    with np.errstate(over="ignore"):  # 70000 is out of float16's range: inf, as `as` gives
        expected = np.array([[v, v / 2] for v in values], dtype=np.float64).astype(np.float16)
    assert np.isinf(x[2, 0])
    assert x.tobytes() == expected.tobytes()


def test_bf16_is_ml_dtypes_bfloat16():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    values = [1.0, 1.0 / 3.0, -2.5, 1e30]
    x = m.brain_float.batch(values)
    assert x.dtype == ml_dtypes.bfloat16 and x.shape == (4, 2)
    expected = np.array([[v, v * 2] for v in values], dtype=np.float64).astype(ml_dtypes.bfloat16)
    assert x.tobytes() == expected.tobytes()


def test_bf16_without_ml_dtypes_is_an_import_error_that_says_what_to_install():
    script = textwrap.dedent(
        """
        import sys
        sys.modules["ml_dtypes"] = None  # as if it were not installed
        import preallocate_example as m
        try:
            m.brain_float.batch([1.0])
        except ImportError as err:
            print("ImportError:", err)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "ImportError:" in out.stdout and "pip install ml_dtypes" in out.stdout, out.stdout


def test_fill_writes_into_a_callers_array_of_any_strides():
    out = np.full((5, 4), -1.0, dtype=np.float32)
    assert m.featurize.fill(POINTS, out) == 3
    np.testing.assert_array_equal(out[:3], reference_featurize(POINTS))
    np.testing.assert_array_equal(out[3:], -1.0)
    big = np.zeros((6, 4), dtype=np.float32, order="F")
    view = big[::2]  # every other row of a column-major array
    assert m.featurize.fill(POINTS, view) == 3
    np.testing.assert_array_equal(big[::2], reference_featurize(POINTS))
    np.testing.assert_array_equal(big[1::2], 0.0)


def test_fill_refuses_a_wrong_buffer_naming_what_it_needs():
    with pytest.raises(TypeError, match="dtype float32") as caught:
        m.featurize.fill(POINTS, np.zeros((3, 4), dtype=np.float64))
    assert "float64" in str(caught.value)
    with pytest.raises(ValueError, match=r"shape \[4\]"):
        m.featurize.fill(POINTS, np.zeros((3, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="3 items for an array of 2 rows"):
        m.featurize.fill(POINTS, np.zeros((2, 4), dtype=np.float32))
    frozen = np.zeros((3, 4), dtype=np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError):
        m.featurize.fill(POINTS, frozen)


def test_properties_and_repr():
    assert m.thumbnail.shape == [4, 4]
    assert m.thumbnail.dtype == "uint8"
    assert m.thumbnail.name == "thumbnail"
    assert repr(m.featurize) == "<row function featurize: rows of shape [4], dtype float32>"
    assert "rows of every item" in m.featurize.batch.__doc__


def test_rows_are_computed_with_the_gil_released():
    ticks = 0
    stop = threading.Event()

    def count():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    thread = threading.Thread(target=count)
    thread.start()
    try:
        start = time.perf_counter()
        m.slow.batch([2_000] * 300)  # about 0.6 s of rows
        elapsed = time.perf_counter() - start
    finally:
        stop.set()
        thread.join()
    # With the GIL held through the rows, the thread would not have run at all meanwhile.
    assert elapsed > 0.5
    assert ticks > 10_000, ticks


def test_ctrl_c_stops_a_long_call_within_about_a_chunk():
    items = [50] * 400_000  # 50 us a row: 20 s in all, chunks of about 0.8 s
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        m.slow.batch(items)
    elapsed = time.perf_counter() - start
    timer.cancel()
    assert elapsed < 3.0, elapsed


def peak_rss_script(rows):
    return textwrap.dedent(
        f"""
        import resource, sys
        import preallocate_example as m
        items = list(range({rows}))
        m.wide.batch(items[:10])
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        x = m.wide.batch(items)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        assert x.shape == ({rows}, 1024) and x[-1, 0] == {rows} - 1
        print(base, peak, x.nbytes)
        """
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB is Linux's")
def test_peak_memory_is_the_output_and_the_baseline():
    rows = 262_144  # 1 GiB of output: 4 KiB rows
    out = subprocess.run(
        [sys.executable, "-c", peak_rss_script(rows)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    base, peak, nbytes = map(int, out.stdout.split())
    assert nbytes == rows * 4096
    assert peak - base <= 1.05 * nbytes, (base, peak, nbytes)


def test_chunks_give_the_rows_a_chunk_at_a_time():
    points = [(i * 0.5, -i * 0.25, i % 7) for i in range(10_000)]
    chunks = list(m.featurize.chunks(points, chunk_rows=4096))
    assert [c.shape for c in chunks] == [(4096, 4), (4096, 4), (1808, 4)]
    np.testing.assert_array_equal(np.concatenate(chunks), reference_featurize(points))
    # A generator is read as the iteration goes: one chunk at a time.
    seen = []

    def items():
        for i in range(10):
            seen.append(i)
            yield i

    it = m.even.chunks(items(), chunk_rows=4)
    first = next(it)
    assert seen == [0, 1, 2, 3]
    np.testing.assert_array_equal(first, [0, 2])
    assert [c.tolist() for c in it] == [[4, 6], [8]]
    parallel = m.featurize.chunks(points, chunk_rows=4096, parallel=True)
    assert b"".join(c.tobytes() for c in parallel) == reference_featurize(points).tobytes()


def test_chunks_raise_in_the_chunk_of_the_failing_item():
    it = m.parse_pair.chunks(["1, 2"] * 5 + ["bad"], chunk_rows=3)
    assert next(it).shape == (3, 2)
    with pytest.raises(m.RowError) as caught:
        next(it)
    assert caught.value.index == 5
    with pytest.raises(ValueError, match="chunk_rows"):
        m.featurize.chunks(POINTS, chunk_rows=0)


def test_a_2d_array_of_items_lends_its_rows_uncopied():
    points = np.array([(i * 0.5, -i * 0.25, i % 7) for i in range(30_000)], dtype=np.float32)
    x = m.featurize_row.batch(points)
    np.testing.assert_array_equal(x, reference_featurize(points))
    assert m.featurize_row.par_batch(points).tobytes() == x.tobytes()
    values = np.arange(12, dtype=np.uint64).reshape(4, 3)
    seen = m.address.batch(values)
    start = values.ctypes.data
    np.testing.assert_array_equal(seen, [start + 24 * i for i in range(4)])
    out = np.zeros((30_000, 4), dtype=np.float32)
    assert m.featurize_row.fill(points, out) == 30_000
    np.testing.assert_array_equal(out, x)


def test_other_arrays_and_lists_are_items_one_by_one():
    # Not C-contiguous, or of another dtype: each row converted, with the same result.
    points = np.array([(1.0, 2.0, 2.0), (0.0, 0.0, 1.0)], dtype=np.float32)
    expected = reference_featurize(points)
    np.testing.assert_array_equal(m.featurize_row.batch(np.asfortranarray(points)), expected)
    np.testing.assert_array_equal(m.featurize_row.batch(points.astype(np.float64)), expected)
    np.testing.assert_array_equal(m.featurize_row.batch(points.tolist()), expected)
    with pytest.raises(m.RowError, match="2 values, need 3") as caught:
        m.featurize_row.batch(np.zeros((5, 2), dtype=np.float32))
    assert caught.value.index == 0


CORPUS = ["the cat sat", "on the mat", "the dog"]


def reference_encode(vocab, lines):
    ids = np.zeros((len(lines), 8), dtype=np.uint32)
    mask = np.zeros((len(lines), 8), dtype=np.uint8)
    for i, line in enumerate(lines):
        for j, word in enumerate(line.split()[:8]):
            ids[i, j] = vocab.get(word, 0)
            mask[i, j] = 1
    return ids, mask


def test_a_fitted_tokenizer_class_gives_ids_and_mask():
    tok = m.Tokenizer(CORPUS)
    vocab = {}
    for word in " ".join(CORPUS).split():
        vocab.setdefault(word, len(vocab) + 1)
    assert len(tok) == len(vocab)
    lines = ["the cat", "a dog sat on the mat", "", "one two three four five six seven eight nine"]
    ids, mask = reference_encode(vocab, lines)
    np.testing.assert_array_equal(tok.encode.batch(lines), ids)
    np.testing.assert_array_equal(tok.mask.batch(lines), mask)
    many = lines * 5_000
    assert tok.encode.par_batch(many).tobytes() == tok.encode.batch(many).tobytes()
    assert tok.encode.name == "encode" and tok.encode.shape == [8]


def reference_summarize(lists):
    moments = np.array([[np.mean(v), np.std(v)] for v in lists], dtype=np.float64)
    return moments.astype(np.float32), np.array([len(v) for v in lists], dtype=np.uint32)


def test_several_outputs_give_a_dict_of_arrays_by_field():
    lists = [[1.0, 3.0], [2.0, 2.0, 2.0], [0.5], [1.0, 2.0, 3.0, 4.0]]
    moments, count = reference_summarize(lists)
    out = m.summarize.batch(lists)
    assert list(out) == ["moments", "count"]
    assert out["moments"].dtype == np.float32 and out["moments"].shape == (4, 2)
    assert out["count"].dtype == np.uint32 and out["count"].shape == (4,)
    np.testing.assert_allclose(out["moments"], moments, rtol=1e-6)
    np.testing.assert_array_equal(out["count"], count)
    for array in out.values():
        assert array.flags["C_CONTIGUOUS"] and not array.flags["OWNDATA"]
    par = m.summarize.par_batch(lists * 5_000)
    seq = m.summarize.batch(lists * 5_000)
    assert all(par[k].tobytes() == seq[k].tobytes() for k in ("moments", "count"))
    # A 2-D array's rows are lent as items, to every output.
    table = np.array([[1.0, 3.0], [4.0, 6.0]])
    lent = m.summarize.batch(table)
    np.testing.assert_array_equal(lent["moments"], [[2.0, 1.0], [5.0, 1.0]])
    np.testing.assert_array_equal(lent["count"], [2, 2])
    assert m.summarize.outputs == ("moments", "count") and m.featurize.outputs is None
    assert m.summarize.shape == {"moments": [2], "count": []}
    assert m.summarize.dtype == {"moments": "float32", "count": "uint32"}
    assert repr(m.summarize) == (
        "<row function summarize: moments: rows of shape [2], dtype float32; "
        "count: rows of shape [], dtype uint32>"
    )


def test_several_outputs_fail_fill_and_chunk_as_one():
    with pytest.raises(m.RowError, match="no values") as caught:
        m.summarize.batch([[1.0], [2.0], []])
    assert caught.value.index == 2
    out = {"moments": np.full((4, 2), -1, np.float32), "count": np.zeros(4, np.uint32)}
    assert m.summarize.fill([[1.0, 3.0], [2.0]], out) == 2
    np.testing.assert_array_equal(out["moments"], [[2, 1], [2, 0], [-1, -1], [-1, -1]])
    np.testing.assert_array_equal(out["count"], [2, 1, 0, 0])
    wrong = [
        ({"moments": np.zeros((4, 2), np.float32)}, ValueError, r'keys \["moments", "count"\], not \["moments"\]'),
        ({"moments": np.zeros((4, 2), np.float64), "count": np.zeros(4, np.uint32)},
         TypeError, "for `moments` .*dtype float32"),
        ({"moments": np.zeros((4, 2), np.float32), "count": np.zeros(3, np.uint32)},
         ValueError, r"as many rows each, not \[4, 3\]"),
        (np.zeros((4, 2), np.float32), TypeError, "dict of arrays with the keys"),
    ]
    for given, error, message in wrong:
        with pytest.raises(error, match=message):
            m.summarize.fill([[1.0]], given)
    chunks = list(m.summarize.chunks([[float(i)] for i in range(10)], chunk_rows=4))
    assert [c["count"].shape for c in chunks] == [(4,), (4,), (2,)]
    np.testing.assert_array_equal(np.concatenate([c["moments"][:, 0] for c in chunks]), np.arange(10))


def test_the_tokenizer_gives_ids_and_mask_as_one_dict():
    tok = m.Tokenizer(CORPUS)
    lines = ["the cat", "a dog sat on the mat", ""]
    both = tok.tokenize.batch(lines)
    assert list(both) == ["ids", "mask"]
    np.testing.assert_array_equal(both["ids"], tok.encode.batch(lines))
    np.testing.assert_array_equal(both["mask"], tok.mask.batch(lines))
    many = tok.tokenize.par_batch(lines * 10_000)
    assert many["ids"].shape == (30_000, 8) and many["mask"].dtype == np.uint8


POINTS_MANY = [(i * 0.5, -i * 0.25, i % 7) for i in range(50_000)]


def test_write_npy_streams_the_rows_into_a_file_numpy_loads(tmp_path):
    expected = m.featurize.batch(POINTS_MANY)
    report = m.featurize.write_npy(POINTS_MANY, tmp_path / "x.npy", chunk_rows=4096)
    assert report["path"] == tmp_path / "x.npy"
    assert (report["rows"], report["shape"], report["skipped"]) == (50_000, (50_000, 4), [])
    assert report["bytes"] == (tmp_path / "x.npy").stat().st_size
    assert np.load(tmp_path / "x.npy").tobytes() == expected.tobytes()
    # A generator, a str path, several threads, a memory budget: the same bytes.
    m.featurize.write_npy((p for p in POINTS_MANY), str(tmp_path / "g.npy"), threads=2, memory_budget=1 << 16)
    assert np.load(tmp_path / "g.npy").tobytes() == expected.tobytes()
    dropped = m.even.write_npy(range(11), tmp_path / "even.npy")
    assert dropped["skipped"] == [1, 3, 5, 7, 9]
    np.testing.assert_array_equal(np.load(tmp_path / "even.npy"), [0, 2, 4, 6, 8, 10])
    with pytest.raises(ValueError, match="chunk_rows"):
        m.featurize.write_npy(POINTS, tmp_path / "zero.npy", chunk_rows=0)


def test_a_writer_stops_at_an_item_that_does_not_convert_and_keeps_the_rows_before(tmp_path):
    items = POINTS_MANY[:1000] + ["not a point"] + POINTS_MANY[:10]
    with pytest.raises(TypeError, match="item 1000 .*is a str") as caught:
        m.featurize.write_npy(items, tmp_path / "x.npy", chunk_rows=256)
    assert not (tmp_path / "x.npy").exists()
    kept = np.load(tmp_path / "x.npy.partial")
    assert kept.tobytes() == m.featurize.batch(POINTS_MANY[:1000]).tobytes()
    if sys.version_info >= (3, 11):
        assert "1000 rows before it are kept in" in " ".join(caught.value.__notes__)

    def raising():
        yield from POINTS[:2]
        raise LookupError("the source broke")

    with pytest.raises(LookupError, match="the source broke"):
        m.featurize.write_npy(raising(), tmp_path / "y.npy", threads=2)
    assert not (tmp_path / "y.npy").exists()
    assert np.load(tmp_path / "y.npy.partial").shape == (2, 4)


def test_a_writer_stops_at_a_failing_row_with_a_row_error(tmp_path):
    with pytest.raises(m.RowError, match="no comma") as caught:
        m.parse_pair.write_npy(["1, 2"] * 7 + ["bad"], tmp_path / "p.npy", chunk_rows=3)
    assert caught.value.index == 7
    assert not (tmp_path / "p.npy").exists()
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy.partial"), [[1.0, 2.0]] * 7)


def test_writers_of_several_outputs_write_every_field(tmp_path):
    lists = [[float(i), float(i) + 2.0] for i in range(1000)]
    expected = m.summarize.batch(lists)
    reports = m.summarize.write_npy(lists, tmp_path / "summary", chunk_rows=100)
    assert list(reports) == ["moments", "count"]
    for name in ("moments", "count"):
        assert reports[name]["path"] == tmp_path / "summary" / f"{name}.npy"
        assert np.load(tmp_path / "summary" / f"{name}.npy").tobytes() == expected[name].tobytes()
    shards = m.summarize.write_npy_shards(lists, tmp_path / "shards", shard_rows=300)
    assert [len(shards[name]["shards"]) for name in ("moments", "count")] == [4, 4]
    parts = sorted((tmp_path / "shards" / "count").glob("part-*.npy"))
    np.testing.assert_array_equal(np.concatenate([np.load(p) for p in parts]), expected["count"])
    with pytest.raises(ValueError, match="named by field"):
        m.summarize.write_safetensors(lists, tmp_path / "s.safetensors", tensor="x")


def test_shards_resume_and_partition_from_python(tmp_path):
    expected = m.even.batch(range(1000))
    first = m.even.write_npy_shards(range(1000), tmp_path / "a", shard_rows=100, partition=(0, 2), job_key="evens")
    assert not first["complete"] and first["resumed"] == 0
    second = m.even.write_npy_shards(range(1000), tmp_path / "a", shard_rows=100, partition=(1, 2), job_key="evens")
    assert second["complete"]
    again = m.even.write_npy_shards(range(1000), tmp_path / "a", shard_rows=100, job_key="evens")
    assert again["complete"] and again["resumed"] == len(again["shards"]) == 10
    parts = sorted((tmp_path / "a").glob("part-*.npy"))
    np.testing.assert_array_equal(np.concatenate([np.load(p) for p in parts]), expected)
    # Over an unfinished run of another job: refused, naming both.
    m.even.write_npy_shards(range(1000), tmp_path / "b", shard_rows=100, partition=(0, 2), job_key="evens")
    with pytest.raises(ValueError, match="job"):
        m.even.write_npy_shards(range(1000), tmp_path / "b", shard_rows=100, job_key="another job")


def read_safetensors(path):
    import json

    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    return header, data[8 + size :]


def test_write_safetensors_and_bf16(tmp_path):
    report = m.brain_float.write_safetensors([1.0, 2.5, -3.0], tmp_path / "bf.safetensors")
    header, body = read_safetensors(tmp_path / "bf.safetensors")
    assert header["brain_float"]["dtype"] == "BF16" and header["brain_float"]["shape"] == [3, 2]
    start, end = header["brain_float"]["data_offsets"]
    assert body[start:end] == m.brain_float.batch([1.0, 2.5, -3.0]).tobytes()
    assert report["shape"] == (3, 2)
    m.featurize.write_safetensors(POINTS, tmp_path / "f.safetensors", tensor="points")
    header, _ = read_safetensors(tmp_path / "f.safetensors")
    assert header["points"]["shape"] == [3, 4]
    with pytest.raises(TypeError, match="no data type for `bf16`"):
        m.brain_float.write_npy([1.0], tmp_path / "bf.npy")
    with pytest.raises(OSError, match="does not exist"):
        m.featurize.write_npy(POINTS, tmp_path / "missing" / "x.npy")


def test_ctrl_c_stops_a_writer_and_keeps_the_rows_before(tmp_path):
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        m.slow.write_npy([50] * 400_000, tmp_path / "slow.npy")
    timer.cancel()
    assert not (tmp_path / "slow.npy").exists()
    assert (tmp_path / "slow.npy.partial").exists()


def test_write_zarr_gives_what_zarr_python_reads(tmp_path):
    zarr = pytest.importorskip("zarr")
    expected = m.featurize.batch(POINTS_MANY)
    report = m.featurize.write_zarr(POINTS_MANY, tmp_path / "data.zarr", chunk_rows=8192, compression="zstd")
    assert report["complete"] and report["shape"] == (50_000, 4)
    array = zarr.open_array(tmp_path / "data.zarr" / "featurize", mode="r")
    assert array[:].tobytes() == expected.tobytes()
    both = m.summarize.write_zarr([[1.0, 3.0], [2.0]], tmp_path / "s.zarr")
    assert list(both) == ["moments", "count"]
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "s.zarr" / "count", mode="r")[:], [2, 1])
    with pytest.raises(ValueError, match="compression"):
        m.featurize.write_zarr(POINTS, tmp_path / "bad.zarr", compression="gzip")


def test_write_parquet_gives_what_pyarrow_reads(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    expected = m.featurize.batch(POINTS_MANY)
    m.featurize.write_parquet(POINTS_MANY, tmp_path / "x.parquet", column="x", compression=("zstd", 3))
    table = pq.read_table(tmp_path / "x.parquet")
    assert table.column_names == ["x"]
    assert np.stack(table.column("x").to_numpy(zero_copy_only=False)).astype(np.float32).tobytes() == expected.tobytes()
    m.featurize.write_parquet(POINTS, tmp_path / "s.parquet", compression="snappy")
    assert pq.ParquetFile(tmp_path / "s.parquet").metadata.row_group(0).column(0).compression == "SNAPPY"
    with pytest.raises(ValueError, match="Zarr has no Snappy"):
        m.featurize.write_zarr(POINTS, tmp_path / "s.zarr", compression="snappy")
    m.summarize.write_parquet_shards([[1.0, 3.0]] * 10, tmp_path / "parts", shard_rows=4)
    parts = sorted((tmp_path / "parts").glob("part-*.parquet"))
    counts = np.concatenate([pq.read_table(p).column("count").to_numpy() for p in parts])
    np.testing.assert_array_equal(counts, [2] * 10)


def test_the_package_ships_type_stubs_that_name_every_row_function():
    import importlib.util
    import pathlib

    spec = importlib.util.find_spec("preallocate_example")
    folder = pathlib.Path(spec.origin).parent
    stub = folder / "__init__.pyi"
    assert stub.exists() and (folder / "py.typed").exists(), sorted(p.name for p in folder.iterdir())
    text = stub.read_text()
    for name, value in vars(m).items():
        if type(value).__name__ == "RowFunction":
            assert f"\n{name}: RowFunction" in text, name
