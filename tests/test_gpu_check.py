"""`scripts/gpu_check.py --cpu` (`make gpu-check CPU=1`) runs every check of the GPU check on a CPU without the packages the
GPU image lacks, and reports each one in gpu_check.json and BENCHMARKS.md's GPU section (it never checks speed)."""
import json, os, subprocess, sys

import pytest
from conftest import REPO

CHECKS = ["fine_tune_fp16_accum2_ema", "predict_tta4", "kill_resume_fp16_ema", "swin_one_batch", "vit_one_batch", "torchrun_1proc",
          "bf16_train", "epoch_photos_480x640", "epoch_small_300x300", "steps_precision_channels_last", "recipe_work_convnext_small",
          "compile_steps"]
ABSENT = ("kaggle", "kagglesdk", "fastkaggle", "spacy")  # not on the device tool's GPU image, and not carried there as wheels


@pytest.mark.slow
def test_cpu_rehearsal_reports_every_check(tmp_path):
    from paddy.models.precision import cpu_has_native_bf16
    for name in ABSENT:  # importing one of them fails, as on the GPU image
        (tmp_path / "absent" / name).mkdir(parents=True)
        (tmp_path / "absent" / name / "__init__.py").write_text(f"raise ImportError('{name} is not on the GPU image')\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "BENCHMARKS.md").write_text("# paddy benchmarks\n\nCPU figures.\n\n## GPU\n\nstale figures\n\n## Notes\n\n- kept\n")
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "gpu_check.py"), "--cpu", "--out", str(out)], cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=str(tmp_path / "absent")), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    result = json.loads((out / "gpu_check.json").read_text())
    checks, native_bf16 = result["checks"], cpu_has_native_bf16()
    assert list(checks) == CHECKS
    for name, check in checks.items():
        if name == "bf16_train" and not native_bf16: assert check["status"] == "skipped" and "bf16" in check["reason"]
        else: assert check["ok"] and check["status"] == "ok", (name, check)
    resume = checks["kill_resume_fp16_ema"]
    assert resume["killed_after_epochs"] >= 1 and len(resume["valid_loss_resumed"]) == len(resume["valid_loss_full"]) == 3
    assert checks["torchrun_1proc"]["backend"] == "gloo" and checks["predict_tta4"]["rows"] == 4
    work = checks["recipe_work_convnext_small"]
    assert all(0 <= work[side]["stall_share"] < 1 and work[side]["epoch_s"] > 0 for side in ("fastai", "paddy"))
    assert checks["compile_steps"]["graphs"] >= 1 and checks["compile_steps"]["backend"] == "eager"  # the rehearsal's tracing backend
    ratios = {"epoch 480x640, 2 workers: fastai's recipe / paddy", "epoch 300x300, 2 workers: fastai's recipe / paddy",
              "test_resnet fp32: channels_last / contiguous", "recipe's work, whole epoch: fastai's recipe / paddy (medians)"} | ({"test_resnet: bf16 / fp32"} if native_bf16 else set())
    assert ratios <= set(result["ratios"]) and all(v > 0 for v in result["ratios"].values())

    report = (out / "BENCHMARKS.md").read_text()  # the GPU section replaced in place, the rest of the file kept
    assert report.startswith("# paddy benchmarks\n\nCPU figures.\n\n## GPU\n") and report.rstrip().endswith("## Notes\n\n- kept")
    assert report.count("## GPU") == 1 and "stale figures" not in report and "`python scripts/gpu_check.py --cpu`" in report
    assert all(f"| {name} | ok |" in report for name in CHECKS if name != "bf16_train" or native_bf16)
    assert "### The recipe's real work: test_convnext" in report
