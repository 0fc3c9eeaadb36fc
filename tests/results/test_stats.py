"""nvs_eval.results.stats (issue 15) against SciPy and slow, obvious loops written here, on fixed data."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from nvs_eval.results.stats import (
    bootstrap_ci,
    dataset_values,
    holm,
    paired_test,
    pairwise,
    scene_values,
    significant,
)


def _frame(offsets: dict[str, float], noise: float = 1.0, scenes: int = 4, views: int = 12, seed: int = 0):
    """Per-view PSNR of several methods: a shared per-view difficulty plus each method's offset and noise."""
    rng = np.random.default_rng(seed)
    difficulty = {(s, v): 24 + 2 * s + rng.normal(0, 1.5) for s in range(scenes) for v in range(views)}
    rows = []
    for m, off in offsets.items():
        for (s, v), d in difficulty.items():
            rows.append({"dataset": "d", "scene": f"s{s}", "view": f"{v:03d}", "method": m,
                         "psnr": d + off + rng.normal(0, noise) if noise else d + off})
    return pd.DataFrame(rows)


def test_pooled_mse_psnr_is_the_psnr_of_the_mean_mse_by_hand():
    df = _frame({"m": 0.0})
    got = scene_values(df, "psnr", "pooled-mse").set_index("scene")["psnr"]
    for s, g in df.groupby("scene"):
        mse = np.mean([10 ** (-p / 10) for p in g["psnr"]])
        assert got[s] == pytest.approx(10 * np.log10(1 / mse), abs=1e-12)
    view_mean = scene_values(df, "psnr").set_index("scene")["psnr"]
    assert (got < view_mean).all()  # Jensen: the pooled MSE's PSNR is below the mean PSNR
    weighted = dataset_values(df.iloc[:-5], "psnr", "scene-weighted")["psnr"][0]
    assert weighted == pytest.approx(df.iloc[:-5]["psnr"].mean(), abs=1e-12)


def test_one_level_bootstrap_matches_scipy_bootstrap_percentile_interval():
    """With one scene, the two-level bootstrap is the ordinary one over views: its percentile interval agrees with
    scipy.stats.bootstrap's (different random streams: within Monte Carlo error)."""
    from scipy.stats import bootstrap

    df = _frame({"m": 0.0}, scenes=1, views=40)
    ours = bootstrap_ci(df, "psnr", resamples=20000).iloc[0]
    ref = bootstrap((df["psnr"].to_numpy(),), np.mean, n_resamples=20000, method="percentile",
                    random_state=np.random.default_rng(5)).confidence_interval
    width = ref.high - ref.low
    assert ours["value"] == pytest.approx(df["psnr"].mean(), abs=1e-12)
    assert abs(ours["lo"] - ref.low) < 0.05 * width and abs(ours["hi"] - ref.high) < 0.05 * width


def test_two_level_bootstrap_matches_a_slow_loop():
    """The vectorised resampling against an obvious loop: draw scenes, then views within each, 4000 times."""
    df = _frame({"m": 0.0}, scenes=3, views=7)
    ours = bootstrap_ci(df, "psnr", resamples=4000, seed=3).iloc[0]
    rng = np.random.default_rng(11)
    by_scene = [g["psnr"].to_numpy() for _, g in df.groupby("scene")]
    stats = []
    for _ in range(4000):
        picked = [by_scene[i] for i in rng.integers(0, len(by_scene), len(by_scene))]
        stats.append(np.mean([np.mean(v[rng.integers(0, len(v), len(v))]) for v in picked]))
    lo, hi = np.percentile(stats, [2.5, 97.5])
    assert abs(ours["lo"] - lo) < 0.06 * (hi - lo) and abs(ours["hi"] - hi) < 0.06 * (hi - lo)
    # scenes are the unit: the interval is wider than a bootstrap over the pooled views would make it
    assert ours["hi"] - ours["lo"] > 1.5 * (np.percentile([np.mean(rng.choice(df["psnr"], len(df))) for _ in range(
        2000)], 97.5) - np.percentile([np.mean(rng.choice(df["psnr"], len(df))) for _ in range(2000)], 2.5))


def test_the_same_inputs_give_the_same_intervals_and_p_values_every_time():
    df = _frame({"a": 0.05, "b": 0.0})
    first = (bootstrap_ci(df, "psnr"), paired_test(df, "psnr", "a", "b"))
    again = (bootstrap_ci(df, "psnr"), paired_test(df, "psnr", "a", "b"))
    pd.testing.assert_frame_equal(first[0], again[0])
    assert first[1] == again[1]


