"""'Import a generator…': your own trained model (a .py file, its class, arguments and state dict, optionally its
discriminator) as a new project's trained model. The dialog says plainly that importing runs the file's code.

The class lists are read from the file's syntax tree, which runs nothing; the import itself runs as a job.
"""

from __future__ import annotations

import json

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_app.errors import error_box

NO_DISCRIMINATOR = "(none: fine-tune against a new one)"
WARNING = ("<b>Importing runs the Python code in this file.</b> Import only files you trust: the file can do "
           "anything a program you start can do.")


class ImportGeneratorDialog(QDialog):
    def __init__(self, facade, parent=None) -> None:
        super().__init__(parent)
        self.facade = facade
        self.setWindowTitle("Import a generator")
        self.setObjectName("importDialog")
        self.setMinimumWidth(620)
        self.last_error = None
        self._build_fields()
        warning = QLabel(WARNING)
        warning.setObjectName("importWarning")
        warning.setWordWrap(True)
        warning.setStyleSheet("QLabel { background: #fdecea; color: #8a1c1c; padding: 8px; border-radius: 4px; }")
        form = QFormLayout()
        form.addRow("Python file", self._with_browse(self.file, self._browse_file))
        form.addRow("Generator class", self.class_name)
        form.addRow("Arguments (JSON)", self.args)
        form.addRow("Weights", self._with_browse(self.weights, lambda: self._browse_pt(self.weights)))
        form.addRow("Discriminator class", self.d_class)
        form.addRow("Discriminator weights", self._with_browse(self.d_weights, lambda: self._browse_pt(self.d_weights)))
        form.addRow("Data set", self.dataset)
        form.addRow("Latent size", self.latent_dim)
        form.addRow("Project folder", self._with_browse(self.folder, self._browse_folder))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.import_button = buttons.addButton("Import (runs the file)", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(warning)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self._fill_classes()

    def _build_fields(self) -> None:
        """The file, class, arguments, weights, data set, latent size and project folder inputs."""
        self.file = QLineEdit()
        self.file.setPlaceholderText("the .py file that defines your generator class")
        self.file.editingFinished.connect(self._fill_classes)
        self.class_name = QComboBox()
        self.class_name.setEditable(True)
        self.class_name.setToolTip("The generator's nn.Module class.")
        self.args = QLineEdit("{}")
        self.args.setToolTip("Its constructor's keyword arguments as JSON, e.g. {\"nz\": 100, \"ngf\": 64}.")
        self.weights = QLineEdit()
        self.weights.setPlaceholderText("G.pt, saved with torch.save(G.state_dict(), PATH)")
        self.d_class = QComboBox()
        self.d_class.setEditable(True)
        self.d_class.setToolTip("Its discriminator's class, if you have one; else fine-tuning trains a new one.")
        self.d_weights = QLineEdit()
        self.d_weights.setPlaceholderText("D.pt (only with a discriminator class)")
        self.dataset = QComboBox()
        self.dataset.setEditable(True)
        self.dataset.addItems([s["name"] for s in self.facade.data_sources() if not s["takes_path"]])
        self.dataset.setToolTip("The images it was trained on (or folder:PATH): fine-tuning and evaluation use them.")
        self.latent_dim = QSpinBox()
        self.latent_dim.setRange(0, 4096)
        self.latent_dim.setSpecialValueText("read from the model")
        self.latent_dim.setToolTip("Latent size; 'read from the model' takes its latent_dim / nz / z_dim attribute "
                                   "or its first layer's input.")
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("a new or empty folder for the project")

    @staticmethod
    def _with_browse(edit: QLineEdit, browse) -> QWidget:
        row = QWidget()
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(edit, 1)
        b = QPushButton("Browse…")
        b.clicked.connect(browse)
        h.addWidget(b)
        return row

    def _browse_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Your model's Python file", "", "Python files (*.py)")
        if path:
            self.file.setText(path)
            self._fill_classes()

    def _browse_pt(self, edit: QLineEdit) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "A state dict", "", "PyTorch weights (*.pt *.pth);;All (*)")
        if path:
            edit.setText(path)

    def _browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "A folder for the new project")
        if path:
            self.folder.setText(path)

    def _fill_classes(self) -> None:
        """Offer the file's classes (read without running it); guess G and D by their names."""
        names = self.facade.classes_in(self.file.text()) if self.file.text().strip() else []
        typed_g, typed_d = self.class_name.currentText(), self.d_class.currentText()
        self.class_name.clear()
        self.class_name.addItems(names)
        self.d_class.clear()
        self.d_class.addItems([NO_DISCRIMINATOR, *names])
        gen = [n for n in names if "gen" in n.lower()]
        disc = [n for n in names if "disc" in n.lower() or "critic" in n.lower()]
        self.class_name.setCurrentText(typed_g if typed_g and not names else (gen or names or [""])[0])
        self.d_class.setCurrentText(typed_d if typed_d and not names else (disc or [NO_DISCRIMINATOR])[0])

    def values(self) -> dict:
        """The ImportConfig fields; raises ValueError with one sentence for what the dialog itself can check."""
        file, weights, folder = self.file.text().strip(), self.weights.text().strip(), self.folder.text().strip()
        for value, what in ((file, "the Python file"), (self.class_name.currentText().strip(), "the generator class"),
                            (weights, "its weights"), (folder, "a project folder")):
            if not value:
                raise ValueError(f"Choose {what}.")
        try:
            args = json.loads(self.args.text() or "{}")
        except json.JSONDecodeError as e:
            raise ValueError(f"The arguments are not valid JSON ({e.msg}); write e.g. {{\"nz\": 100}}.") from None
        if not isinstance(args, dict):
            raise ValueError("The arguments must be a JSON object of keyword arguments, e.g. {\"nz\": 100}.")
        d_class = self.d_class.currentText().strip()
        with_d = bool(d_class) and d_class != NO_DISCRIMINATOR
        if with_d and not self.d_weights.text().strip():
            raise ValueError(f"Choose the weights of the discriminator {d_class}, or pick '{NO_DISCRIMINATOR}'.")
        return {"generator": file, "class_name": self.class_name.currentText().strip(), "args": args,
                "weights": weights, "dataset": self.dataset.currentText().strip() or "mnist-5k",
                "latent_dim": self.latent_dim.value() or None,
                "discriminator_class": d_class if with_d else None,
                "discriminator_weights": self.d_weights.text().strip() if with_d else None,
                "folder": folder}

    def accept(self) -> None:
        try:
            self.values()
        except ValueError as e:
            self.last_error = error_box(self, "Import a generator", str(e))
            return
        super().accept()
