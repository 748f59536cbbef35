"""What a run shows while it trains: a rich progress bar (epoch, loss, accuracy, img/s, ETA) and one
line per epoch on stderr. `Quiet` shows nothing (the search, non-main processes)."""

from __future__ import annotations


class Quiet:
    def start(self, total_steps: int, done: int) -> None: ...

    def update(self, step: int, epoch: int, loss: float, accuracy: float, images_per_s: float) -> None: ...

    def epoch_end(self, entry: dict, epochs: int | None) -> None: ...

    def note(self, text: str) -> None: ...

    def close(self) -> None: ...


class RichProgress(Quiet):
    def __init__(self):
        from rich.console import Console

        self.console = Console(stderr=True)
        self.progress = None
        self.task = None

    def start(self, total_steps: int, done: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.3f}  acc {task.fields[acc]:.3f}  {task.fields[ips]:.0f} img/s"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.task = self.progress.add_task("train", total=total_steps, completed=done, epoch=1, loss=float("nan"),
                                           acc=0.0, ips=0.0)
        self.progress.start()

    def update(self, step: int, epoch: int, loss: float, accuracy: float, images_per_s: float) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=step, epoch=epoch + 1, loss=loss, acc=accuracy,
                                 ips=images_per_s)

    def epoch_end(self, entry: dict, epochs: int | None) -> None:
        of = f"/{epochs}" if epochs else ""
        val = f"val top-1 {entry['val_top1']:.4f}  top-5 {entry['val_top5']:.4f}  " if "val_top1" in entry else ""
        self.console.print(
            f"epoch {entry['epoch']}{of}  loss {entry['train_loss']:.4f}  train top-1 {entry['train_top1']:.4f}  "
            f"{val}{entry['images_per_s']:.0f} img/s  {entry['seconds']:.0f}s", highlight=False, soft_wrap=True)

    def note(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