def test_a_tiny_constant_difference_on_every_view_is_significant_and_large_noise_is_not():
    tiny = _frame({"a": 0.01, "b": 0.0}, noise=0)  # a is better by 0.01 dB on every one of 48 views
    r = paired_test(tiny, "psnr", "a", "b")
    assert r["difference"] == pytest.approx(0.01, abs=1e-9) and r["p"] < 0.001
    assert r["lo"] == pytest.approx(0.01, abs=1e-9) and r["hi"] == pytest.approx(0.01, abs=1e-9)
    noisy = _frame({"a": 0.01, "b": 0.0}, noise=2.0, seed=4)
    r = paired_test(noisy, "psnr", "a", "b")
    assert r["p"] > 0.05 and r["lo"] < 0 < r["hi"]


def test_sign_flip_p_value_equals_exact_enumeration_written_here():
    """12 views: every one of the 4096 sign patterns, counted by hand."""
    df = _frame({"a": 0.3, "b": 0.0}, noise=0.8, scenes=2, views=6, seed=2)
    r = paired_test(df, "psnr", "a", "b")
    w = df.pivot_table(index=["scene", "view"], columns="method", values="psnr")
    d = (w["a"] - w["b"]).to_numpy()
    scenes = np.array([s for s, _ in w.index])

    def stat(x):
        return np.mean([x[scenes == s].mean() for s in sorted(set(scenes))])

    observed = stat(d)
    count = sum(abs(stat(d * np.array(signs))) >= abs(observed) - 1e-12
                for signs in itertools.product([1, -1], repeat=len(d)))
    assert r["p"] == pytest.approx(count / 2 ** len(d), abs=1e-12)
    assert r["difference"] == pytest.approx(observed, abs=1e-12)


def test_wilcoxon_agrees_on_which_comparisons_are_significant():
    """SciPy's Wilcoxon signed-rank test (another paired test) reaches the same verdicts on these data."""
    from scipy.stats import wilcoxon

    for offsets, noise, seed in (({"a": 0.4, "b": 0.0}, 0.5, 1), ({"a": 0.0, "b": 0.0}, 1.0, 2)):
        df = _frame(offsets, noise=noise, seed=seed)
        w = df.pivot_table(index=["scene", "view"], columns="method", values="psnr")
        ours = paired_test(df, "psnr", "a", "b")["p"] < 0.05
        assert ours == (wilcoxon(w["a"], w["b"]).pvalue < 0.05)


def test_holm_matches_the_step_down_definition():
    p = [0.001, 0.04, 0.03, 0.2, 0.011]
    order = sorted(range(len(p)), key=lambda i: p[i])
    expected, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1, (len(p) - rank) * p[i]))
        expected[i] = running
    assert holm(p) == pytest.approx(expected)
    table = pairwise(_frame({"a": 0.3, "b": 0.0, "c": 0.05}, noise=0.5), "psnr")
    assert list(zip(table["a"], table["b"])) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert (table["p_holm"] >= table["p"]).all()


def test_a_verdict_printed_beside_an_interval_never_contradicts_it():
    """The statistics page shades a pair (and the published comparison leaves out its dagger) by ``p_boot``; on
    data where the sign-flip test (scenes fixed) rejects while the scenes disagree, the interval includes 0 and
    ``p_boot`` does not reject. Over many random cases, ``p_boot < 0.05`` implies the 95% interval excludes 0."""
    rng = np.random.default_rng(7)
    rows = []
    for s, shift in enumerate((1.5, 0.9, -0.1, -0.2)):  # two scenes gain a lot, two lose a little
        for v in range(12):
            base = 25 + rng.normal(0, 1)
            rows += [{"dataset": "d", "scene": f"s{s}", "view": f"{v:03d}", "method": "a",
                      "psnr": base + shift + rng.normal(0, 0.05)},
                     {"dataset": "d", "scene": f"s{s}", "view": f"{v:03d}", "method": "b", "psnr": base}]
    r = pairwise(pd.DataFrame(rows), "psnr", resamples=2000).iloc[0]
    assert r.p_holm < 0.01 and r.lo < 0 < r.hi and r.p_boot_holm >= 0.05
    assert not significant(r.p_boot_holm, r.p_holm, 0.05)
    # the other way: three views that all favour a: every bootstrap draw is positive, no sign-flip test of three
    # views reaches 0.05, and the verdict is "not significant"
    tiny = pd.DataFrame([{"dataset": "d", "scene": "s", "view": str(v), "method": m, "psnr": 25 + v + d}
                         for v in range(3) for m, d in (("a", 0.5 + 0.1 * v), ("b", 0.0))])
    t = pairwise(tiny, "psnr", resamples=2000).iloc[0]
    assert t.lo > 0 and t.p_boot < 0.01 and t.p == 0.25 and not significant(t.p_boot_holm, t.p_holm, 0.05)
    checked = rejected = 0
    for seed in range(40):
        df = _frame({"a": rng.uniform(0, 0.6), "b": 0.0}, noise=rng.uniform(0.2, 1.5), scenes=int(rng.integers(1, 6)),
                    views=int(rng.integers(2, 15)), seed=seed)
        t = pairwise(df, "psnr", resamples=int(rng.integers(200, 3000)), seed=seed).iloc[0]
        assert 0 < t.p_boot <= 1 and t.p_boot_holm >= t.p_boot
        if t.p_boot < 0.05:
            rejected += 1
            assert not (t.lo <= 0 <= t.hi), (seed, t.lo, t.hi, t.p_boot)
        checked += 1
    assert checked == 40 and 5 < rejected < 40  # both verdicts occur


