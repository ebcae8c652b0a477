"""Bad batch files: `read_batch` refuses each with a specific reason, never a library crash."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import make_frame
from runs.batches import read_batch
from runs.errors import BatchReadError

CLEAN = make_frame(20, seed=1).to_csv(index=False).encode()
# Each example overwrites the same file in tmp_path, so sharing it between examples is fine.
FIXTURE_OK = [HealthCheck.function_scoped_fixture]


def write(tmp_path: Path, content: bytes, name: str = "b.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param(b"", "empty file (0 bytes)", id="empty"),
        pytest.param(gzip.compress(CLEAN), "gzip-compressed", id="gzip"),
        pytest.param(b"PK\x03\x04\x14\x00rest", "ZIP archive", id="xlsx"),
        pytest.param(b"\x00\x01\x02\x03binary", "binary data", id="binary"),
        pytest.param(b"<!DOCTYPE html><html>502 Bad Gateway</html>", "HTML page", id="html"),
        pytest.param("t,x1\n1,2\n".encode("utf-16"), "UTF-16", id="utf16"),
        pytest.param(b"t,x1,x1,y\n1,2,3,0\n", "duplicate column names ['x1']", id="duplicate"),
        pytest.param(CLEAN[: CLEAN.rindex(b",", 0, len(CLEAN) - 5)], "truncated mid-row", id="cut"),
        pytest.param(b't,x1\n1,"open quote\n', "as csv", id="open-quote"),
    ],
)
def test_bad_csv_is_refused_with_its_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    with pytest.raises(BatchReadError, match=r"b\.csv") as caught:
        read_batch(write(tmp_path, content))
    assert reason in str(caught.value)


def test_non_utf8_names_the_first_bad_byte_and_its_offset(tmp_path: Path) -> None:
    content = "t,colour\n1,café\n".encode("latin-1")
    with pytest.raises(BatchReadError, match=r"not UTF-8: byte 0xe9 at offset 14"):
        read_batch(write(tmp_path, content))


def test_non_utf8_offset_counts_from_the_start_of_a_large_file(tmp_path: Path) -> None:
    body = b"t,colour\n" + b"1,red\n" * 400_000  # beyond pandas' and the decoder's first block
    with pytest.raises(BatchReadError, match=rf"byte 0xff at offset {len(body) + 2}"):
        read_batch(write(tmp_path, body + b"2,\xff\n"))


def test_file_over_the_size_limit_is_refused_before_it_is_loaded(tmp_path: Path) -> None:
    path = write(tmp_path, CLEAN)
    with pytest.raises(BatchReadError, match=rf"too large to load at once \({len(CLEAN)} bytes"):
        read_batch(path, max_bytes=100)
    assert len(read_batch(path, max_bytes=len(CLEAN))) == 20


def test_size_limit_defaults_to_the_module_constant(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("runs.batches.MAX_BATCH_BYTES", 10)
    with pytest.raises(BatchReadError, match="> limit 10 bytes"):
        read_batch(write(tmp_path, CLEAN))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param(CLEAN, "not a Parquet file", id="csv-named-parquet"),
        pytest.param(b"PAR1" + b"\x00" * 40, "truncated Parquet file", id="no-footer"),
        pytest.param(b"PAR1" + b"\x00" * 40 + b"PAR1", "as parquet", id="corrupt"),
    ],
)
def test_bad_parquet_is_refused_with_its_reason(tmp_path: Path, content: bytes, reason) -> None:
    with pytest.raises(BatchReadError, match=reason):
        read_batch(write(tmp_path, content, "b.parquet"))


def test_header_only_file_reads_as_an_empty_table_for_the_gate_to_reject(tmp_path: Path) -> None:
    frame = read_batch(write(tmp_path, b"t,x1,x2,colour,y\n"))
    assert list(frame.columns) == ["t", "x1", "x2", "colour", "y"] and frame.empty


def test_a_complete_last_line_without_a_line_end_is_not_truncation(tmp_path: Path) -> None:
    assert len(read_batch(write(tmp_path, CLEAN.rstrip(b"\n")))) == 20


def test_formula_strings_are_read_as_plain_text_never_evaluated(tmp_path: Path) -> None:
    # Cells that a spreadsheet would run (=, +, -, @) stay literal strings: the gate sees them as
    # unknown categories or non-numeric values; nothing here ever evaluates them.
    content = b't,colour,note\n1,=1+2,"=HYPERLINK(""http://x"",""y"")"\n2,@SUM(A1),+cmd|x\n'
    frame = read_batch(write(tmp_path, content))
    assert frame["colour"].tolist() == ["=1+2", "@SUM(A1)"]
    assert frame["note"].tolist() == ['=HYPERLINK("http://x","y")', "+cmd|x"]


def test_long_text_cells_are_read_whole(tmp_path: Path) -> None:
    cell = "a" * 300_000  # beyond the csv module's default field limit
    frame = read_batch(write(tmp_path, f"t,colour\n1,{cell}\n".encode()))
    assert frame.loc[0, "colour"] == cell


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.binary(max_size=2000))
def test_arbitrary_bytes_read_or_raise_batch_read_error(tmp_path: Path, content: bytes) -> None:
    for name in ("b.csv", "b.parquet"):
        try:
            frame = read_batch(write(tmp_path, content, name))
        except BatchReadError as exc:
            assert name in str(exc) and "\n" not in str(exc)
        else:
            assert isinstance(frame, pd.DataFrame)
            assert not frame.columns.duplicated().any()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=500))
def test_arbitrary_text_read_or_raise_batch_read_error(tmp_path: Path, text: str) -> None:
    try:
        read_batch(write(tmp_path, text.encode("utf-8")))
    except BatchReadError as exc:
        assert "b.csv" in str(exc)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(min_value=1, max_value=len(CLEAN) - 1))
def test_a_clean_file_cut_anywhere_is_refused_or_loses_no_whole_row(tmp_path: Path, cut) -> None:
    # A cut inside the last field cannot be told from a short value; any other cut is refused.
    kept = CLEAN[:cut]
    try:
        frame = read_batch(write(tmp_path, kept))
    except BatchReadError as exc:
        assert "b.csv" in str(exc)
        return
    if b"\n" not in kept:  # the header itself is cut: no row, so validation refuses it
        assert frame.empty
        return
    # Every row the cut reached is there, whole but for its last field; none is lost.
    reached = kept.count(b"\n") - 1 + (not kept.endswith(b"\n"))
    whole = pd.read_csv(io.BytesIO(CLEAN))
    assert len(frame) == reached
    pd.testing.assert_frame_equal(frame.iloc[:, :-1], whole.iloc[:reached, :-1], check_dtype=False)


def test_whole_clean_file_round_trips(tmp_path: Path) -> None:
    frame = read_batch(write(tmp_path, CLEAN))
    pd.testing.assert_frame_equal(frame, pd.read_csv(io.BytesIO(CLEAN)))
