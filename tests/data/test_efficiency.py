"""Efficiency figures: each reader on files written the way its tool writes them, the store, ``score --json``,
the tables and the report (docs/efficiency.md)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from nvs_eval.conventions.figures import FIGURES
from nvs_eval.data.efficiency import (
    Figure,
    gsplat_figures,
    nerfbaselines_figures,
    ns_eval_figures,
    ply_vertex_count,
    read_figure_table,
)
from nvs_eval.data.layouts import load_layout
from nvs_eval.errors import ConfigError, EfficiencyError
from nvs_eval.results.efficiency import json_rows, summarize
from nvs_eval.results.store import ResultsStore

from helpers import cli

# --- fixtures written as the tools write them --------------------------------------------------------------------

# gaussian-splatting scene/gaussian_model.py construct_list_of_attributes: x y z nx ny nz, f_dc_0..2,
# f_rest_0..44 (SH degree 3), opacity, scale_0..2, rot_0..3: 62 float properties
PROPS = (["x", "y", "z", "nx", "ny", "nz"] + [f"f_dc_{i}" for i in range(3)] + [f"f_rest_{i}" for i in range(45)]
         + ["opacity"] + [f"scale_{i}" for i in range(3)] + [f"rot_{i}" for i in range(4)])


def write_3dgs_ply(path, n: int, seed: int = 0) -> None:
    """``PlyData([PlyElement.describe(elements, 'vertex')]).write(path)`` as plyfile writes it: an ASCII header
    (``ply``, ``format binary_little_endian 1.0``, ``element vertex N``, one ``property float`` per attribute,
    ``end_header``), then the little-endian float32 rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ("ply\nformat binary_little_endian 1.0\n" + f"element vertex {n}\n"
              + "".join(f"property float {p}\n" for p in PROPS) + "end_header\n")
    rows = np.random.default_rng(seed).normal(size=(n, len(PROPS))).astype("<f4")
    path.write_bytes(header.encode("ascii") + rows.tobytes())


def _canvas_views(n=3, h=24, w=32, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
            for _ in range(n)]


def make_3dgs_model(root, n_gaussians=5000, iteration=30000):
    """A 3DGS model folder: render.py's test/ours_<it>/{renders,gt} and train.py's point_cloud/iteration_<it>."""
    d = root / "test" / f"ours_{iteration}"
    for i, (gt, render) in enumerate(_canvas_views()):
        (d / "gt").mkdir(parents=True, exist_ok=True)
        (d / "renders").mkdir(parents=True, exist_ok=True)
        Image.fromarray(gt).save(d / "gt" / f"{i:05d}.png")
        Image.fromarray(render).save(d / "renders" / f"{i:05d}.png")
    write_3dgs_ply(root / "point_cloud" / f"iteration_{iteration}" / "point_cloud.ply", n_gaussians)
    return root


