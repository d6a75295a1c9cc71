"""The demo-data generator writes realistic CRM extracts in exactly the documented import format.

The checks use the libraries the importer trusts (python-stdnum, phonenumbers,
email-validator) and the column and value lists of ``docs/import-formats.md``
itself, so a generator that drifts from the contract fails here first.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email
from faker import Faker
from stdnum import luhn
from stdnum.cn import ric

from vault import demo_data
from vault import import_format as import_rows
from vault.demo_data import INVALID_ROW_KINDS, DemoFiles, generate_demo_data
from vault.validation import RowRejected

CUSTOMERS = 200
INVALID = 2 * len(INVALID_ROW_KINDS)
KINDS = ("customers", "policies", "claims", "interactions", "consents")
DOCS = Path(__file__).resolve().parents[1] / "docs" / "import-formats.md"
CJK = re.compile(r"[\u4e00-\u9fff]")
CARD = re.compile(r"(?<![\d+])6\d{3}(?:[ -]?\d){12,15}(?!\d)")

Row = dict[str, str]


@dataclass(frozen=True)
class Extract:
    files: DemoFiles
    rows: dict[str, list[Row]]
    headers: dict[str, list[str]]

    @property
    def customers(self) -> list[Row]:
        """Customer rows without the deliberately invalid extras at the end."""
        return self.rows["customers"][: len(self.rows["customers"]) - INVALID]

    @property
    def invalid(self) -> list[Row]:
        return self.rows["customers"][len(self.rows["customers"]) - INVALID :]

    @property
    def crm(self) -> dict[str, Row]:
        return {r["source_id"]: r for r in self.customers if r["source_system"] == "crm"}

    @property
    def agency(self) -> list[Row]:
        return [r for r in self.customers if r["source_system"] == "agency"]


def _read(path: Path) -> tuple[list[str], list[Row]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory) -> Extract:
    files = generate_demo_data(
        tmp_path_factory.mktemp("demo"), CUSTOMERS, seed=7, invalid_rows=INVALID
    )
    headers, rows = {}, {}
    for kind in KINDS:
        headers[kind], rows[kind] = _read(getattr(files, kind))
    return Extract(files, rows, headers)


# -- helpers ----------------------------------------------------------------------------------


def _documented() -> dict[str, dict[str, set[str]]]:
    """Per file: each documented column and the back-quoted values its format cell lists."""
    tables: dict[str, dict[str, set[str]]] = {}
    current: dict[str, set[str]] | None = None
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        heading = re.fullmatch(r"## (\w+)\.csv", line.strip())
        if heading:
            current = tables.setdefault(heading.group(1), {})
        elif line.startswith("## "):
            current = None
        elif current is not None and line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            values = set(re.findall(r"`([^`]+)`", cells[2]))
            for name in re.findall(r"`([^`]+)`", cells[0]):
                current[name] = values
    return tables


def _documented_columns(kind: str) -> list[str]:
    return list(_documented()[kind])


def _mobile(value: str) -> phonenumbers.PhoneNumber:
    return phonenumbers.parse(value, "CN")


def _e164(value: str) -> str:
    return phonenumbers.format_number(_mobile(value), phonenumbers.PhoneNumberFormat.E164)


def _email_ok(value: str) -> bool:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _gender(value: str) -> str:
    return {"M": "M", "F": "F", "male": "M", "female": "F", "男": "M", "女": "F"}[value]


def _broken_rules(row: Row) -> set[str]:
    """Every customer rule a row breaks, checked independently of the importer."""
    broken: set[str] = set()
    if not row["full_name"].strip():
        broken.add("missing_full_name")
    id_number, mobile = row["id_number"].strip(), row["mobile"].strip()
    if not id_number and not mobile:
        broken.add("missing_id_and_mobile")
    birth: dt.date | None = None
    if row["birth_date"]:
        try:
            birth = dt.date.fromisoformat(row["birth_date"])
        except ValueError:
            broken.add("impossible_birth_date")
    if row["id_type"] == "resident_id" and id_number:
        number = id_number.upper()
        if number[-1] != ric.calc_check_digit(number):
            broken.add("bad_check_digit")
        else:
            try:
                embedded = ric.get_birth_date(number)
            except ric.InvalidComponent:
                broken.add("impossible_id_birth_date")
            else:
                if not ric.is_valid(number):
                    broken.add("unknown_birthplace")
                if birth is not None and birth != embedded:
                    broken.add("birth_date_disagrees_with_id")
                parity = "M" if int(number[16]) % 2 else "F"
                if row["gender"] and _gender(row["gender"]) != parity:
                    broken.add("gender_disagrees_with_id")
    elif row["id_type"] == "passport" and not re.fullmatch(r"[A-Z0-9]{5,20}", id_number.upper()):
        broken.add("bad_passport")
    if mobile:
        try:
            valid = phonenumbers.is_valid_number(_mobile(mobile))
        except phonenumbers.NumberParseException:
            valid = False
        if not valid:
            broken.add("malformed_mobile")
    if row["email"] and not _email_ok(row["email"]):
        broken.add("malformed_email")
    return broken


def _quotes_pii(text: str, customer: Row) -> bool:
    """Whether free text repeats the customer's name, mobile, email, ID number or a bank card."""
    digits = re.sub(r"\D", "", text)
    national = str(_mobile(customer["mobile"]).national_number)
    return (
        customer["full_name"] in text
        or national in digits
        or (bool(customer["email"]) and customer["email"].casefold() in text.casefold())
        or customer["id_number"] in text
        or bool(_cards(text, customer))
    )


