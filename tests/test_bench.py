"""`scripts/bench.py --quick` runs every measurement and writes BENCHMARKS.md and bench.json (never checks speed)."""
import json, subprocess, sys

import pytest
from conftest import REPO

KEYS = ["fastai_default_ips", "paddy_default_ips", "paddy_nocache_ips", "decode_limit_ips", "decode_originals_ips",  # (a)
        "learner_ips", "loop_ips", "loop_channels_last_ips",                                 # (b)
        "matrix_fp32_s", "matrix_fp32_compiled_s", "matrix_fp32_cl_s", "best_vs_fp32", "compile_vs_eager",  # (c)
        "compile_overhead_fp32_s", "compile_vs_eager_fp32", "auto_precision", "second_fp32_s", "second_fp32_cl_s",
        "auto_rule", "auto_table", "auto_agrees", "cpu_class",
        "accuracy_fp32_accs", "accuracy_fp32_compiled_accs", "accuracy_fp32_curves", "compile_loss_gap",  # (h)
        "plain_pass_s", "five_plain_passes_s", "tta4_s", "demo_plain_acc", "demo_tta_acc",   # (d)
        "fastai_tta4_s", "demo_fastai_tta_acc", "demo_fast_True_acc", "demo_fast_False_acc",
        "rss_128_tree_mb", "rss_512_tree_mb", "rss_128_mb", "rss_512_child_mb", "rss_growth",  # (e)
        "cache_1_ips", "cache_efficiency",                                                   # (f)
        "epoch_photos_fastai_s", "epoch_photos_paddy_fp32_s", "epoch_photos_vs_paddy_fp32",  # (g)
        "epoch_small_fastai_s", "epoch_small_vs_paddy_fp32", "epoch_paddy_precisions",
        "epoch_fastai_precision", "epoch_paddy_auto_precision",
        "machine", "targets"]


@pytest.mark.slow
def test_quick_bench_writes_report_and_json(tmp_path, demo_assets):
    (tmp_path / "BENCHMARKS.md").write_text("# old figures\n\n## GPU\n\nfigures from a GPU run\n")  # scripts/gpu_check.py's section
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "bench.py"), "--quick", "--out", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "bench.json").read_text())
    assert [k for k in KEYS if k not in result] == []
    assert set(result["targets"]) == {"data_vs_fastai", "data_vs_decode", "learner_vs_loop", "best_vs_fp32", "compile_vs_eager", "tta_cost", "rss_growth"}
    assert all(set(t) == {"value", "goal", "met"} for t in result["targets"].values())
    assert 0 <= result["demo_tta_acc"] <= 1 and result["rss_128_tree_mb"] > result["rss_128_child_mb"] > 0  # the workers counted too
    assert set(result["matrix"]) >= {"matrix_fp32", "matrix_fp32_cl", "matrix_fp32_compiled", "matrix_fp32_cl_compiled"}
    assert all(0 <= a <= 1 for p in result["accuracy_configs"] for a in result[f"accuracy_{p}_accs"])
    report = (tmp_path / "BENCHMARKS.md").read_text()
    assert "| target | measured | goal | met |" in report and "python scripts/bench.py --quick" in report
    assert "## Headline: a whole training epoch" in report and "# old figures" not in report
    assert report.count("## GPU") == 1 and report.rstrip().endswith("## GPU\n\nfigures from a GPU run")  # kept as it was
    assert result["epoch_paddy_auto_precision"] == "fp32"  # on a CPU
    assert all(result[f"epoch_{kind}_paddy_{p}_s"] > 0 for kind in ("photos", "small") for p in result["epoch_paddy_precisions"])
    assert not (tmp_path / "cache").exists()  # scratch work stays in the temporary folder
