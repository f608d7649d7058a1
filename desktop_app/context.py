"""What every page shares: the engine facade, the job runner, settings, the open project and the data choice."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from desktop_app.facade import EngineFacade
from desktop_app.jobs import BackgroundCalls, JobRunner
from desktop_app.project import Project, StudioState
from desktop_app.settings import StudioSettings


class StudioContext(QObject):
    workspace_changed = Signal(object)  # Workspace or None: another project was opened (pages reset from disk)
    data_changed = Signal(dict)  # the Data page's values
    workspace_updated = Signal()  # a job wrote new files into the workspace
    go_to_page = Signal(str)

    def __init__(self, facade: EngineFacade, jobs: JobRunner, settings: StudioSettings, parent=None) -> None:
        super().__init__(parent)
        self.facade, self.jobs, self.settings = facade, jobs, settings
        self.calls = BackgroundCalls(self)  # quick computations such as the pruning preview
        self.state = StudioState(facade)  # the open project as plain data (desktop_app/project.py, no Qt)
        # Connected first, so every page that redraws after a job reads the snapshot of what the job wrote.
        self.workspace_updated.connect(self.state.refresh)
        self.data_values: dict = {"dataset": "mnist-5k"}

    @property
    def workspace(self):
        return self.state.workspace

    @property
    def project(self) -> Project | None:
        return self.state.project

    def set_workspace(self, ws) -> None:
        self.state.open(ws)
        self.workspace_changed.emit(ws)

    def set_data(self, values: dict) -> None:
        self.data_values = dict(values)
        self.data_changed.emit(self.data_values)