def _cards(text: str, customer: Row) -> list[str]:
    """Bank-card-like digit runs in free text (the customer's own ID number is not one)."""
    return CARD.findall(text.replace(customer["id_number"], ""))


# -- format -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_file_has_exactly_the_documented_columns_in_the_documented_order(
    extract: Extract, kind: str
) -> None:
    documented = _documented_columns(kind)
    header = extract.headers[kind]
    assert header[: len(documented)] == documented
    extra = header[len(documented) :]
    if kind == "customers":
        assert extra == list(demo_data.CUSTOM_ATTRIBUTE_COLUMNS)
    else:
        assert extra == []


def test_customer_files_carry_two_custom_attribute_columns_with_values(extract: Extract) -> None:
    for column in demo_data.CUSTOM_ATTRIBUTE_COLUMNS:
        assert all(r[column] for r in extract.crm.values())
    assert {r["vip_tier"] for r in extract.crm.values()} >= {"standard", "silver", "gold"}


@pytest.mark.parametrize(
    ("kind", "column"),
    [
        ("customers", "gender"),
        ("customers", "id_type"),
        ("customers", "marital_status"),
        ("policies", "product_line"),
        ("policies", "status"),
        ("policies", "sales_channel"),
        ("claims", "claim_type"),
        ("claims", "status"),
        ("interactions", "channel"),
        ("interactions", "direction"),
        ("consents", "purpose"),
        ("consents", "channel"),
        ("consents", "status"),
    ],
)
def test_enumerated_columns_only_hold_documented_values(
    extract: Extract, kind: str, column: str
) -> None:
    allowed = _documented()[kind][column]
    assert allowed, f"docs list no values for {kind}.{column}"
    values = {r[column] for r in extract.rows[kind] if r[column]}
    assert values
    assert values <= allowed


@pytest.mark.parametrize(
    ("kind", "parse"),
    [
        ("policies", import_rows.parse_policy),
        ("claims", import_rows.parse_claim),
        ("interactions", import_rows.parse_interaction),
        ("consents", import_rows.parse_consent),
    ],
)
def test_every_linked_row_is_accepted_by_the_importer(
    extract: Extract, kind: str, parse: Callable[[Row], object]
) -> None:
    for row in extract.rows[kind]:
        parse(row)


def test_every_valid_customer_row_breaks_no_rule_and_is_accepted_by_the_importer(
    extract: Extract,
) -> None:
    for row in extract.customers:
        assert _broken_rules(row) == set(), row["source_id"]
        import_rows.parse_customer(row)


def test_files_are_utf8_with_chinese_text_unescaped(extract: Extract) -> None:
    raw = extract.files.customers.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert CJK.search(raw.decode("utf-8"))