def make_gsplat_result(root, step=29999, num_gs=123456, render_s=0.0061, train_s=1234.5, mem=3.25, seed=0,
                       train=True, ckpt=True, scene="garden"):
    """A gsplat simple_trainer.py result folder (examples/simple_trainer.py at 90d7b4b): renders/val_step{step}_
    {i:04d}.png canvases (line 1244), stats/val_step{step:04d}.json (``json.dump(stats, f)``, line 1295, stats
    holding the means, ``ellipse_time`` and ``num_GS``), stats/train_step{step:04d}_rank0.json (lines 1042-1052:
    ``mem``, ``ellipse_time``, ``num_GS``) and ckpts/ckpt_{step}_rank0.pt (``torch.save(data, ...)``, line 1071)."""
    (root / "renders").mkdir(parents=True)
    (root / "stats").mkdir()
    (root / "ckpts").mkdir()
    (root / "cfg.yml").write_text(f"data_dir: data/360_v2/{scene}\ndata_factor: 4\nlpips_net: alex\n")
    for i, (gt, render) in enumerate(_canvas_views(seed=seed)):
        Image.fromarray(np.concatenate([gt, render], axis=1)).save(root / "renders" / f"val_step{step}_{i:04d}.png")
    with open(root / "stats" / f"val_step{step:04d}.json", "w") as f:
        json.dump({"psnr": 25.1, "ssim": 0.8, "lpips": 0.2, "ellipse_time": render_s, "num_GS": num_gs}, f)
    if train:
        with open(root / "stats" / f"train_step{step:04d}_rank0.json", "w") as f:
            json.dump({"mem": mem, "ellipse_time": train_s, "num_GS": num_gs}, f)
    if ckpt:
        torch.save({"step": step, "splats": {"means": torch.zeros(num_gs // 1000, 3)}},
                   root / "ckpts" / f"ckpt_{step}_rank0.pt")
    return root


def write_ns_eval_output(path, fps=12.5, fps_std=1.5):
    """ns-eval's output.json (nerfstudio scripts/eval.py lines 53-60: ``json.dumps(benchmark_info, indent=2)``)."""
    results = {"psnr": 25.0, "psnr_std": 1.0, "num_rays_per_sec": fps * 640 * 480,
               "num_rays_per_sec_std": fps_std * 640 * 480, "fps": fps, "fps_std": fps_std}
    path.write_text(json.dumps({"experiment_name": "garden", "method_name": "nerfacto",
                                "checkpoint": "outputs/garden/nerfacto/step-000029999.ckpt", "results": results},
                               indent=2), "utf8")
    return path


def write_nerfbaselines_results(path, seconds=2345.678, gpu_mb=8123):
    """NerfBaselines results-{step}.json: ``nb_info`` from io.new_nb_info (lines 357-370)."""
    path.write_text(json.dumps({"metrics": {"psnr": 27.1}, "nb_info": {
        "method": "gaussian-splatting", "num_iterations": 30000, "total_train_time": seconds,
        "resources_utilization": {"memory": 20000, "gpu_memory": gpu_mb, "gpu_name": "NVIDIA A100-SXM4-40GB"}}}))
    return path


# --- the readers ---------------------------------------------------------------------------------------------


def test_ply_vertex_count_is_the_3dgs_header_count(tmp_path):
    p = tmp_path / "point_cloud.ply"
    write_3dgs_ply(p, 777)
    assert ply_vertex_count(p) == 777


def test_a_truncated_ply_is_an_error_naming_the_file(tmp_path):
    p = tmp_path / "point_cloud.ply"
    write_3dgs_ply(p, 100)
    p.write_bytes(p.read_bytes()[:-10])  # a save killed before the last row
    with pytest.raises(EfficiencyError, match=r"point_cloud.ply: .* header describes 100 vertices"):
        ply_vertex_count(p)
    p.write_bytes(b"not a ply file")
    with pytest.raises(EfficiencyError, match="not a PLY header"):
        ply_vertex_count(p)


def test_3dgs_model_folder_gives_the_ply_count_and_size(tmp_path):
    model = make_3dgs_model(tmp_path / "garden", n_gaussians=5000)
    (scene,) = load_layout(model)
    figs = {f.figure: f for f in scene.efficiency["garden"]}
    ply = model / "point_cloud" / "iteration_30000" / "point_cloud.ply"
    assert figs["num_gaussians"].value == 5000
    assert figs["model_bytes"].value == ply.stat().st_size
    assert figs["model_bytes"].source == str(ply) and len(figs["model_bytes"].sha256) == 64


def test_a_mip_splatting_model_folder_gives_the_ply_count_and_size(tmp_path):
    """Mip-Splatting (a 3DGS fork) saves the same ``point_cloud/iteration_<N>/point_cloud.ply`` beside its
    ``test/ours_<N>/test_preds_<r>`` renders."""
    d = tmp_path / "lego" / "test" / "ours_30000"
    for sub in ("gt_1", "test_preds_1"):
        (d / sub).mkdir(parents=True)
        Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(d / sub / "00000.png")
    write_3dgs_ply(tmp_path / "lego" / "point_cloud" / "iteration_30000" / "point_cloud.ply", 777)
    (scene,) = load_layout(tmp_path / "lego", layout="mip-splatting")
    figs = {f.figure: f.value for f in scene.efficiency["lego"]}
    assert figs["num_gaussians"] == 777 and figs["model_bytes"] > 777 * 62 * 4


def test_3dgs_model_without_its_ply_says_so(tmp_path):
    model = make_3dgs_model(tmp_path / "garden")
    (model / "point_cloud" / "iteration_30000" / "point_cloud.ply").unlink()
    (scene,) = load_layout(model)
    assert scene.efficiency["garden"] == []
    assert any("iteration_30000/point_cloud.ply: absent: num_gaussians and model_bytes not read" in n
               for n in scene.notes)


def test_gsplat_result_gives_num_gs_render_time_training_time_memory_and_size(tmp_path):
    result = make_gsplat_result(tmp_path / "run")
    figs = {f.figure: f for f in gsplat_figures(result, 29999)[0]}
    assert figs["num_gaussians"].value == 123456
    assert figs["render_ms"].value == pytest.approx(6.1)
    assert figs["train_seconds"].value == 1234.5 and figs["train_memory_gb"].value == 3.25
    assert figs["model_bytes"].value == (result / "ckpts" / "ckpt_29999_rank0.pt").stat().st_size
    assert figs["render_ms"].source.endswith("stats/val_step29999.json")
    assert figs["train_seconds"].source.endswith("stats/train_step29999_rank0.json")
    assert "fps" not in figs  # derived, never read


def test_gsplat_missing_or_broken_stats_are_named_never_silent(tmp_path):
    result = make_gsplat_result(tmp_path / "run", train=False, ckpt=False)
    (result / "stats" / "val_step29999.json").write_text('{"psnr": 25.5, "ellipse_')  # killed mid-write
    figs, notes = gsplat_figures(result, 29999)
    assert figs == []
    text = "\n".join(notes)
    assert "val_step29999.json: not readable as JSON" in text and "num_gaussians and render_ms not read" in text
    assert "train_step29999_rank0.json: absent: train_seconds and train_memory_gb not read" in text
    assert "ckpt_29999_rank0.pt: absent: model_bytes not read" in text
    (result / "stats" / "val_step29999.json").write_text('{"num_GS": "many", "ellipse_time": 0.01}')
    figs, notes = gsplat_figures(result, 29999)
    assert any("num_GS is 'many', not a finite number" in n for n in notes)


def test_gsplat_compressed_output_is_the_model_size(tmp_path):
    result = make_gsplat_result(tmp_path / "run")
    comp = result / "compression" / "rank0"
    comp.mkdir(parents=True)
    (comp / "meta.json").write_text("{}")  # png_compression.py line 125
    (comp / "means_l.png").write_bytes(b"\x89PNG" + bytes(1000))  # lines 263-266
    figs = {f.figure: f for f in gsplat_figures(result, 29999)[0]}
    assert figs["model_bytes"].value == 2 + 1004 and "compression ran" in figs["model_bytes"].detail


def test_ns_eval_fps_is_kept_as_the_mean_of_per_frame_fps_never_as_fps(tmp_path):
    out = write_ns_eval_output(tmp_path / "output.json", fps=12.5, fps_std=1.5)
    (fig,), notes = ns_eval_figures(out)
    assert notes == [] and fig.figure == "mean_frame_fps" and fig.value == 12.5
    assert "± 1.5" in fig.detail and "num_rays_per_sec" in fig.detail
    rows = json_rows(pd.DataFrame([{"dataset": "d", "scene": "s", "method": "m", "run": "", **fig.row()}]))
    assert [r["figure"] for r in rows] == ["mean_frame_fps"]  # no fps, no render_ms invented from it


def test_ns_eval_output_beside_the_renders_reaches_the_scene(tmp_path):
    run = tmp_path / "nerfacto"
    for i, (gt, render) in enumerate(_canvas_views()):
        (run / "test" / "rgb").mkdir(parents=True, exist_ok=True)
        (run / "test" / "gt-rgb").mkdir(parents=True, exist_ok=True)
        Image.fromarray(gt).save(run / "test" / "gt-rgb" / f"{i:05d}.png")
        Image.fromarray(render).save(run / "test" / "rgb" / f"{i:05d}.png")
    write_ns_eval_output(run / "output.json")
    (scene,) = load_layout(run)
    assert [f.figure for f in scene.efficiency["nerfacto"]] == ["mean_frame_fps"]


def test_nerfbaselines_results_give_training_time_and_memory(tmp_path):
    res = write_nerfbaselines_results(tmp_path / "results-30000.json", seconds=2345.678, gpu_mb=8192)
    figs = {f.figure: f for f in nerfbaselines_figures(res)[0]}
    assert figs["train_seconds"].value == 2345.678
    assert figs["train_memory_gb"].value == 8.0  # MB / 1024, as NerfBaselines' format_memory prints GB
    assert "A100" in figs["train_memory_gb"].detail
    res.write_text(json.dumps({"nb_info": {"total_train_time": None}}))
    figs, notes = nerfbaselines_figures(res)
    assert figs == [] and "total_train_time is None, not a finite number" in notes[0]


def test_nerfbaselines_predictions_find_their_results_file(tmp_path):
    out = tmp_path / "garden"
    pred = out / "predictions-30000"
    for i, (gt, render) in enumerate(_canvas_views()):
        (pred / "color").mkdir(parents=True, exist_ok=True)
        (pred / "gt-color").mkdir(parents=True, exist_ok=True)
        Image.fromarray(gt).save(pred / "gt-color" / f"{i:05d}.png")
        Image.fromarray(render).save(pred / "color" / f"{i:05d}.png")
    write_nerfbaselines_results(out / "results-30000.json")
    (scene,) = load_layout(pred)
    assert {f.figure for f in next(iter(scene.efficiency.values()))} == {"train_seconds", "train_memory_gb"}


def test_figure_csv_converts_units_and_names_bad_rows(tmp_path):
    p = tmp_path / "eff.csv"
    p.write_text("method,scene,figure,value,unit,source\nzip,garden,train_seconds,1.5,h,paper Table 3\n"
                 "zip,garden,render_ms,0.1,s,log line 88\n")
    figs = {f.figure: f for f in read_figure_table(p)[("zip", "garden")]}
    assert figs["train_seconds"].value == 5400 and figs["render_ms"].value == pytest.approx(100)
    assert "paper Table 3" in figs["train_seconds"].detail
    p.write_text("method,scene,figure,value,unit,source\nzip,garden,fps,30,1/s,paper\n")
    with pytest.raises(EfficiencyError, match=r"eff.csv: line 2: figure 'fps'.*derived from render_ms"):
        read_figure_table(p)
    p.write_text("method,scene,figure,value,unit,source\nzip,garden,train_seconds,1,fortnight,paper\n")
    with pytest.raises(EfficiencyError, match=r"line 2: unit 'fortnight'"):
        read_figure_table(p)
    p.write_text("method,scene,value\n")
    with pytest.raises(EfficiencyError, match="expected the columns method,scene,figure,value,unit,source"):
        read_figure_table(p)


# --- aggregation ---------------------------------------------------------------------------------------------


def _eff(rows):
    return pd.DataFrame([{"dataset": "d", "source": "x/stats.json", "detail": "", **r} for r in rows])


def test_fps_is_1000_over_the_mean_render_time_never_the_mean_of_fps():
    eff = _eff([{"scene": "a", "method": "m", "run": "", "figure": "render_ms", "value": 2.0},
                {"scene": "b", "method": "m", "run": "", "figure": "render_ms", "value": 18.0}])
    s = summarize(eff, "d", ["a", "b"])
    assert s.values[("m", "render_ms")] == 10.0
    assert s.values[("m", "fps")] == 100.0  # the mean of per-scene FPS would be (500 + 55.6) / 2 = 277.8


def test_runs_give_a_spread_and_a_missing_scene_gives_no_dataset_value():
    eff = _eff([{"scene": sc, "method": "m", "run": r, "figure": "num_gaussians", "value": v}
                for sc, r, v in (("a", "s0", 1e6), ("a", "s1", 3e6), ("b", "s0", 2e6), ("b", "s1", 2e6))]
               + [{"scene": "a", "method": "m", "run": "s0", "figure": "train_seconds", "value": 60.0}])
    s = summarize(eff, "d", ["a", "b"])
    assert s.values[("m", "num_gaussians")] == 2e6
    assert s.spreads[("m", "num_gaussians")] == pytest.approx(np.std([1.5e6, 2.5e6], ddof=1))
    assert math.isnan(s.values[("m", "train_seconds")])
    assert s.missing[("m", "train_seconds")] == ["a", "b"]  # run s1 lacks it on both


# --- the store -----------------------------------------------------------------------------------------------


def test_store_keeps_unchanged_figures_and_moves_replaced_ones_to_history(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        f1 = Figure("num_gaussians", 10.0, "a/stats.json", "sha1", "num_GS 10")
        assert store.put_efficiency("d", "s", "m#run=seed0", [f1]) == 1
        assert store.put_efficiency("d", "s", "m#run=seed0", [f1]) == 0  # reused, not rewritten
        f2 = Figure("num_gaussians", 12.0, "a/stats.json", "sha2", "num_GS 12")
        assert store.put_efficiency("d", "s", "m#run=seed0", [f2]) == 1
        eff, hist = store.efficiency(), store.efficiency_history()
    assert eff[["method", "run", "value", "source_sha256"]].values.tolist() == [["m", "seed0", 12.0, "sha2"]]
    assert hist[["value", "source_sha256"]].values.tolist() == [[10.0, "sha1"]]


# --- every output --------------------------------------------------------------------------------------------


def test_score_json_has_the_gsplat_figures_with_their_sources(tmp_path):
    result = make_gsplat_result(tmp_path / "run")
    out = tmp_path / "s.json"
    r = cli("score", str(result), "--metrics", "psnr", "--device", "cpu", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "efficiency (the tool's own measurement on its own GPU" in r.stdout
    assert "#G (M) 0.12" in r.stdout and "FPS 164" in r.stdout
    rows = {x["figure"]: x for x in json.loads(out.read_text())["efficiency"]}
    assert set(rows) == {"num_gaussians", "render_ms", "fps", "train_seconds", "train_memory_gb", "model_bytes"}
    assert rows["fps"]["value"] == pytest.approx(1000 / 6.1) and rows["fps"]["source"].endswith("val_step29999.json")
    assert set(rows["num_gaussians"]) >= {"method", "scene", "run", "figure", "value", "source"}
    r = cli("score", str(result), "--metrics", "psnr", "--device", "cpu", "--json", str(out), "--force",
            "--efficiency", "none")
    assert r.returncode == 0 and "efficiency" not in json.loads(out.read_text())


def _bench(tmp_path):
    """Two methods x two scenes of gsplat results; the second method has two runs and no training stats on one
    scene."""
    cfg = tmp_path / "b.yaml"
    for sc in ("garden", "bicycle"):
        make_gsplat_result(tmp_path / "a" / sc, num_gs=1_000_000, render_s=0.005, train_s=600, seed=1, scene=sc)
        for i, run in enumerate(("s0", "s1")):
            make_gsplat_result(tmp_path / "b" / run / sc, num_gs=2_000_000 + i * 200_000, render_s=0.010,
                               train_s=1200, seed=2 + i, train=not (sc == "bicycle" and run == "s1"), scene=sc)
    cfg.write_text("name: t\nprotocol: gsplat\nmetrics: [psnr]\ndatasets:\n  - name: d\n    kind: gsplat\n"
                   "    scenes: [garden, bicycle]\n    methods:\n      - {name: small, path: 'a/{scene}'}\n"
                   "      - {name: big, path: 'b/{run}/{scene}', runs: [s0, s1]}\n")
    return cfg


def test_report_tables_show_efficiency_columns_with_units_arrows_and_footnotes(tmp_path):
    cfg = _bench(tmp_path)
    r = cli("evaluate", str(cfg), "--out", str(tmp_path / "res"), "--device", "cpu")
    assert r.returncode == 0, r.stderr
    r = cli("report", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "rep"), "--no-figures",
            "--significance", "0")
    assert r.returncode == 0, r.stderr
    md = (tmp_path / "rep" / "tables.md").read_text()
    head = next(line for line in md.splitlines() if line.startswith("| Method"))
    assert head.index("PSNR") < head.index("#G (M) ↓") < head.index("FPS ↑") < head.index("Train (min) ↓")
    big = next(line for line in md.splitlines() if line.startswith("| big"))
    small = next(line for line in md.splitlines() if line.startswith("| small"))
    assert "2.10 ± 0.14" in big and "**1.00**" in small  # M Gaussians, ± over runs; fewer is better
    assert "**200**" in small and "| 100 ± 0 |" in big  # FPS = 1000 / mean render ms; more is better
    assert "| -- | -- |" in big  # training time and memory missing for one run on one scene
    assert "Train (min): big (bicycle)" in md  # the missing figure: "--" and the scene named
    assert "the training tool's own measurement on its own GPU" in md and "val\\_step29999.json" in md
    tex = (tmp_path / "rep" / "tables.tex").read_text()
    assert r"\#G (M) $\downarrow$" in tex and r"FPS $\uparrow$" in tex
    csv = "".join(p.read_text() for p in (tmp_path / "rep" / "csv").glob("d-summary*.csv"))
    assert "FPS (fps)" in csv and "#G (M) (num_gaussians)" in csv
    html = (tmp_path / "rep" / "index.html").read_text()
    assert "Efficiency figures and their sources" in html and "train_step29999_rank0.json" in html
    r = cli("report", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "rep"), "--no-figures",
            "--efficiency", "none", "--format", "md")
    assert r.returncode == 0 and "#G (M)" not in (tmp_path / "rep" / "tables.md").read_text()


def test_config_efficiency_csv_must_exist(tmp_path):
    cfg = _bench(tmp_path)
    cfg.write_text(cfg.read_text().replace("kind: gsplat\n", "kind: gsplat\n    efficiency: nope.csv\n"))
    from nvs_eval.config import load_config

    with pytest.raises(ConfigError, match=r"datasets\[0\].efficiency: .*nope.csv is not a file"):
        load_config(cfg)


def test_registry_units_cover_every_read_figure():
    from nvs_eval.data.efficiency import UNITS

    assert set(UNITS) == set(FIGURES) - {"fps"}


def test_a_figures_csv_reaches_the_runs_it_names_and_an_unknown_method_is_named(tmp_path):
    from nvs_eval.api import add_figure_table
    from nvs_eval.data.scene import Scene

    scene = Scene("d", "garden", {}, {"zip#run=s0": {}, "zip#run=s1": {}, "other": {}})
    p = tmp_path / "eff.csv"
    p.write_text("method,scene,figure,value,unit,source\nzip,garden,train_memory_gb,20,GB,paper Table 2\n")
    add_figure_table([scene], read_figure_table(p))
    assert [f.value for f in scene.efficiency["zip#run=s0"]] == [20.0] == [f.value for f in
                                                                            scene.efficiency["zip#run=s1"]]
    assert "other" not in scene.efficiency
    p.write_text("method,scene,figure,value,unit,source\nnope,garden,train_memory_gb,20,GB,paper\n")
    with pytest.raises(EfficiencyError, match=r"eff.csv: a row names nope on garden, which was not scored"):
        add_figure_table([scene], read_figure_table(p))


def test_survey_format_writes_the_survey_csvs_and_names_every_condition_not_met(tmp_path):
    cfg = _bench(tmp_path)
    assert cli("evaluate", str(cfg), "--out", str(tmp_path / "res"), "--device", "cpu", "--no-report").returncode == 0
    r = cli("report", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "rep"), "--format", "survey")
    assert r.returncode == 0, r.stderr
    csv = (tmp_path / "rep" / "survey" / "small" / "d" / "garden.csv").read_text().splitlines()
    assert csv[0] == "Submethod,PSNR,SSIM,LPIPS,Size [Bytes],#Gaussians"
    cells = csv[1].split(",")
    assert cells[0] == "small" and cells[3] == "" and cells[5] == "1000000"  # no lpips_vgg scored: empty, named
    assert int(cells[4]) == (tmp_path / "a" / "garden" / "ckpts" / "ckpt_29999_rank0.pt").stat().st_size
    readme = (tmp_path / "rep" / "survey" / "README.md").read_text()
    for needle in ("protocol gsplat, not 3dgs", "dataset d: not one of the survey's", "d/garden: not checked",
                   "small on d/garden: no LPIPS (lpips_vgg)"):
        assert needle in readme and needle in r.stdout


def test_report_with_baselines_shows_nerfbaselines_published_training_time_and_memory(tmp_path):
    """Issue 32 item 5: --baselines rows carry the published Train and Mem columns (NerfBaselines' own measurement
    on its GPU, the caption says, with the page and commit), never ranked against the user's methods."""
    cfg = _bench(tmp_path)
    r = cli("evaluate", str(cfg), "--out", str(tmp_path / "res"), "--device", "cpu", "--no-report")
    assert r.returncode == 0, r.stderr
    r = cli("report", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "rep"), "--no-figures",
            "--significance", "0", "--format", "md", "--baselines", "mipnerf360:d")
    assert r.returncode == 0, r.stderr
    md = (tmp_path / "rep" / "tables.md").read_text()
    head = next(line for line in md.splitlines() if line.startswith("| Method"))
    cols = [c.strip() for c in head.strip("|").split("|")]
    gs = next(line for line in md.splitlines() if line.startswith("| *3DGS (NerfBaselines)*"))
    cells = [c.strip() for c in gs.strip("|").split("|")]
    # garden 28m 58s and bicycle 28m 25s: (1738 + 1705) / 2 s = 28.7 min; 14.75 and 14.90 GB: 14.82 or .83
    assert cells[cols.index("Train (min) ↓")] == "*28.7*"
    assert cells[cols.index("Mem (GB) ↓")] in ("*14.82*", "*14.83*")
    paper = next(line for line in md.splitlines() if line.startswith("| *3DGS (paper)*"))
    assert [c.strip() for c in paper.strip("|").split("|")][cols.index("Train (min) ↓")] == "--"
    assert "NerfBaselines' own measurement on its GPU" in md
    assert "mipnerf360.html @ e1c9749ad6c21db05c4398405f7799b354a38390" in md