def test_bootstrap_p_counts_the_draws_beyond_zero():
    from nvs_eval.results.stats import bootstrap_p

    boot = np.array([-0.2, 0.1, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])  # one of nine at or below 0
    assert bootstrap_p(boot) == pytest.approx(2 * 2 / 10)
    assert bootstrap_p(-boot) == bootstrap_p(boot) and bootstrap_p(np.full(99, 1.0)) == pytest.approx(0.02)


def test_comparisons_over_different_view_sets_are_refused_or_explicit():
    from nvs_eval.errors import UsageError

    df = _frame({"a": 0.1, "b": 0.0}, scenes=4)
    seven = df[~((df["method"] == "b") & (df["scene"] == "s3"))]  # b scored on 3 scenes, a on 4
    with pytest.raises(UsageError, match="not scored on the same views \\(scenes: 4 for a, 3 for b"):
        paired_test(seven, "psnr", "a", "b")
    r = paired_test(seven, "psnr", "a", "b", allow_different_sets=True)
    assert r["scenes"] == 3 and "compared on the 36 views both were scored on" in r["note"]


def test_config_runs_expand_into_one_stored_method_per_run(tmp_path):
    from nvs_eval.config import load_config
    from nvs_eval.errors import ConfigError

    from helpers import folder

    for run in ("s0", "s1"):
        folder(tmp_path / "r" / run / "a", ["0.png"])
    folder(tmp_path / "gt" / "a", ["0.png"])
    head = "name: t\ndatasets:\n  - name: d\n    kind: pairs\n    gt: gt/{scene}\n    scenes: [a]\n    methods:\n"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(head + "      - {name: m, path: 'r/{run}/{scene}', runs: [s0, s1]}\n")
    assert [m.key for m in load_config(cfg).datasets[0].methods] == ["m#run=s0", "m#run=s1"]
    cfg.write_text(head + "      - {name: m, runs: {x: 'r/s0/{scene}', y: 'r/s1/{scene}'}}\n")
    assert [m.key for m in load_config(cfg).datasets[0].methods] == ["m#run=x", "m#run=y"]
    cfg.write_text(head + "      - {name: m, path: 'r/s0/{scene}', runs: [s0, s1]}\n")
    with pytest.raises(ConfigError, match=r"methods\[0\].path.*must contain \{run\}"):
        load_config(cfg)
    cfg.write_text(head + "      - {name: m, path: 'r/{run}/{scene}', runs: [s0, s9]}\n")
    with pytest.raises(ConfigError, match=r"methods\[0\].runs \(s9\).*does not exist"):
        load_config(cfg)


def test_score_takes_several_runs_of_a_method_and_prints_mean_and_std(tmp_path):
    import json

    from helpers import cli, folder

    folder(tmp_path / "gt", ["0.png", "1.png"])
    for k in range(3):
        folder(tmp_path / "runs" / f"seed{k}", ["0.png", "1.png"], seed=10 * k + 3)
    out = tmp_path / "s.json"
    r = cli("score", f"mine={tmp_path}/runs/seed*", "--gt", str(tmp_path / "gt"), "--metrics", "psnr",
            "--json", str(out), "--device", "cpu")
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert {v["method"] for v in doc["views"]} == {"mine#run=seed0", "mine#run=seed1", "mine#run=seed2"}
    run_means = [np.mean([v["psnr"] for v in doc["views"] if v["method"] == f"mine#run=seed{k}"])
                 for k in range(3)]
    assert doc["runs"]["mine"]["psnr"]["mean"] == pytest.approx(np.mean(run_means), abs=1e-9)
    assert doc["runs"]["mine"]["psnr"]["std"] == pytest.approx(np.std(run_means, ddof=1), abs=1e-9)
    assert "mine over 3 runs (mean ± sample std of the run means): psnr" in r.stdout