def test_counts_report_the_data_rows_of_each_file(extract: Extract) -> None:
    assert extract.files.counts == {kind: len(extract.rows[kind]) for kind in KINDS}


# -- people -----------------------------------------------------------------------------------


def test_about_three_quarters_of_customers_are_chinese_with_resident_ids(
    extract: Extract,
) -> None:
    crm = list(extract.crm.values())
    assert len(crm) == CUSTOMERS
    zh = [r for r in crm if r["id_type"] == "resident_id"]
    en = [r for r in crm if r["id_type"] == "passport"]
    assert len(zh) + len(en) == CUSTOMERS
    assert 0.65 <= len(zh) / CUSTOMERS <= 0.85
    assert all(CJK.fullmatch(r["full_name"][0]) and " " not in r["full_name"] for r in zh)
    assert all(re.fullmatch(r"[A-Z][a-z'A-Z-]+ [A-Z][a-z'A-Z-]+", r["full_name"]) for r in en)
    assert all(re.fullmatch(r"[A-Z]\d{8}", r["id_number"]) for r in en)


def test_every_resident_id_passes_stdnum_and_matches_birth_date_and_gender(
    extract: Extract,
) -> None:
    rows = [r for r in extract.customers if r["id_type"] == "resident_id"]
    assert rows
    for row in rows:
        number = row["id_number"]
        assert ric.is_valid(number), row["source_id"]
        if row["birth_date"]:
            assert ric.get_birth_date(number).isoformat() == row["birth_date"]
        parity = "M" if int(number[16]) % 2 else "F"
        assert _gender(row["gender"]) == parity


def test_birth_dates_lie_between_1940_and_2006(extract: Extract) -> None:
    births = [dt.date.fromisoformat(r["birth_date"]) for r in extract.crm.values()]
    assert min(births) >= dt.date(1940, 1, 1)
    assert max(births) <= dt.date(2006, 12, 31)


def test_chinese_customers_have_a_chinese_address_with_province_city_and_postcode(
    extract: Extract,
) -> None:
    for row in (r for r in extract.crm.values() if r["id_type"] == "resident_id"):
        assert CJK.search(row["province"])
        assert CJK.search(row["city"])
        assert re.fullmatch(r"\d{6}", row["postcode"])
        assert not row["address"] or CJK.search(row["address"])


def test_every_mobile_is_valid_for_phonenumbers(extract: Extract) -> None:
    mobiles = [r["mobile"] for r in extract.customers if r["mobile"]]
    assert len(mobiles) == len(extract.customers)
    for value in mobiles:
        assert phonenumbers.is_valid_number(_mobile(value)), value


def test_mobiles_come_in_every_common_spelling_and_some_are_us_numbers(
    extract: Extract,
) -> None:
    spellings = {
        "plain": r"1\d{10}",
        "dashed": r"1\d\d-\d{4}-\d{4}",
        "spaced": r"1\d\d \d{4} \d{4}",
        "international": r"\+86 1\d\d \d{4} \d{4}",
        "us_e164": r"\+1\d{10}",
    }
    seen = Counter(
        name
        for r in extract.customers
        for name, pattern in spellings.items()
        if re.fullmatch(pattern, r["mobile"])
    )
    assert set(seen) == set(spellings)
    chinese = sum(1 for r in extract.crm.values() if _mobile(r["mobile"]).country_code == 86)
    assert chinese / CUSTOMERS >= 0.9


def test_emails_are_valid_and_some_use_upper_case(extract: Extract) -> None:
    emails = [r["email"] for r in extract.customers if r["email"]]
    assert len(emails) >= 0.8 * len(extract.customers)
    assert all(_email_ok(e) for e in emails)
    assert any(e != e.lower() for e in emails)


def test_profile_columns_are_filled_with_plausible_values(extract: Extract) -> None:
    crm = list(extract.crm.values())
    incomes = [float(r["annual_income"]) for r in crm if r["annual_income"]]
    assert len(incomes) >= 0.8 * len(crm)
    assert all(0 < i < 10_000_000 for i in incomes)
    assert {r["org_unit"] for r in crm} <= {
        "SH-01", "SH-02", "BJ-01", "BJ-02", "GZ-01", "SZ-01", "HZ-01", "CD-01"
    }  # fmt: skip
    assert len({r["org_unit"] for r in crm}) >= 4
    assert sum(1 for r in crm if r["occupation"]) >= 0.8 * len(crm)
    assert sum(1 for r in crm if r["education"]) >= 0.8 * len(crm)


