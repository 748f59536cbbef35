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
5. a 6-trial search of studies/demo.yaml on the GPU, with a 2-seed confirmation;
6. training memory: `archkit.profile.train_profile`'s predicted peak of one training step (bf16,
   SGD with momentum, channels-last, CUDA rules) against `torch.cuda.max_memory_allocated` over two
   real steps, for four built-ins at three batch sizes each: the error per case (the allocator's
   rounding and cuDNN's workspaces are not in the model: this step measures them).
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


# spec: batch sizes (the 224/299 networks at smaller batches)
MEMORY_CASES = {"googlenet-32": (32, 128, 512), "googlenet": (8, 16, 32), "bn-inception": (8, 16, 32),
                "inception-v3": (8, 16, 32)}


def train_memory() -> dict:
    import torch

    import archkit
    from archkit.builder import build
    from archkit.profile.training import train_profile
    from archkit.training.engine import training_loss
    from archkit.training.fastops import accelerate
    from archkit.training.precision import autocast

    device, cases = torch.device("cuda"), []
    for name, batches in MEMORY_CASES.items():
        spec = archkit.load_spec(name)
        for batch in batches:
            predicted = train_profile(spec, batch, "bf16", device="cuda").peak_bytes
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            model = build(spec)
            accelerate(model)  # the trainer's LRN, in place
            model = model.to(device, memory_format=torch.channels_last)
            model.train()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            x = torch.randn(batch, spec.input.channels, *spec.input.hw, device=device)
            x = x.contiguous(memory_format=torch.channels_last)
            y = torch.randint(0, spec.classes, (batch,), device=device)
            for _ in range(2):  # the second step holds the momentum buffers the first made
                optimizer.zero_grad(set_to_none=True)
                with autocast(device, "bf16"):
                    loss, _ = training_loss(model(x), y, model.aux_weights)
                loss.backward()
                optimizer.step()
            torch.cuda.synchronize()
            measured = torch.cuda.max_memory_allocated()
            cases.append({"spec": name, "batch": batch, "predicted": predicted, "measured": measured,
                          "error": (predicted - measured) / measured})
            del model, optimizer, x, y, loss
    errors = [abs(c["error"]) for c in cases]
    return {"cases": cases, "mean_abs_error": sum(errors) / len(errors), "worst_abs_error": max(errors)}


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
                       ("demo search", demo_search), ("train memory", train_memory)):
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
