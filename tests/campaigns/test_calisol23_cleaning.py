"""CALiSol-23 cleaning: every documented problem is fixed, counted, and cleaning is idempotent."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from campaigns.errors import CampaignError
from scripts.calisol23_cleaning import (
    CalisolFormatError,
    clean_calisol23,
    load_clean_calisol23,
    solvent_columns,
    source_offsets,
)

REPO = Path(__file__).resolve().parents[2]
RAW_PATH = REPO.parent / "shared" / "datasets" / "calisol23" / "calisol23.csv"
BAD_SOURCE = "10.1007/s10008-002-0300-9"

pytestmark = pytest.mark.skipif(not RAW_PATH.is_file(), reason="raw CALiSol-23 copy not present")


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(RAW_PATH)


@pytest.fixture(scope="module")
def cleaned(raw):
    return clean_calisol23(raw)


@pytest.fixture(scope="module")
def steps(cleaned):
    return {s.name: s for s in cleaned[1]}


def test_negative_zero_and_missing_conductivities_are_gone(raw, cleaned, steps):
    clean, _ = cleaned
    k = clean["ionic_conductivity_ms_per_cm"]
    assert k.notna().all() and (k > 0).all()
    assert steps["drop_missing_conductivity"].rows_affected == int(raw["k"].isna().sum()) == 523
    nonpositive = steps["drop_nonpositive_conductivity"]
    assert nonpositive.details["negative"] == int((raw["k"] < 0).sum()) == 27
    assert nonpositive.details["zero"] == int((raw["k"] == 0).sum()) == 5
    assert nonpositive.rows_affected == 32
    # One row with c < 0 (digitisation noise) survives the k filters and is dropped next.
    assert steps["drop_nonpositive_concentration"].rows_affected == 1
    assert (clean["c"] > 0).all()
    assert len(clean) == len(raw) - 523 - 32 - 1


def test_the_misscaled_source_is_found_by_data_and_multiplied_by_100(raw, cleaned, steps):
    clean, _ = cleaned
    rescaled = steps["rescale_misscaled_sources"].details["rescaled"]
    assert list(rescaled) == [BAD_SOURCE]
    assert rescaled[BAD_SOURCE]["factor"] == 100.0
    assert rescaled[BAD_SOURCE]["offset_decades"] < -1.5
    before = raw.loc[raw["doi"] == BAD_SOURCE, "k"].to_numpy()
    after = clean.loc[clean["doi"] == BAD_SOURCE].sort_values("source_row")
    np.testing.assert_allclose(after["ionic_conductivity_ms_per_cm"], before * 100.0)
    assert after["flags"].str.contains("k_rescaled_x100").all()
    # 1 mol/kg LiPF6 in EC/DMC/DEC near 25 °C is about 10-11 mS/cm in the literature.
    room = after[(after["salt"] == "LiPF6") & after["temperature_c"].between(15, 35)]
    assert room["ionic_conductivity_ms_per_cm"].between(8.0, 14.0).all()


def test_no_source_is_left_decades_off(cleaned):
    offsets = source_offsets(cleaned[0])
    assert offsets.min() > -1.5 and offsets.max() < 1.5


def test_suspect_source_is_flagged_not_changed(raw, cleaned, steps):
    clean, _ = cleaned
    flagged = steps["flag_suspect_sources"].details["flagged"]
    for doi in flagged:
        rows = clean[clean["doi"] == doi].sort_values("source_row")
        assert rows["flags"].str.contains("suspect_scale").all()
        original = raw.loc[rows["source_row"], "k"].to_numpy()
        np.testing.assert_array_equal(rows["ionic_conductivity_ms_per_cm"], original)


def test_salt_synonyms_are_unified(raw, cleaned, steps):
    clean, _ = cleaned
    salts = set(clean["salt"])
    assert "LiN(CF3SO2)2" not in salts and "LiTFSI" in salts
    assert all(s == s.strip() for s in salts)
    assert steps["unify_salt_synonyms"].details["renamed"] == {"LiN(CF3SO2)2 -> LiTFSI": 90}
    raw_tfsi = raw["salt"].str.strip().isin(["LiTFSI", "LiN(CF3SO2)2"]) & (raw["k"] > 0)
    assert (clean["salt"] == "LiTFSI").sum() == raw_tfsi.sum()
    assert (clean["salt"] == "LiBPFPB").sum() == (raw["salt"].str.strip() == "LiBPFPB").sum()


def test_concentration_basis_is_explicit_and_no_density_is_invented(cleaned):
    clean, _ = cleaned
    assert set(clean["c_unit"]) == {"mol/kg", "mol/L"}
    molal = clean["c_unit"] == "mol/kg"
    assert (clean.loc[molal, "c_basis"] == "molality").all()
    assert (clean.loc[~molal, "c_basis"] == "molarity").all()
    np.testing.assert_array_equal(clean.loc[molal, "salt_molality_mol_per_kg"],
                                  clean.loc[molal, "c"])
    assert clean.loc[~molal, "salt_molality_mol_per_kg"].isna().all()


def test_solvent_fractions_sum_to_one_with_a_basis(cleaned, steps):
    clean, _ = cleaned
    solvents = solvent_columns(clean)
    np.testing.assert_allclose(clean[solvents].sum(axis=1), 1.0, atol=1e-12)
    assert set(clean["solvent_basis"]) == {"w", "v", "m"}
    assert {"ec_frac", "pc_frac", "dmc_frac", "emc_frac", "dec_frac", "dme_frac",
            "diglyme_frac"} <= set(solvents)
    assert "FEC" in solvents and "2-Glyme" not in solvents
    assert steps["normalize_solvent_fractions"].rows_affected > 0


def test_units_are_in_the_names(cleaned):
    clean, _ = cleaned
    np.testing.assert_allclose(clean["temperature_c"], clean["temperature_k"] - 273.15, atol=1e-6)
    assert clean["source_row"].is_unique


def test_cleaning_is_idempotent(cleaned):
    clean, _ = cleaned
    again, steps = clean_calisol23(clean)
    pd.testing.assert_frame_equal(again, clean)
    assert all(s.rows_affected == 0 for s in steps), [(s.name, s.rows_affected) for s in steps]


def test_script_writes_csv_notice_and_log_reproducibly(tmp_path, cleaned):
    spec = importlib.util.spec_from_file_location("clean_script", REPO / "scripts" /
                                                  "clean_calisol23.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--raw", str(RAW_PATH), "--out", str(tmp_path)]) == 0
    csv = tmp_path / "calisol23_clean.csv"
    assert csv.stat().st_size < 3_000_000
    written = pd.read_csv(csv)
    np.testing.assert_allclose(written["ionic_conductivity_ms_per_cm"],
                               cleaned[0]["ionic_conductivity_ms_per_cm"], rtol=1e-9)
    notice = (tmp_path / "NOTICE.md").read_text()
    assert "10.1038/s41597-024-03575-8" in notice and "CC BY 4.0" in notice
    for step in cleaned[1]:
        assert step.name in notice
    assert f"doi:{BAD_SOURCE} x100" in notice
    log = json.loads((tmp_path / "cleaning_log.json").read_text())
    assert [s["name"] for s in log["steps"]] == [s.name for s in cleaned[1]]
    # The shipped copy is exactly what the script produces today.
    shipped = REPO / "campaigns" / "shared_dataset" / "data" / "calisol23"
    assert (shipped / "calisol23_clean.csv").read_bytes() == csv.read_bytes()
    assert (shipped / "NOTICE.md").read_text() == notice
    # Re-cleaning the written file changes nothing.
    written["flags"] = written["flags"].fillna("")
    _, again = clean_calisol23(written)
    assert all(s.rows_affected == 0 for s in again)


def test_shipped_clean_file_loads(cleaned):
    shipped = load_clean_calisol23()
    assert len(shipped) == len(cleaned[0])
    assert shipped["flags"].map(type).eq(str).all()


def test_not_calisol_is_rejected_with_every_problem():
    frame = pd.DataFrame({"doi": ["x"], "k": ["high"], "salt": ["LiPF6"]})
    with pytest.raises(CalisolFormatError) as info:
        clean_calisol23(frame)
    message = str(info.value)
    assert isinstance(info.value, CampaignError) and info.value.hint
    for part in ('"c" is missing', '"temperature_k" is missing', "no solvent-fraction columns",
                 '"ionic_conductivity_ms_per_cm" is not numeric'):
        assert part in message