def test_source_ids_are_unique_opaque_keys(extract: Extract) -> None:
    keys = [(r["source_system"], r["source_id"]) for r in extract.rows["customers"]]
    assert len(keys) == len(set(keys))
    for system, source_id in keys:
        pattern = r"CRM-X?\d{6}" if system == "crm" else r"AG-[0-9a-f]{16}"
        assert re.fullmatch(pattern, source_id)


# -- the same people from two systems ---------------------------------------------------------


def test_about_ten_percent_reappear_from_agency_with_the_same_id_number(
    extract: Extract,
) -> None:
    crm_by_id = {r["id_number"].upper(): r for r in extract.crm.values()}
    copies = [r for r in extract.agency if r["id_number"]]
    assert 0.05 <= len(copies) / CUSTOMERS <= 0.15
    for copy in copies:
        original = crm_by_id[copy["id_number"].upper()]
        assert copy["source_id"] != original["source_id"]
        assert copy["id_type"] == original["id_type"]
        assert _e164(copy["mobile"]) == _e164(original["mobile"])
        if original["mobile"].startswith("+86") or not original["mobile"].startswith("+"):
            assert copy["mobile"] != original["mobile"]
        assert copy["email"].casefold() == original["email"].casefold()
        assert copy["email"] != original["email"] or not original["email"]


def test_about_two_percent_reappear_from_agency_without_id_but_with_name_and_mobile(
    extract: Extract,
) -> None:
    crm_by_name_mobile = {(r["full_name"], _e164(r["mobile"])): r for r in extract.crm.values()}
    copies = [r for r in extract.agency if not r["id_number"]]
    assert 1 <= len(copies) <= 0.05 * CUSTOMERS
    for copy in copies:
        assert copy["id_type"] == ""
        original = crm_by_name_mobile[(copy["full_name"], _e164(copy["mobile"]))]
        assert copy["mobile"] != original["mobile"]


def test_agency_rows_are_interleaved_after_their_crm_row(extract: Extract) -> None:
    """The crm row, which owns the profile, is read first; agency rows are not just appended."""
    position = {(r["source_system"], r["source_id"]): i for i, r in enumerate(extract.customers)}
    crm_at: dict[object, int] = {}
    for source_id, row in extract.crm.items():
        crm_at[row["id_number"].upper()] = position[("crm", source_id)]
        crm_at[(row["full_name"], _e164(row["mobile"]))] = position[("crm", source_id)]
    agency_at = []
    for row in extract.agency:
        key: object = row["id_number"].upper() or (row["full_name"], _e164(row["mobile"]))
        here = position[("agency", row["source_id"])]
        assert here > crm_at[key]
        agency_at.append(here)
    assert min(agency_at) < len(extract.customers) - len(agency_at)


# -- deliberately invalid rows ----------------------------------------------------------------

_IMPORTER_FIELD = {
    "bad_check_digit": "id_number",
    "impossible_id_birth_date": "id_number",
    "malformed_mobile": "mobile",
    "malformed_email": "email",
    "impossible_birth_date": "birth_date",
    "missing_full_name": "full_name",
    "missing_id_and_mobile": "id_number",
}


def test_invalid_rows_are_exactly_n_extra_rows_with_fresh_source_ids(extract: Extract) -> None:
    assert len([r for r in extract.rows["customers"] if r["source_id"].startswith("CRM-X")]) == (
        INVALID
    )
    assert all(r["source_id"] not in extract.crm for r in extract.invalid)
    assert sum(1 for r in extract.rows["customers"] if r["source_system"] == "crm") == (
        CUSTOMERS + INVALID
    )


def test_each_invalid_row_breaks_exactly_its_intended_rule(extract: Extract) -> None:
    for k, row in enumerate(extract.invalid):
        kind = INVALID_ROW_KINDS[k % len(INVALID_ROW_KINDS)]
        assert _broken_rules(row) == {kind}, (k, row["source_id"])
        with pytest.raises(RowRejected) as rejected:
            import_rows.parse_customer(row)
        assert rejected.value.fields == [_IMPORTER_FIELD[kind]], kind


