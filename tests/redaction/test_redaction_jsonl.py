"""redact_jsonl: one line out per line in, errors that never echo text, and true streaming."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

from vault.redaction import JsonlStats, Redactor, redact_jsonl

SECRET = "13812345678"


def _run(redactor: Redactor, *lines: str) -> tuple[list[dict[str, object]], JsonlStats]:
    out = io.StringIO()
    stats = redact_jsonl(io.StringIO("".join(line + "\n" for line in lines)), out, redactor)
    return [json.loads(line) for line in out.getvalue().splitlines()], stats


def test_each_record_becomes_one_redacted_line_with_original_offsets(redactor: Redactor) -> None:
    text = f"客户王芳来电，手机{SECRET}"
    rows, stats = _run(
        redactor,
        json.dumps({"id": "n1", "text": text, "lang": "zh"}, ensure_ascii=False),
        json.dumps(
            {"id": 2, "text": "Spoke with Mr. John Smith.", "known": {"name": "John Smith"}}
        ),
    )
    assert stats == JsonlStats(redacted=2, errors=0)
    assert rows[0] == {
        "id": "n1",
        "text": "客户<PERSON>来电，手机<MOBILE>",
        "entities": [
            {"type": "PERSON", "start": 2, "end": 4, "score": 0.85},
            {"type": "MOBILE", "start": 9, "end": 20, "score": 1.0},
        ],
    }
    assert text[9:20] == SECRET
    assert rows[1]["id"] == 2
    assert rows[1]["text"] == "Spoke with Mr. <PERSON>."


def test_bad_lines_get_an_error_line_that_does_not_echo_the_text(redactor: Redactor) -> None:
    bad = [
        f'{{"id": "a", "text": "手机{SECRET}"',  # truncated JSON
        f'["手机{SECRET}"]',
        f'{{"text": "手机{SECRET}"}}',
        '{"id": "d", "text": 42}',
        f'{{"id": "e", "text": "手机{SECRET}", "lang": "fr"}}',
        f'{{"id": "f", "text": "手机{SECRET}", "known": {{"mobile": 138}}}}',
        f'{{"id": "g", "text": "手机{SECRET}", "known": ["{SECRET}"]}}',
    ]
    good = json.dumps({"id": "ok", "text": f"手机{SECRET}"}, ensure_ascii=False)
    rows, stats = _run(redactor, *bad, good)
    assert stats == JsonlStats(redacted=1, errors=len(bad))
    assert len(rows) == len(bad) + 1
    for number, row in enumerate(rows[:-1], start=1):
        assert set(row) == {"id", "line", "error"}
        assert row["line"] == number
        assert SECRET not in json.dumps(row, ensure_ascii=False)
    assert [r["id"] for r in rows[:-1]] == [None, None, None, "d", "e", "f", "g"]
    assert rows[-1]["text"] == "手机<MOBILE>"


def test_blank_lines_are_skipped(redactor: Redactor) -> None:
    rows, stats = _run(redactor, "", json.dumps({"id": 1, "text": "hi"}), "   ")
    assert stats.written == 1
    assert rows == [{"id": 1, "text": "hi", "entities": []}]


class _GeneratorStream(io.TextIOBase):
    """A read-only text stream fed by a generator; counts the lines handed out."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        line = next(self._lines, "")
        if line:
            self.consumed += 1
        return line


class _RecordingOutput(io.StringIO):
    """Remembers, for every line written, how many input lines had been read by then."""

    def __init__(self, source: _GeneratorStream) -> None:
        super().__init__()
        self.source = source
        self.consumed_at_write: list[int] = []

    def write(self, s: str) -> int:
        self.consumed_at_write.append(self.source.consumed)
        return super().write(s)


def test_lines_are_processed_one_at_a_time_from_a_generator(redactor: Redactor) -> None:
    total = 500

    def records() -> Iterator[str]:
        for i in range(total):
            yield json.dumps({"id": i, "text": f"note {i}: call {SECRET}"}) + "\n"

    source = _GeneratorStream(records())
    out = _RecordingOutput(source)
    stats = redact_jsonl(source, out, redactor)
    assert stats.redacted == total
    # Output line k is written after reading input line k and before reading line k+1.
    assert out.consumed_at_write == list(range(1, total + 1))
