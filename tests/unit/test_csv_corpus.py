"""A generated corpus of real-world CSV shapes through the planner (dry run: listing, grouping,
dialect and header decision, schema split) and the exact counter.

Each file is written by Python's csv module from rows the test makes, so the truth is known: whether
the first record is a header, and how many records the file holds. Shapes: headers with blank cells
(pandas' index column, survey exports), years and date-like names, numeric-looking names, quoted
names; headerless files of typed data; LF, CR LF and CR-only endings; UTF-8 BOM; Latin-1; quoted
newlines; delimiters , ; | and tab. The accuracy of the header decision is printed; the bar is 100%.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from datetime import date, timedelta

from executor.metadata.csv_scan import CsvDialect, count_records, sniff_dialect
from executor.ops.dry_run import plan_extraction
from executor.settings import Settings

NAMES = ["Alice", "Bob", "Chloé", "Dmitri", "Eve", "François", "Grace", "Hélène", "Ivan", "Jürgen", "Kai",
         "Léa", "Mohammed", "Nuno", "O'Brien", "Zoë, Jr."]
CITIES = ["Paris", "São Paulo", "Zürich", "New York", "Kraków", "Reykjavík", "Lagos", "Osaka"]
NOTES = ["ok", "call back", "moved\nto new address", "see \"notes\"", "line one\r\nline two", "n/a", ""]


@dataclass
class Case:
    name: str
    header: bool
    rows: list[list[str]]  # the header (when any) first
    delimiter: str
    ending: str
    encoding: str
    bom: bool
    trailing: bool
    ext: str = "csv"

    def data(self) -> bytes:
        text = "".join(self.delimiter.join(_quoted(v, self.delimiter) for v in row) + self.ending
                       for row in self.rows)
        if not self.trailing:
            text = text[: -len(self.ending)]
        raw = text.encode(self.encoding, errors="replace")
        return (b"\xef\xbb\xbf" + raw) if self.bom else raw


def _quoted(value: str, delimiter: str) -> str:
    """RFC 4180 quoting (csv.writer of Python 3.11 leaves a LF unquoted when the line terminator is CR)."""
    if any(ch in value for ch in (delimiter, '"', "\r", "\n")):
        return '"' + value.replace('"', '""') + '"'
    return value


def _amount(rng: random.Random) -> str:
    return f"{10 ** rng.uniform(1, 5):.2f}"


def _day(rng: random.Random) -> str:
    return (date(2020, 1, 1) + timedelta(days=rng.randrange(1400))).isoformat()


def _people(rng: random.Random, n: int, notes: bool) -> list[list[str]]:
    rows = []
    for i in range(1, n + 1):
        row = [str(i), rng.choice(NAMES), _amount(rng), _day(rng), rng.choice(["true", "false"])]
        if notes:
            row.append(rng.choice(NOTES))
        rows.append(row)
    return rows


def _shape(kind: str, rng: random.Random, n: int, notes: bool) -> tuple[bool, list[list[str]]]:
    """(has a header, records) of one real-world shape."""
    people = _people(rng, n, notes)
    extra = ["notes"] if notes else []
    if kind == "plain":
        return True, [["id", "name", "amount", "created", "active", *extra], *people]
    if kind == "pandas_index":  # DataFrame.to_csv(): unnamed index column
        return True, [["", "name", "amount", "created", *extra]] + [[str(i), *r[1:4], *r[5:]]
                                                                   for i, r in enumerate(people)]
    if kind == "year_columns":  # wide table: one column per year, counts below
        years = [str(y) for y in range(2019, 2019 + rng.randint(1, 5))]
        return True, [["district", *years]] + [[rng.choice(CITIES)] + [str(rng.randint(0, 900)) for _ in years]
                                               for _ in range(n)]
    if kind == "one_year":
        return True, [["district", "2022"]] + [[rng.choice(CITIES), _amount(rng)] for _ in range(n)]
    if kind == "season_names":  # names that start like a date
        return True, [["team", "2017-2018 season", "2018-2019 season"]] + [
            [rng.choice(CITIES), str(rng.randint(0, 99)), str(rng.randint(0, 99))] for _ in range(n)]
    if kind == "date_names":  # dates as column names over amounts
        return True, [["region", "2020-01-01", "2020-02-01"]] + [[rng.choice(CITIES), _amount(rng), _amount(rng)]
                                                                for _ in range(n)]
    if kind == "survey_blanks":  # blank header cell over a text column
        return True, [["respondent", "", "score", *extra]] + [
            [f"R{i}", rng.choice(["yes", "no", ""]), str(rng.randint(1, 10)), *r[5:]] for i, r in enumerate(people)]
    if kind == "quarter_names":
        return True, [["Q1", "Q2", "Q3", "Q4"]] + [[_amount(rng) for _ in range(4)] for _ in range(n)]
    if kind == "text_only":  # no typed column: nothing argues against Spark's header=true
        return True, [["name", "city"]] + [[rng.choice(NAMES), rng.choice(CITIES)] for _ in range(n)]
    if kind == "quoted_names":
        return True, [["Name, full", "Amount (EUR)", "Day"]] + [[rng.choice(NAMES), _amount(rng), _day(rng)]
                                                                for _ in range(n)]
    if kind == "no_header_people":
        return False, people
    if kind == "no_header_ledger":  # date, amount
        return False, [[_day(rng), _amount(rng)] for _ in range(n)]
    if kind == "no_header_counts":  # text, count
        return False, [[rng.choice(CITIES), str(rng.randint(100, 999))] for _ in range(n)]
    if kind == "no_header_geo":
        return False, [[str(i), f"{rng.uniform(-80, 80):.5f}", f"{rng.uniform(-170, 170):.5f}"] for i in range(1, n + 1)]
    if kind == "no_header_years":  # a column of years is data, not a header
        return False, [[str(rng.randint(1990, 2024)), rng.choice(CITIES), str(rng.randint(1, 99))] for _ in range(n)]
    raise AssertionError(kind)


KINDS = ["plain", "pandas_index", "year_columns", "one_year", "season_names", "date_names", "survey_blanks",
         "quarter_names", "text_only", "quoted_names", "no_header_people", "no_header_ledger", "no_header_counts",
         "no_header_geo", "no_header_years"]


def make_corpus(count: int = 240, seed: int = 12) -> list[Case]:
    rng = random.Random(seed)
    cases = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        delimiter = rng.choice([",", ";", "|", "\t"])
        encoding = rng.choice(["utf-8", "utf-8", "iso-8859-1"])
        notes = rng.random() < 0.3
        header, rows = _shape(kind, rng, rng.randint(5, 60), notes)
        cases.append(Case(f"{i:03d}_{kind}", header, rows, delimiter, rng.choice(["\n", "\r\n", "\r"]), encoding,
                          bom=encoding == "utf-8" and rng.random() < 0.3, trailing=rng.random() < 0.85,
                          ext="tsv" if delimiter == "\t" and rng.random() < 0.5 else "csv"))
    return cases


def test_corpus_header_decisions_and_counts(tmp_path):
    cases = make_corpus()
    assert len(cases) >= 200
    for c in cases:
        folder = tmp_path / c.name
        folder.mkdir()
        (folder / f"data.{c.ext}").write_bytes(c.data())
    report = plan_extraction(str(tmp_path), settings=Settings(io_threads=2))
    by_folder = {t.folder: t for t in report.tables}
    assert len(by_folder) == len(cases)  # one table per folder: no file split or merged by mistake
    wrong_header, wrong_count = [], []
    for c in cases:
        t = by_folder[c.name]
        assert t.problem is None, (c.name, t.problem)
        if t.csv_header is not c.header:
            wrong_header.append((c.name, c.header, t.csv_header_reason))
        data = c.data()
        dialect = sniff_dialect(data[:65536])
        assert dialect.delimiter == c.delimiter, c.name
        res = count_records(io.BytesIO(data), CsvDialect(delimiter=c.delimiter, header=c.header),
                            chunk_bytes=4096)
        if res.records != len(c.rows):
            wrong_count.append((c.name, len(c.rows), res.records))
    accuracy = 1 - len(wrong_header) / len(cases)
    print(f"\nCSV corpus: {len(cases)} files, header decision accuracy {accuracy:.1%} "
          f"({len(cases) - len(wrong_header)}/{len(cases)}), record counts exact {len(cases) - len(wrong_count)}/"
          f"{len(cases)}")
    assert wrong_header == []
    assert wrong_count == []