def test_no_invalid_rows_are_written_unless_asked(tmp_path: Path) -> None:
    files = generate_demo_data(tmp_path, 20, seed=1)
    _, rows = _read(files.customers)
    assert all(_broken_rules(r) == set() for r in rows)
    assert not any(r["source_id"].startswith("CRM-X") for r in rows)


# -- linked records ---------------------------------------------------------------------------


def test_every_customer_has_one_to_three_policies_with_unique_numbers(extract: Extract) -> None:
    policies = extract.rows["policies"]
    assert {r["source_system"] for r in policies} == {"crm"}
    per_customer = Counter(r["customer_source_id"] for r in policies)
    assert set(per_customer) == set(extract.crm)
    assert set(per_customer.values()) <= {1, 2, 3}
    numbers = [r["policy_number"] for r in policies]
    assert len(numbers) == len(set(numbers))
    assert all(re.fullmatch(r"POL\d{12}", n) for n in numbers)


def test_policy_dates_and_amounts_are_plausible_per_product_line(extract: Extract) -> None:
    premiums: dict[str, list[float]] = defaultdict(list)
    for row in extract.rows["policies"]:
        start = dt.date.fromisoformat(row["start_date"])
        if row["end_date"]:
            assert dt.date.fromisoformat(row["end_date"]) >= start
        else:
            assert row["product_line"] == "life"
        premium, insured = float(row["annual_premium"]), float(row["sum_insured"])
        assert 0 < premium < insured
        premiums[row["product_line"]].append(premium)
    assert max(premiums["travel"]) < min(premiums["life"])


def test_claims_belong_to_a_policy_of_the_same_customer_and_are_ordered_in_time(
    extract: Extract,
) -> None:
    owner = {r["policy_number"]: r["customer_source_id"] for r in extract.rows["policies"]}
    claims = extract.rows["claims"]
    numbers = [r["claim_number"] for r in claims]
    assert len(numbers) == len(set(numbers))
    assert all(re.fullmatch(r"CLM\d{12}", n) for n in numbers)
    for row in claims:
        assert owner[row["policy_number"]] == row["customer_source_id"]
        incident = dt.date.fromisoformat(row["incident_date"])
        reported = dt.date.fromisoformat(row["reported_date"])
        assert incident <= reported
        if row["closed_date"]:
            assert dt.date.fromisoformat(row["closed_date"]) >= reported
        if row["paid_amount"]:
            assert float(row["paid_amount"]) <= float(row["claimed_amount"])


def test_about_a_quarter_of_policies_have_one_or_two_claims(extract: Extract) -> None:
    per_policy = Counter(r["policy_number"] for r in extract.rows["claims"])
    share = len(per_policy) / len(extract.rows["policies"])
    assert 0.15 <= share <= 0.35
    assert set(per_policy.values()) <= {1, 2}


def test_claim_descriptions_often_quote_pii_and_bank_cards_are_luhn_valid(
    extract: Extract,
) -> None:
    crm = extract.crm
    claims = extract.rows["claims"]
    quoting = [r for r in claims if _quotes_pii(r["description"], crm[r["customer_source_id"]])]
    assert len(quoting) >= 0.55 * len(claims)
    cards = [c for r in claims for c in _cards(r["description"], crm[r["customer_source_id"]])]
    assert cards
    for card in cards:
        digits = re.sub(r"\D", "", card)
        assert 16 <= len(digits) <= 19
        assert luhn.is_valid(digits), card
    assert any(" " in c for c in cards)
    assert any("-" in c for c in cards)


def test_interactions_cover_every_channel_and_direction_with_zero_to_five_per_customer(
    extract: Extract,
) -> None:
    interactions = extract.rows["interactions"]
    per_customer = Counter(r["customer_source_id"] for r in interactions)
    assert max(per_customer.values()) <= 5
    assert len(per_customer) < CUSTOMERS  # some customers have none
    assert {r["channel"] for r in interactions} == _documented()["interactions"]["channel"]
    assert {r["direction"] for r in interactions} == {"inbound", "outbound"}
    assert {"policy_renewal", "claim_status", "address_change"} <= {
        r["topic"] for r in interactions
    }
    assert {r["satisfaction"] for r in interactions} == {"", "1", "2", "3", "4", "5"}
    for row in interactions:
        dt.datetime.fromisoformat(row["occurred_at"])