def test_pairwise_shares_one_bootstrap_and_gives_each_pairs_own_interval():
    """pairwise() draws the resamples once for all methods; the difference of two methods' resampled means is the
    resampled mean of their differences, so every pair's interval equals paired_test's, which draws its own."""
    df = _frame({"a": 0.2, "b": 0.0, "c": 0.1}, noise=0.5)
    table = pairwise(df, "psnr")
    for r in table.itertuples():
        own = paired_test(df, "psnr", r.a, r.b)
        assert (r.lo, r.hi, r.p, r.difference) == pytest.approx((own["lo"], own["hi"], own["p"],
                                                                 own["difference"]), abs=1e-9)


def test_a_report_draws_each_columns_bootstrap_once_for_the_tables_and_the_stats_page(monkeypatch, tmp_path):
    """The summary tables' † and stats.html's matrices read the same two-level bootstrap of the same per-view data:
    it is drawn once per metric, and a changed value draws anew."""
    import nvs_eval.results.stats as stats
    from nvs_eval.report.stats_page import stats_context
    from nvs_eval.report.table import build_tables

    drawn = []

    class Kept(dict):  # the shared bootstraps drawn (a draw is kept at once)
        def __setitem__(self, key, boot):
            drawn.append(boot.shape)
            super().__setitem__(key, boot)

    monkeypatch.setattr(stats, "_SHARED", Kept())
    df = _frame({"a": 0.2, "b": 0.0, "c": 0.1}, noise=0.5).assign(ssim=lambda d: d["psnr"] / 40)
    tables = build_tables(df, "nvs-eval", ["psnr", "ssim"])
    assert len(drawn) == 2  # one per column, every pair served by it
    stats_context(tmp_path, df, ["psnr", "ssim"], "view-mean")
    again = build_tables(df, "nvs-eval", ["psnr", "ssim"])
    assert len(drawn) == 2 and [[c.tied for c in r] for r in again[0].cells] == [[c.tied for c in r]
                                                                                 for r in tables[0].cells]
    build_tables(df.assign(psnr=df["psnr"].where(df.index != 0, df["psnr"] + 1)), "nvs-eval", ["psnr"])
    assert len(drawn) == 3


def test_aggregation_from_the_config_reaches_captions_and_exports_and_different_sets_are_named(tmp_path):
    from helpers import bench, cli

    cfg = bench(tmp_path, views=4, metrics="psnr")
    cfg.write_text("aggregation: pooled-mse\n" + cfg.read_text())
    (tmp_path / "r" / "m2" / "s1" / "003.png").unlink()  # m2 misses one view
    cfg.write_text(cfg.read_text().replace("    scenes: [s1]\n", "    scenes: [s1]\n    allow_missing: true\n"))
    r = cli("evaluate", str(cfg), "--out", str(tmp_path / "o"), "--device", "cpu")
    assert r.returncode == 0, r.stderr
    summary = pd.read_csv(tmp_path / "o" / "summary.csv")
    assert set(summary["aggregation"]) == {"pooled-mse"}
    per_view = pd.read_csv(tmp_path / "o" / "per_view.csv")
    m1 = per_view[per_view["method"] == "m1"]["psnr"]
    pooled = 10 * np.log10(1 / np.mean(10 ** (-m1 / 10)))
    assert summary.set_index("method").loc["m1", "psnr"] == pytest.approx(pooled, abs=1e-9)
    md = (tmp_path / "o" / "report" / "tables.md").read_text()
    assert "Aggregation pooled-mse" in md
    assert "Not tested against the best (scored on other views" in md  # 2 methods: the other one differs
    r = cli("report", "--results", str(tmp_path / "o"), "--out", str(tmp_path / "rep"), "--no-figures",
            "--format", "md", "--allow-different-sets")
    assert r.returncode == 0, r.stderr
    assert "Tested on the views shared with the best only" in (tmp_path / "rep" / "tables.md").read_text()
