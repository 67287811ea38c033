"""CAMs of the slice on screen for :class:`ichviewer.ui.ai_controller.AIController`: one
computation at a time (the latest request wins), the last few kept in an LRU. CAMs are not
in the result cache: they are large and recomputed in a few milliseconds to a second."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ichviewer.ui.ai_worker import CamDone, cam_job
from ichviewer.ui.workers import Job, JobError

if TYPE_CHECKING:
    from ichviewer.ai.results import SliceResult
    from ichviewer.ui.ai_controller import AIController

#: CAMs kept (each is 6 x H x W float32: 6 MB for a 512 x 512 slice).
CAM_LRU_SIZE = 6


class CamMixin:
    """Part of AIController: its ``_cams``, ``_cam_*`` attributes and ``cam_ready`` signal."""

    def cam(self: AIController, index: int) -> SliceResult | None:
        """The slice's result with CAMs, if computed recently."""
        res = self._cams.get(index)
        if res is not None:
            self._cams.move_to_end(index)
        return res

    def request_cam(self: AIController, index: int) -> None:
        """Compute the CAMs of slice ``index`` (the one on screen); one at a time, the
        latest request wins."""
        self._cam_wanted = index
        if (
            index in self._cams
            or self.predictor is None
            or self.reader is None
            or self._cam_running is not None
        ):
            return
        self._cam_running = index
        self._cam_rid = rid = self._next_id()
        job = Job(rid, cam_job, self.predictor, self.reader, index)
        job.signals.returned.connect(self._on_cam_returned)
        job.signals.errored.connect(self._on_cam_errored)
        job.signals.finished.connect(self._on_finished)
        self._jobs[rid] = job
        self._pool.start(job.run)

    def _on_cam_returned(self: AIController, rid: int, done: CamDone) -> None:
        if rid != self._cam_rid:
            self.stale_dropped += 1
            return
        self._cam_running = None
        self._cams[done.index] = done.result
        while len(self._cams) > CAM_LRU_SIZE:
            self._cams.popitem(last=False)
        self.cam_ready.emit(done.index)
        if self._cam_wanted is not None and self._cam_wanted not in self._cams:
            self.request_cam(self._cam_wanted)

    def _on_cam_errored(self: AIController, rid: int, err: JobError) -> None:
        if rid == self._cam_rid:
            self._cam_running = None
            self.scoring_failed.emit(f"heatmap: {err.message}")
