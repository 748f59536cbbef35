"""`make gpu-check`: the CUDA paths proven in one prepared command, in minutes, on any CUDA machine.

On a machine without CUDA it prints one line and exits 0. With CUDA, in order (each step timed;
a failing step is recorded and the next still runs):
1. the tests marked `cuda` (tests/gpu/): precision auto, fp16 loss scaling, channels_last,
   torch.compile, device-resident data, a checkpoint GPU -> CPU -> GPU, the memory guard, NCCL on 2+ GPUs;
2. `archkit bench train --device cuda`: archkit's engine vs a plain fp32 loop, googlenet-32 and googlenet;
3. googlenet-32 trained on digits for 10 epochs (val and test accuracy, seconds);
4. googlenet-32 trained on all of Fashion-MNIST (48,000 training images, the official 10,000 test
   images) for FASHION_EPOCHS epochs: test top-1 and seconds (skipped, and said, where the data set
   is not on the machine: `--fashion-mnist DIR` points to the four IDX files);
5. a 6-trial search of studies/demo.yaml on the GPU, with a 2-seed confirmation.
Every figure goes to one JSON file (default gpu-check.json: GPU, torch and CUDA versions, date)
and a short summary is printed. Exit status 1 if any step failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# googlenet-32 on Fashion-MNIST: a fixed recipe, so that runs on different GPUs compare.
FASHION_EPOCHS = 15
FASHION_RECIPE = {"epochs": FASHION_EPOCHS, "batch_size": 256, "lr": 0.1, "warmup_epochs": 1, "label_smoothing": 0.1}


class Skipped(Exception):
    """A step that cannot run on this machine (its data is missing): recorded with the reason, not a failure."""


def _step(name: str, results: dict, func) -> None:
    started = time.perf_counter()
    print(f"gpu-check: {name} ...", flush=True)
    try:
        results[name] = {"ok": True, **func()}
    except Skipped as exc:
        results[name] = {"ok": None, "skipped": str(exc)}
    except Exception as exc:  # noqa: BLE001 - a failed step is a result; the next step still runs
        results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}".splitlines()[0],
                         "traceback": traceback.format_exc()[-4000:]}
    results[name]["seconds"] = round(time.perf_counter() - started, 1)
    r = results[name]
    said = "ok" if r["ok"] else f"skipped: {r['skipped']}" if r["ok"] is None else f"FAILED: {r['error']}"
    print(f"gpu-check: {name}: {said} ({r['seconds']} s)", flush=True)


def cuda_tests() -> dict:
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-rs", str(ROOT / "tests" / "gpu")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]
    if done.returncode != 0:
        raise RuntimeError(f"pytest -m cuda: {tail}\n{done.stdout[-3000:]}")
    return {"summary": tail}


def bench_train() -> dict:
    from archkit.bench.train_bench import run

    result = run(["googlenet-32", "googlenet"], steps=10, warmup=3, device="cuda")
    summary = {}
    for case in result["cases"]:
        loops = case["loops"]
        summary[case["spec"]] = {"archkit_img_s": loops["archkit"]["images_per_s"],
                                 "plain_fp32_img_s": loops["plain"]["images_per_s"],
                                 "speedup_vs_plain": loops["archkit"].get("speedup_vs_plain"),
                                 "batch": case["batch"]}
    return {"summary": summary, "raw": result}


def train_digits() -> dict:
    import archkit

    result = archkit.train(archkit.load_spec("googlenet-32"), "digits", epochs=10, device="cuda", score_test=True)
    return {"val_top1": result.val_top1, "test_top1": result.test_top1, "seconds": result.seconds,
            "images_per_s": result.train_images_per_s, "precision": result.precision}


def train_fashion(folder: str | None) -> dict:
    import archkit
    from archkit.training.data import idx_folder, parse_data
    from archkit.training.errors import DataError
    from archkit.training.idx import find_files

    data = f"fashion-mnist:{folder}" if folder else "fashion-mnist"
    try:
        find_files(idx_folder(parse_data(data)), data, "FashionMNIST")
    except DataError as exc:
        raise Skipped(str(exc)) from None
    result = archkit.train(archkit.load_spec("googlenet-32"), data, device="cuda", score_test=True, **FASHION_RECIPE)
    return {"data": data, "recipe": FASHION_RECIPE, "val_top1": result.val_top1, "test_top1": result.test_top1,
            "seconds": result.seconds, "images_per_s": result.train_images_per_s, "precision": result.precision,
            "split_sizes": result.split_sizes}


def demo_search() -> dict:
    import archkit.search as search

    with tempfile.TemporaryDirectory() as tmp:
        summary = search.search(ROOT / "studies" / "demo.yaml", storage=str(Path(tmp) / "gpu.journal"),
                                study="gpu-demo", overrides={"trials": 6, "train.device": "cuda",
                                                             "final.seeds": 2, "final.device": "cuda"})
    verdict = summary.verdict or {}
    return {"finished": summary.finished, "best": summary.best, "conclusion": verdict.get("conclusion"),
            "delta": verdict.get("delta"), "ci95": verdict.get("ci95")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="gpu-check.json", help="the JSON file of every figure")
    parser.add_argument("--fashion-mnist", metavar="DIR", default=None,
                        help="the folder of Fashion-MNIST's four IDX files (default: Debian's dataset-fashion-mnist)")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 0
    import platform

    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "gpu": torch.cuda.get_device_name(0),
                     "gpus": torch.cuda.device_count(), "torch": torch.__version__, "cuda": torch.version.cuda,
                     "python": platform.python_version(), "steps": {}}
    for name, func in (("cuda tests", cuda_tests), ("bench train", bench_train), ("train digits", train_digits),
                       ("train fashion-mnist", lambda: train_fashion(args.fashion_mnist)),
                       ("demo search", demo_search)):
        _step(name, results["steps"], func)
    Path(args.output).write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    failed = [n for n, r in results["steps"].items() if r["ok"] is False]
    skipped = [n for n, r in results["steps"].items() if r["ok"] is None]
    ok = len(results["steps"]) - len(failed) - len(skipped)
    print(f"gpu-check on {results['gpu']} (torch {results['torch']}, CUDA {results['cuda']}): "
          f"{ok} of {len(results['steps'])} steps ok" + (f", {len(skipped)} skipped ({', '.join(skipped)})"
                                                         if skipped else "") + f"; wrote {args.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