def test_notes_are_chinese_for_chinese_customers_and_english_for_the_others(
    extract: Extract,
) -> None:
    crm = extract.crm
    for row in extract.rows["interactions"]:
        if not row["note"]:
            continue
        chinese = crm[row["customer_source_id"]]["id_type"] == "resident_id"
        assert bool(CJK.search(row["note"])) == chinese, row["note"]


def test_a_good_share_of_notes_quote_the_customers_own_pii(extract: Extract) -> None:
    crm = extract.crm
    notes = [r for r in extract.rows["interactions"] if r["note"]]
    quoting = [r for r in notes if _quotes_pii(r["note"], crm[r["customer_source_id"]])]
    assert len(quoting) >= 0.55 * len(notes)
    # a mobile quoted in a note is usually spelt differently from the customer row
    respelt = [
        r
        for r in quoting
        if str(_mobile(crm[r["customer_source_id"]]["mobile"]).national_number)
        in re.sub(r"\D", "", r["note"])
        and crm[r["customer_source_id"]]["mobile"] not in r["note"]
    ]
    assert respelt


def test_consents_use_three_purposes_and_some_grants_are_later_withdrawn(
    extract: Extract,
) -> None:
    consents = extract.rows["consents"]
    assert {r["purpose"] for r in consents} == {"service_notice", "marketing", "analytics"}
    assert {r["channel"] for r in consents} == {"sms", "email", "phone", "wechat", "app", "post"}
    history: dict[tuple[str, str, str], list[tuple[dt.datetime, str]]] = defaultdict(list)
    for row in consents:
        at = dt.datetime.fromisoformat(row["recorded_at"])
        history[(row["customer_source_id"], row["purpose"], row["channel"])].append(
            (at, row["status"])
        )
    withdrawn_after_grant = [
        key
        for key, events in history.items()
        if [s for _, s in sorted(events)]
        == [
            "granted",
            "withdrawn",
        ]
    ]
    assert withdrawn_after_grant
    assert all(sorted(events)[0][1] == "granted" for events in history.values())


# -- behaviour --------------------------------------------------------------------------------


def test_the_same_seed_writes_byte_identical_files(tmp_path: Path) -> None:
    first = generate_demo_data(tmp_path / "a", 40, seed=3, invalid_rows=7)
    second = generate_demo_data(tmp_path / "b", 40, seed=3, invalid_rows=7)
    for kind in KINDS:
        assert getattr(first, kind).read_bytes() == getattr(second, kind).read_bytes()
    assert first.counts == second.counts


def test_a_different_seed_writes_different_people(tmp_path: Path) -> None:
    first = generate_demo_data(tmp_path / "a", 40, seed=3)
    second = generate_demo_data(tmp_path / "b", 40, seed=4)
    assert first.customers.read_bytes() != second.customers.read_bytes()


def test_progress_reports_add_up_to_the_customer_count_and_nothing_is_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reported: list[int] = []
    generate_demo_data(tmp_path, 555, seed=2, invalid_rows=3, on_progress=reported.append)
    assert sum(reported) == 555
    assert len(reported) > 1
    assert all(n > 0 for n in reported)
    assert capsys.readouterr() == ("", "")


def test_zero_customers_writes_headers_only(tmp_path: Path) -> None:
    files = generate_demo_data(tmp_path, 0)
    assert files.counts == dict.fromkeys(KINDS, 0)
    header, rows = _read(files.policies)
    assert header == _documented_columns("policies")
    assert rows == []


def test_negative_sizes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="negative"):
        generate_demo_data(tmp_path, -1)
    with pytest.raises(ValueError, match="negative"):
        generate_demo_data(tmp_path, 1, invalid_rows=-1)


def test_importing_the_module_builds_no_faker_instance() -> None:
    assert not any(isinstance(value, Faker) for value in vars(demo_data).values())
