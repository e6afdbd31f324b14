"""The small mutable state the loop and a recipe share during training."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainState:
    """Where training stands. Saved in every checkpoint; nothing here is a tensor.

    step:          optimizer steps completed (the checkpoint after step N holds step=N).
    data_position: batches drawn from the training sampler so far (resume skips that many).
    best:          best validation scalars seen, by name (lower is better for every tracked metric).
    seconds:       wall-clock seconds of training so far, summed over every session (the loop adds
                   this session's time before each checkpoint); what "in all" reports after a resume.
    sessions:      training sessions (runs of the command) that reached a checkpoint, this one included.
    rank / world_size: this process's place in a distributed run (0 / 1 when alone).
    """

    step: int = 0
    data_position: int = 0
    best: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    sessions: int = 0
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Only the main process writes files, logs and TensorBoard."""
        return self.rank == 0

    def state_dict(self) -> dict:
        return {"step": self.step, "data_position": self.data_position, "best": dict(self.best),
                "seconds": float(self.seconds), "sessions": int(self.sessions)}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
        self.data_position = int(state["data_position"])
        self.best = {str(k): float(v) for k, v in state.get("best", {}).items()}
        # Checkpoints written before time was tracked hold neither: their time is unknown, not zero.
        self.seconds = float(state.get("seconds", float("nan")))
        self.sessions = int(state.get("sessions", 1))
